"""DQN Arcade's desktop window and command line."""
