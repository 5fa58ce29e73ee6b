"""How the window names what runs: its title, the agent's label, and why a window's Atari agent learns sooner."""

from __future__ import annotations

from pathlib import Path

from app.training_loop import WINDOW_ATARI_OVERRIDES, SessionInfo

AGENT_CHOICES: tuple[tuple[str, str | None, str], ...] = (
    ("dqn", "attention", "DQN · attention"),
    ("dqn", "cnn", "DQN · CNN"),
    ("dqn", "mlp", "DQN · MLP"),
    ("qlearning", None, "Tabular Q-learning"),
)
"""(agent kind, network, label) of every agent the window offers."""
ATARI_TOOLTIP = ("Atari agents in the window use a {buffer} replay buffer (Nature: 1M) and start learning"
                 " after {starts} steps (Nature: 50,000), so learning begins within a minute of watching.\n"
                 "Train headless (dqn-arcade train) for the paper's settings.")


def atari_tooltip() -> str:
    """Why a window's Atari agent learns sooner than the paper's, with the numbers the worker really uses."""
    values = dict(item.split("=", 1) for item in WINDOW_ATARI_OVERRIDES)
    return ATARI_TOOLTIP.format(buffer=f"{int(values['buffer_size']):,}",
                                starts=f"{int(values['learning_starts']):,}")


def agent_label(info: SessionInfo) -> str:
    """"DQN · MLP", "Tabular Q-learning"; the agent kind itself for one the window does not offer."""
    return next((label for kind, network, label in AGENT_CHOICES
                 if kind == info.agent_kind and (network == info.network or kind == "qlearning")),
                info.agent_kind)


def session_title(info: SessionInfo) -> str:
    """"maze_mlp.dqn[*] — DQN Arcade — Maze — DQN · MLP", as desktop programs name their document; Qt shows
    the [*] as "*" while the window is marked modified (training not saved)."""
    source = info.save_path or info.opened_from
    name = Path(source).name if source else "Untitled"
    if info.watched:
        name += " (watching, read-only)"  # a training run's latest save: the run writes it, the window never does
    elif source and not info.save_path:
        name += " (read-only)"  # a shipped agent or another library's model: Save asks for a new file
    return f"{name}[*] — DQN Arcade — {info.description.name} — {agent_label(info)}"
