"""What the window starts with: the environment, the agent and the speed, from the command line, the last
launch, or (on a first launch) the choices that show a person learning within a minute.

A first launch opens four-rooms with the MLP Q-network at Fast speed: the MLP learns four-rooms in a median
5,000 steps (benchmarks/learning.py --seeds 10, README "Learning"), which Fast speed reaches in well under a
minute while the view still shows about 30 steps a second; at Normal speed (8 steps/s) with the attention
network, no update happened in the first two minutes. Later launches come back as the person left them, an
Atari game with the settings last chosen for it in the window (`remembered_game`).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings

from agents.envs.atari import resolve_game_options
from agents.envs.game_options import GameOptions, parse_game_options
from agents.envs.registry import check_env_id, check_no_game_options, display_name, env_kind
from agents.errors import ArcadeError
from agents.factory import AgentSpec, default_network
from app.settings import read_str, remembered_agent
from app.training_loop import Speed

DEFAULT_ENV = "gridworld/four-rooms"
FIRST_LAUNCH_SPEED = Speed.FAST
GAME_KEY = "game_options/{env_id}"
"""Where the game settings last chosen for one game id are kept, as `--game` text."""
FIRST_RUN_HINT = ("Watch the agent learn: colours are V(s), arrows its greedy moves; Ctrl+P lets it play. "
                  "Agent > Trained agents opens a Pong agent trained on a CPU.")


@dataclass(frozen=True)
class LaunchChoice:
    env_id: str
    spec: AgentSpec
    speed: Speed
    first_launch: bool
    notice: str | None = None
    """Why the environment (or the game settings) asked for was not opened (one line), or None."""
    game: GameOptions | None = None
    """An Atari game's settings for the first session (None: the game's defaults)."""


def launch_choice(store: QSettings, env_id: str | None, agent: AgentSpec | None,
                  game: GameOptions | None = None) -> LaunchChoice:
    """`env_id`, `agent` and `game` come from the command line (None: not given)."""
    first_launch = not store.contains("last_env")
    last_env = read_str(store, "last_env")
    wanted = env_id or last_env or DEFAULT_ENV
    notice = None
    try:
        check_env_id(wanted)
    except ArcadeError as error:
        source = "" if env_id else "the last session's environment: "
        notice = f"{source}{error}; opened {display_name(DEFAULT_ENV)} instead"
        wanted = DEFAULT_ENV
    spec = agent or _agent_for(wanted, store, last_env)
    if notice is None and game is not None:
        try:
            game = checked_game(wanted, game)
        except ArcadeError as error:
            notice, game = f"{error}; opened {display_name(wanted)} with its default settings", None
    elif notice is None:
        game = remembered_game(store, wanted)
    else:
        game = None  # asked for another environment's game
    return LaunchChoice(wanted, spec, remembered_speed(store), first_launch, notice, game)


def remembered_speed(store: QSettings) -> Speed:
    """The last session's speed (paused included); Fast on a first launch; anything unreadable means Normal."""
    value = read_str(store, "speed")
    if value is None:
        return FIRST_LAUNCH_SPEED
    try:
        return Speed(value)
    except ValueError:
        return Speed.NORMAL


def _agent_for(env_id: str, store: QSettings, last_env: str | None) -> AgentSpec:
    """The last session's agent where it fits this environment's family, else the family's default."""
    kind = env_kind(env_id)
    remembered = remembered_agent(store)
    if remembered is not None and last_env is not None and env_kind(last_env) == kind:
        agent_kind, network = remembered
        if agent_kind == "dqn" or kind == "gridworld":
            return AgentSpec(agent_kind, network)
    return AgentSpec("dqn", default_network(kind))


def checked_game(env_id: str, game: GameOptions) -> GameOptions | None:
    """`game` checked against the game's own modes and difficulties (sticky filled in); a gridworld takes only
    the defaults (None). A setting that does not fit is a one-line ArcadeError."""
    if env_kind(env_id) == "atari":
        return resolve_game_options(env_id, game)
    check_no_game_options(env_id, game)
    return None


def remembered_game(store: QSettings, env_id: str) -> GameOptions | None:
    """The game settings last chosen in the window for `env_id`, or None: none chosen, or they no longer fit the
    game (then they are forgotten, silently)."""
    key = GAME_KEY.format(env_id=env_id)
    text = read_str(store, key)
    if text is None:
        return None
    try:
        return checked_game(env_id, parse_game_options([text]))
    except ArcadeError:
        store.remove(key)
        return None


def remember_game(store: QSettings, env_id: str, game: GameOptions) -> None:
    store.setValue(GAME_KEY.format(env_id=env_id), game.to_text())
