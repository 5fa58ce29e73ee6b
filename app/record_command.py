"""`dqn-arcade record SAVE --out FILE.mp4|.gif`: a saved agent's episodes as a video (app.recording)."""

from __future__ import annotations

import argparse
import math
import sys

from agents.checkpoint import load_agent
from agents.envs.registry import env_kind
from agents.errors import ConfigError
from agents.factory import resolve_device
from agents.runner import evaluation_epsilon
from agents.types import EpisodeStats
from app.recording import RecordSettings, record_save
from app.video_file import check_video_path


def record(args: argparse.Namespace) -> int:
    from pathlib import Path

    out = Path(args.out)
    check_video_path(out)  # before the save is read: a wrong suffix costs nothing
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ConfigError(f"--seconds {args.seconds:g} must be a positive number")
    loaded = load_agent(args.file, device=resolve_device(args.device), env_id=args.env)
    if loaded.notice:
        print(loaded.notice, file=sys.stderr)
    epsilon = evaluation_epsilon(env_kind(loaded.env_id)) if args.epsilon is None else args.epsilon
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"--epsilon {epsilon:g} is not a probability (choose 0 to 1)")
    settings = RecordSettings(episodes=args.episodes, overlay=args.overlay, epsilon=epsilon, seed=args.seed,
                              saliency_every=args.saliency_every, max_seconds=args.seconds)

    def progress(episode: EpisodeStats) -> None:
        print(f"episode {episode.index}: return {episode.episode_return:g}, {episode.length} steps", file=sys.stderr)

    report = record_save(loaded, out, settings, progress)
    width, height = report.size
    returns = ", ".join(f"{e.episode_return:g}" for e in report.episodes) or "none finished"
    print(f"wrote {report.path}: {report.frames:,} frames of {width}x{height} at {report.fps:g} frames/s "
          f"({report.frames / report.fps:.1f} s), {len(report.episodes)} episode(s) (returns {returns}), "
          f"in {report.seconds:.0f} s")
    if report.stopped_early:
        print(f"note: {report.stopped_early}", file=sys.stderr)
    return 0
