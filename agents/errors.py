"""Errors a user can cause. Each carries a one-line message meant to be shown as is."""


class ArcadeError(Exception):
    """Base of every error that is the user's input, not a bug: printed as one line, no traceback."""


class UnknownEnvError(ArcadeError):
    """An environment id that names no gridworld map, map file or ALE game."""


class MapError(ArcadeError):
    """A gridworld map file that cannot be read or parsed (message names file, line and reason)."""


class ConfigError(ArcadeError):
    """An unknown config field or a value of the wrong type (message lists the valid fields)."""


class CheckpointError(ArcadeError):
    """A save file that is missing, corrupt, truncated, foreign or from a future version."""
