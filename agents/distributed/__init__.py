"""Training past one process: many environment actors and one learner (Ape-X, Horgan et al. 2018), on Ray."""
