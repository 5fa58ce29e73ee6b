"""Environments: the project's gridworlds and ALE Atari games behind one id scheme."""
