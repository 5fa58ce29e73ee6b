"""The `dqn-arcade` command: the window by default, or headless train / eval / record / envs.

Nothing here imports PySide6 until the window is asked for, so a headless GPU box needs no Qt libraries.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from agents.config import PRESETS
from agents.envs.game_options import GameOptions, parse_game_options
from agents.errors import ArcadeError, ConfigError, UnknownEnvError

PROG = "dqn-arcade"
DEFAULT_ENV = "gridworld/four-rooms"
GAME_HELP = ("an Atari game's own settings, KEY=VALUE[,KEY=VALUE...] (repeatable): mode and difficulty (the "
             "game's, as ALE lists them, or default), sticky (repeat-action probability, default 0.25 on ALE/*-v5 "
             "and 0 on *NoFrameskip-v4), actions=minimal|full; e.g. --game mode=1,difficulty=2,actions=full")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (and exit code 2), not usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Watch, play and train deep Q-learning agents.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    _add_gui(commands)
    _add_train(commands)
    _add_eval(commands)
    _add_record(commands)
    commands.add_parser("envs", help="list every environment id")
    return parser


def _add_gui(commands: argparse._SubParsersAction) -> None:
    gui = commands.add_parser("gui", help="open the window (the default with no command)")
    gui.add_argument("--env", default=None, help=f"environment id (default: last used, else {DEFAULT_ENV})")
    gui.add_argument("--load", default=None, metavar="FILE",
                     help="open a save, or a Stable-Baselines3 DQN .zip or CleanRL .cleanrl_model (imported)")
    gui.add_argument("--game", action="append", default=[], metavar="KEY=VALUE",
                     help="the first new agent's game settings (default: those last chosen in the window for the "
                          "game); " + GAME_HELP.split(": ", 1)[1])
    gui.add_argument("--watch", default=None, metavar="FILE",
                     help="follow a training run from the save it writes every --save-every steps (train --save "
                          "FILE): its latest weights play and its curves grow, read-only")
    gui.add_argument("--in-process", action="store_true",
                     help="train in a thread of the window's process, not a child process (for debugging)")


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train an agent headless, faster than in the window")
    train.add_argument("--env", default=None, help="environment id: gridworld/NAME, a map .txt, ALE/Game-v5")
    train.add_argument("--agent", choices=("dqn", "qlearning"), default=None, help="algorithm (default: dqn)")
    train.add_argument("--net", choices=("mlp", "cnn", "attention"), default=None,
                       help="Q-network (default: mlp on gridworlds, attention on Atari)")
    train.add_argument("--preset", choices=tuple(PRESETS), default=None,
                       help="a named recipe: fast = Atari on a CPU in hours (Double, dueling, 3-step returns, "
                            "Lapan's Pong values)")
    train.add_argument("--double", action=argparse.BooleanOptionalAction, default=None, help="Double DQN")
    train.add_argument("--dueling", action=argparse.BooleanOptionalAction, default=None, help="dueling head")
    train.add_argument("--steps", type=_positive_int, default=None,
                       help="total environment steps to train to (default: the config's total_timesteps)")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--device", default="auto", help="auto, cpu or cuda (auto takes a GPU when present)")
    train.add_argument("--num-envs", type=_positive_int, default=1, help="environments stepped side by side")
    train.add_argument("--actors", type=_positive_int, default=None, metavar="N",
                       help="Ape-X: N environment actors on Ray and one learner here (pip install -e "
                            "'.[distributed]')")
    train.add_argument("--ray-address", default=None, metavar="ADDRESS",
                       help="with --actors: an existing Ray cluster (default: a local Ray on this machine's cores)")
    train.add_argument("--chunk-steps", type=_positive_int, default=None, metavar="N",
                       help="with --actors: steps an actor sends at a time (default: 50)")
    train.add_argument("--publish-every", type=_positive_int, default=None, metavar="UPDATES",
                       help="with --actors: updates between two publications of the weights (default: 50)")
    train.add_argument("--save", default=None, metavar="FILE", help="save file (default: saves/ENV_NET.dqn)")
    train.add_argument("--save-every", type=_positive_int, default=None, metavar="STEPS",
                       help="save periodically every STEPS steps (default: a tenth of the run)")
    train.add_argument("--save-replay", action="store_true", help="include the replay buffer (exact resume)")
    train.add_argument("--resume", default=None, metavar="FILE", help="continue training a save")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                       help="override a config field (repeatable), e.g. --set learning_rate=3e-4")
    train.add_argument("--game", action="append", default=[], metavar="KEY=VALUE", help=GAME_HELP)
    train.add_argument("--tensorboard", default=None, metavar="DIR", help="write TensorBoard scalars to DIR")
    train.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_eval(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="run a saved agent's greedy policy")
    evaluate.add_argument("file", metavar="FILE", help="a save made by train or the window, or a Stable-Baselines3 "
                                                     "DQN .zip or CleanRL .cleanrl_model")
    evaluate.add_argument("--env", default=None,
                          help="the game of an SB3 or CleanRL model whose file name does not say (e.g. "
                               "PongNoFrameskip-v4)")
    evaluate.add_argument("--game", action="append", default=[], metavar="KEY=VALUE",
                          help="play the save's game with other settings (default: those it was trained on); "
                               + GAME_HELP.split(": ", 1)[1])
    evaluate.add_argument("--episodes", type=_positive_int, default=10)
    evaluate.add_argument("--seed", type=int, default=None)
    evaluate.add_argument("--epsilon", type=float, default=None,
                          help="random-action rate while evaluating (default: 0.05 on Atari, as Mnih et al. 2015 "
                               "evaluate, so a game that needs FIRE to serve cannot stall; 0, greedy, on gridworlds)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")


def _add_record(commands: argparse._SubParsersAction) -> None:
    record = commands.add_parser("record", help="record a saved agent's episodes as a video (.mp4 or .gif)")
    record.add_argument("file", metavar="SAVE", help="a save made by train or the window, or an imported model")
    record.add_argument("--out", required=True, metavar="FILE",
                        help="the video: FILE.mp4 (any length) or FILE.gif (at most a minute, 30 frames/s)")
    record.add_argument("--episodes", type=_positive_int, default=1)
    record.add_argument("--overlay", choices=("attention", "saliency", "none"), default=None,
                        help="drawn over the game (default: attention for the attention network, else none)")
    record.add_argument("--saliency-every", type=_positive_int, default=None, metavar="STEPS",
                        help="steps between two saliency maps (default: 4 on Atari, 1 on gridworlds; each Atari "
                             "map costs about 0.2 s of CPU)")
    record.add_argument("--seconds", type=float, default=None, help="stop after this much video")
    record.add_argument("--env", default=None, help="the game of an SB3 or CleanRL model whose file name does not say")
    record.add_argument("--seed", type=int, default=None)
    record.add_argument("--epsilon", type=float, default=None,
                        help="random-action rate (default: 0.05 on Atari, 0 on gridworlds, as eval)")
    record.add_argument("--device", default="auto")


def _positive_int(text: str) -> int:
    try:
        value = int(float(text)) if any(c in text for c in ".eE") else int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be positive")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `dqn-arcade` script; returns the process exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (UnknownEnvError, ConfigError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except ArcadeError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in (None, "gui"):
        game = _gui_game(args)
        from app.window import launch  # Qt only when the window is wanted

        if getattr(args, "watch", None) and getattr(args, "load", None):
            raise ArcadeError("--watch and --load open two agents: choose one")
        return launch(getattr(args, "env", None), getattr(args, "load", None),
                      in_process=getattr(args, "in_process", False), game=game, watch=getattr(args, "watch", None))
    from app import headless

    if args.command == "train":
        return headless.train(args)
    if args.command == "eval":
        return headless.evaluate(args)
    if args.command == "record":
        from app.record_command import record

        return record(args)
    return headless.list_envs()


def _gui_game(args: argparse.Namespace) -> GameOptions | None:
    """`gui --game`'s settings, their form checked now (whether the game has them, when the window opens it)."""
    texts = getattr(args, "game", None) or []
    if not texts:
        return None
    if getattr(args, "load", None):
        raise ConfigError("--game sets up a new agent; a save opens with the game settings it was trained on")
    return parse_game_options(texts)


if __name__ == "__main__":
    sys.exit(main())
