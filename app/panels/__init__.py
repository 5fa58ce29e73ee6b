"""Dock panels that look inside the agent."""
