"""DQN Arcade's reinforcement-learning core: environments, agents, replay, the run loop, saves.

Never imports PySide6: a headless training run uses exactly this package.
"""
