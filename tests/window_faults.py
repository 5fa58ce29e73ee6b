"""Faults for the window tests to inject into the training process (the loop runs in a child process, so a
monkeypatch in the test process would not reach it). Each function here is a `child_setup`: the child calls it
before its loop starts."""

from __future__ import annotations

import os

from agents.dqn import DQNAgent


def break_observe_while(flag_path: str) -> None:
    """DQNAgent.observe raises while the file `flag_path` exists: a bug inside the loop, switched from outside."""
    original = DQNAgent.observe

    def observe(self, transition):
        if os.path.exists(flag_path):
            raise RuntimeError("boom in the update\nsecond line")
        return original(self, transition)

    DQNAgent.observe = observe
