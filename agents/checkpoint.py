"""Single-file saves (``.dqn``): everything needed to play an agent and to resume its training exactly.

A save is a zip archive, so it can be opened and inspected with any zip tool:

- ``meta.json``: the format marker ``"dqn-arcade-save"``, ``format_version``, when it was saved, the
  environment id (and a map file's text, or an Atari game's mode, difficulty, sticky actions and action set
  as ``game_options``; saves without them load with the id's defaults), the agent kind, its config, the
  observation shape, frame_stack, obs_scale, action names, step and update counts, epsilon, the episode
  history and the state of every random generator, plus the names of the other members.
- ``history.json``: the learning curves beyond the episodes (epsilon and episodes finished by step, TD loss and
  mean Q by update), downsampled to a few thousand points however long the run (agents.history). Saves made
  before it have none and open with empty curves.
- ``weights.safetensors`` (DQN): both networks and the optimizer's tensors in the safetensors format (any tool
  reads it, no pickle involved), Adam's hyperparameters as JSON in its metadata. Saves made before it hold
  ``weights.pt`` (``torch.save``), still read with ``torch.load(weights_only=True)``.
- ``q_table.npy`` (tabular Q-learning): read back with ``np.load(allow_pickle=False)``.
- ``replay.npz`` (optional): ``np.savez_compressed`` of the replay buffer's ``state_dict()``, stored as is.
  Only resuming training reads it (``with_replay=True``); playing, ``eval`` and opening a save do not. It is
  re-laid for whatever number of environments the resume uses.

Loading never runs code from the file and never reads more than the save's own config says a member can
hold (see agents.save_members): every way a file can be wrong (missing, empty, truncated, foreign, hostile,
oversized, from a newer version, inconsistent with its own config) and every failure while reading it
(out of memory, an I/O error) ends in a one-line :class:`~agents.errors.CheckpointError` naming the file.
Writes go to a temporary file in the same directory that replaces the old save only once it is complete
and on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import json
import math
import os
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import torch

from agents.config import DQNConfig, TabularConfig
from agents.dqn import DQNAgent
from agents.envs.game_options import GameOptions
from agents.envs.gridworld import map_to_text
from agents.errors import ArcadeError, CheckpointError
from agents.foreign_models import foreign_kind, import_model
from agents.history import HistoryError, TrainingHistory
from agents.memory_budget import check_fits_memory
from agents.qlearning import TabularQAgent
from agents.save_members import (
    MAX_HEADER_BYTES,
    MemberError,
    NpzReplay,
    open_npz,
    open_zip,
    pack_weights,
    read_capped,
    stored_member,
    unpack_weights,
    weights_limit,
)
from agents.types import EpisodeStats
from agents.validation import is_int, is_number

if TYPE_CHECKING:
    import gymnasium as gym

FORMAT_MARKER = "dqn-arcade-save"
FORMAT_VERSION = 1
SAVE_SUFFIX = ".dqn"

META_MEMBER = "meta.json"
WEIGHTS_MEMBER = "weights.safetensors"
LEGACY_WEIGHTS_MEMBER = "weights.pt"
"""Saves before safetensors: torch.save of the three state dicts."""
Q_TABLE_MEMBER = "q_table.npy"
REPLAY_MEMBER = "replay.npz"
HISTORY_MEMBER = "history.json"
MAX_HISTORY_BYTES = 1 << 20
"""history.json holds two series of at most HISTORY_POINTS rows of three numbers: about 300 kB at most."""

CONFIG_CLASSES: dict[str, type[DQNConfig] | type[TabularConfig]] = {
    "dqn": DQNConfig, "qlearning": TabularConfig,
}
"""Agent kind -> the config dataclass stored with it."""

_MAX_META_BYTES = 64 * 1024 * 1024
"""meta.json larger than this is not one of ours (guards against a zip bomb posing as metadata); a
million episodes of history take about 60 MB."""
_ZIP_MAGIC = b"PK\x03\x04"

Agent = DQNAgent | TabularQAgent
MAX_TABLE_CELLS = 4 * 100 * 100
"""The largest observation a tabular agent can have: the four planes of a map of the largest size."""


@dataclass(frozen=True)
class SaveInfo:
    """What the recent-saves menu shows about a save, read from meta.json alone."""

    path: Path
    env_id: str
    agent_kind: str
    """"dqn" or "qlearning"."""
    network: str | None
    """mlp, cnn or attention; None for the tabular agent."""
    steps: int
    episodes: int
    best_return: float | None
    """Highest episode return so far; None before the first finished episode."""
    saved_at: str
    """ISO 8601 time of the save, with its UTC offset."""
    format_version: int
    map_text: str | None = None
    """The map file's text when env_id is a path to a .txt map (the save opens even if the file moved)."""
    has_replay: bool = False
    """The save holds the replay buffer, so training resumes exactly where it stopped."""
    game_options: GameOptions | None = None
    """The Atari game's mode, difficulty, sticky actions and action set it was trained on; None for gridworlds
    and for saves made before these were stored (which trained on the id's defaults)."""


@dataclass(frozen=True)
class LoadedSave:
    """An agent rebuilt from a save, with the environment it was trained on."""

    agent: Agent
    env_id: str
    info: SaveInfo
    map_text: str | None = None
    notice: str | None = None
    """One line for the user when something was left behind (a replay that could not be re-laid)."""
    imported_from: str | None = None
    """"sb3" or "cleanrl" for another library's model: saving it writes a new DQN Arcade save, never over it."""

    @property
    def game_options(self) -> GameOptions | None:
        """The game settings to rebuild its environment with (see SaveInfo.game_options)."""
        return self.info.game_options


# ------------------------------------------------------------------------------------------------ saving


def save_agent(
    path: str | os.PathLike[str],
    agent: Agent,
    *,
    env_id: str,
    include_replay: bool = False,
    map_text: str | None = None,
    policy_only: bool = False,
    game_options: GameOptions | None = None,
) -> Path:
    """Write `agent` to `path` atomically and return the path.

    `game_options`: the Atari game's settings the agent plays with (EnvDescription.game_options), stored so that
    loading rebuilds the same game.

    `policy_only` keeps the online network alone (no target network, optimizer or replay): the compact file an
    agent ships as; loading it gives target = online and a fresh optimizer.

    The previous file at `path` survives any failure untouched; an OSError (disk full, no permission)
    becomes a one-line CheckpointError. For a map file id (``*.txt``) the map text is read from the file
    when not given, so the save still opens after the file moves.
    """
    path = Path(path)
    if map_text is None:
        map_text = _read_map_file(env_id)
    replay = include_replay and agent.kind == "dqn" and not policy_only
    meta = _meta(agent, env_id, map_text, include_replay=replay)
    meta["game_options"] = game_options.to_json() if game_options is not None else None
    if policy_only and agent.kind == "dqn":
        meta["policy_only"] = True
    try:
        atomic_write(path, lambda fileobj: _write_archive(fileobj, agent, meta, include_replay=replay,
                                                           policy_only=policy_only))
    except OSError as error:
        raise CheckpointError(f"{path}: cannot write the save ({_reason(error)})") from None
    return path


def map_text_of(env_id: str, env: gym.Env) -> str | None:
    """The map text a save of `env_id` carries: for a map file, the map `env` plays (make_env read the file, so it
    is not read again), which lets the save open after the file moves; None for built-in maps and Atari."""
    grid = getattr(env.unwrapped, "grid", None)
    return map_to_text(grid) if env_id.endswith(".txt") and grid is not None else None


def _read_map_file(env_id: str) -> str | None:
    """The text of a map file named by a ``.txt`` env id, or None (built-in maps and Atari need none)."""
    if not env_id.endswith(".txt"):
        return None
    try:
        return Path(env_id).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _meta(agent: Agent, env_id: str, map_text: str | None, *, include_replay: bool) -> dict[str, Any]:
    """Everything but the arrays, as JSON-able values."""
    members = {"weights": WEIGHTS_MEMBER} if agent.kind == "dqn" else {"q_table": Q_TABLE_MEMBER}
    members["history"] = HISTORY_MEMBER
    if include_replay:
        members["replay"] = REPLAY_MEMBER
    return {
        "format": FORMAT_MARKER,
        "format_version": FORMAT_VERSION,
        "saved_at": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "env_id": env_id,
        "map_text": map_text,
        "agent_kind": agent.kind,
        "config": dataclasses.asdict(agent.config),
        "obs_shape": list(agent.obs_shape),
        "n_actions": agent.n_actions,
        "action_names": list(agent.action_names),
        "frame_stack": agent.frame_stack,
        "obs_scale": agent.obs_scale,
        "num_envs": getattr(agent, "num_envs", 1),
        "step_count": agent.step_count,
        "update_count": agent.update_count,
        "epsilon": agent.epsilon,
        "episodes": [[e.index, e.episode_return, e.length, e.success] for e in agent.episodes],
        "rng": agent.rng_state(),
        "members": members,
    }


def _write_archive(fileobj: IO[bytes], agent: Agent, meta: dict[str, Any], *, include_replay: bool,
                   policy_only: bool = False) -> None:
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr(META_MEMBER, json.dumps(meta, indent=1))
        history = getattr(agent, "history", None) or TrainingHistory()
        archive.writestr(HISTORY_MEMBER, json.dumps(history.to_json(), separators=(",", ":")))
        if isinstance(agent, DQNAgent):
            _write_weights(archive, agent, policy_only=policy_only)
            if include_replay:
                _write_replay(archive, agent)
        else:
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(agent.q_table), allow_pickle=False)
            archive.writestr(Q_TABLE_MEMBER, buffer.getvalue())


def _write_weights(archive: zipfile.ZipFile, agent: DQNAgent, *, policy_only: bool = False) -> None:
    if policy_only:
        archive.writestr(_stored(WEIGHTS_MEMBER), pack_weights(agent.online, None, None))
        return
    archive.writestr(_stored(WEIGHTS_MEMBER), pack_weights(agent.online, agent.target, agent.optimizer))


def _write_replay(archive: zipfile.ZipFile, agent: DQNAgent) -> None:
    """Streamed into the archive (already compressed, so stored as is): an Atari buffer can be gigabytes."""
    with archive.open(_stored(REPLAY_MEMBER), "w", force_zip64=True) as member:
        np.savez_compressed(member, **agent.replay.state_dict())


def _stored(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED
    return info


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary sibling file, fsync it, then os.replace it over `path`.

    Readers see the old file or the new one, never half of one; on any failure the temporary file is
    removed (also on Ctrl-C, which is when the CLI saves). A process killed outright (kill -9, power loss)
    cannot remove its own: the temporary name carries the writer's process id, and the next save or load of
    the same file removes those whose writer is gone.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o644
    fd, temp_name = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fileobj:
            write(fileobj)
            fileobj.flush()
            os.fsync(fileobj.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that writers of `path` left when they were killed mid-save; returns them.

    Only files named by `atomic_write` for this path whose writer process no longer exists are touched.
    """
    path = Path(path)
    prefix = _temp_prefix(path)
    removed = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or _process_exists(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path.parent / name)
            removed.append(path.parent / name)
    return removed


def _process_exists(pid: int) -> bool:
    """Whether a process with this id exists (on Windows, where signal 0 is not a probe, always assumed)."""
    if pid == os.getpid() or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; not every platform or file system lets a directory be fsynced."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(error: OSError) -> str:
    return " ".join(str(error.strerror or error).split())


# ----------------------------------------------------------------------------------------------- loading


def read_save_info(path: str | os.PathLike[str]) -> SaveInfo:
    """The summary of a save, reading only its meta.json (cheap enough for a menu of recent saves)."""
    path = Path(path)
    if foreign_kind(path) is not None:
        return _foreign_info(path, None, 0)
    with _one_line_errors(path), _open_archive(path) as archive:
        return _info(path, _read_meta(path, archive), archive)


def load_agent(path: str | os.PathLike[str], *, device: str = "cpu", with_replay: bool = False,
               num_envs: int = 1, env_id: str | None = None, env_hint: str | None = None) -> LoadedSave:
    """Rebuild the saved agent on `device`, with its weights, optimizer, counters, history and RNG states.

    A Stable-Baselines3 DQN zip or a CleanRL dqn_atari model is imported instead (agents.foreign_models: tensors
    only); `env_id` names its game, else the file's path does, else `env_hint`.

    The replay buffer is read only `with_replay` (to resume training), re-laid for `num_envs` environment
    streams; a replay that does not fit the agent is left behind with a `notice`, never a failure.
    """
    path = Path(path)
    kind = foreign_kind(path)
    if kind is not None:
        return _import_foreign(path, kind, env_id, env_hint, device, num_envs)
    remove_stale_temporaries(path)
    with _one_line_errors(path), _open_archive(path) as archive:
        meta = _read_meta(path, archive)
        info = _info(path, meta, archive)
        config = _config(path, meta)
        agent = _build_agent(path, meta, config, device, num_envs, with_replay)
        notice = None
        if isinstance(agent, DQNAgent):
            _load_weights(path, archive, agent, device)
            if with_replay and info.has_replay:
                notice = _load_replay(path, archive, agent)
            elif with_replay and meta.get("policy_only") is True:
                notice = (f"{path.name} holds a trained policy only: training goes on from its network with a "
                          "fresh optimizer and an empty replay (the target network starts as a copy)")
        else:
            _load_q_table(path, archive, agent)
        _restore_progress(path, meta, agent)
        agent.history = _load_history(path, archive, meta, agent)
    return LoadedSave(agent=agent, env_id=info.env_id, info=info, map_text=info.map_text, notice=notice)


def load_whole(path: str | os.PathLike[str], *, device: str = "cpu", env_hint: str | None = None) -> LoadedSave:
    """The agent with its replay buffer when the save holds one (so training goes on exactly where it stopped and
    the replay can be looked at); a replay that cannot come back (too large for this machine's memory, damaged)
    is left behind with a notice saying why, rather than the agent with it."""
    path = Path(path)
    try:
        has_replay = read_save_info(path).has_replay
    except CheckpointError:
        has_replay = False  # load_agent reports what is wrong with the file
    if not has_replay:
        return load_agent(path, device=device, env_hint=env_hint)
    try:
        return load_agent(path, device=device, env_hint=env_hint, with_replay=True)
    except CheckpointError as error:
        loaded = load_agent(path, device=device, env_hint=env_hint)
        reason = str(error).removeprefix(f"{path}: ")
        return dataclasses.replace(loaded, notice=f"{path.name}: its replay buffer was left behind ({reason}); "
                                                  "it refills as the agent trains")


@contextlib.contextmanager
def _one_line_errors(path: Path) -> Iterator[None]:
    """Whatever goes wrong while reading a save ends as one CheckpointError naming the file and the reason."""
    try:
        yield
    except CheckpointError as error:
        if len(str(error).splitlines()) > 1:  # a value from the file with a line break in it
            raise CheckpointError(" ".join(str(error).split())) from None
        raise
    except MemoryError:
        raise CheckpointError(f"{path}: not enough memory to load this save") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read the save ({_reason(error)})") from None
    except MemberError as error:
        raise CheckpointError(f"{path}: corrupt save ({_one_line(error)})") from None
    except Exception as error:  # noqa: BLE001 - a file must never crash its reader with a traceback
        raise CheckpointError(f"{path}: corrupt save ({type(error).__name__}: {_one_line(error)})") from None


@contextlib.contextmanager
def _open_archive(path: Path) -> Iterator[zipfile.ZipFile]:
    """The save's zip archive; an unreadable, empty, foreign or truncated file becomes a CheckpointError."""
    try:
        with path.open("rb") as fileobj:
            head = fileobj.read(4)
            if not head:
                raise CheckpointError(f"{path}: empty file, not a DQN Arcade save")
            fileobj.seek(0)
            try:
                archive = open_zip(fileobj)
            except MemberError as error:
                raise CheckpointError(f"{path}: not a DQN Arcade save (its {error})") from None
            except (zipfile.BadZipFile, ValueError, EOFError):
                reason = "corrupt or truncated zip archive" if head == _ZIP_MAGIC else "not a zip archive"
                raise CheckpointError(f"{path}: not a DQN Arcade save ({reason})") from None
            with archive:
                yield archive
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory, not a save file") from None
    except OSError as error:
        if error.errno == errno.EINVAL:  # a seek to a negative offset: a damaged zip directory, not the disk
            raise CheckpointError(f"{path}: corrupt save (an offset in the zip directory is out of range)") from None
        raise CheckpointError(f"{path}: cannot read the save ({_reason(error)})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        # NotImplementedError: zipfile's word for a compression method it does not know (a damaged header).
        raise CheckpointError(f"{path}: corrupt save ({_one_line(error)})") from None


def _read_meta(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    """meta.json, checked to be ours and of a version this code reads."""
    if META_MEMBER not in archive.namelist():
        raise CheckpointError(f"{path}: not a DQN Arcade save (no {META_MEMBER} inside)")
    try:
        data = read_capped(archive, META_MEMBER, _MAX_META_BYTES)
    except MemberError as error:
        raise CheckpointError(f"{path}: not a DQN Arcade save ({error})") from None
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f"{path}: not a DQN Arcade save ({META_MEMBER} is not JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_MARKER:
        raise CheckpointError(f"{path}: not a DQN Arcade save (no '{FORMAT_MARKER}' marker in {META_MEMBER})")
    version = meta.get("format_version")
    if not is_int(version) or version < 1:
        raise CheckpointError(f"{path}: corrupt save (bad format_version {version!r})")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: saved by a newer DQN Arcade (format version {version}; "
                              f"this version reads up to {FORMAT_VERSION}); please upgrade")
    return meta


def _info(path: Path, meta: dict[str, Any], archive: zipfile.ZipFile) -> SaveInfo:
    kind = _field(path, meta, "agent_kind", str)
    if kind not in CONFIG_CLASSES:
        raise CheckpointError(f"{path}: unknown agent kind '{kind}' (expected {', '.join(CONFIG_CLASSES)})")
    config = _field(path, meta, "config", dict)
    network = config.get("network", DQNConfig.network) if kind == "dqn" else None
    episodes = _episodes(path, meta)
    members = _field(path, meta, "members", dict)
    has_replay = "replay" in members
    if has_replay and members["replay"] not in archive.namelist():
        raise CheckpointError(f"{path}: corrupt save ({members['replay']} is missing)")
    return SaveInfo(
        path=path,
        env_id=_field(path, meta, "env_id", str),
        agent_kind=kind,
        network=network if isinstance(network, str) else None,
        steps=_field(path, meta, "step_count", int),
        episodes=len(episodes),
        best_return=max((e.episode_return for e in episodes), default=None),
        saved_at=_field(path, meta, "saved_at", str),
        format_version=meta["format_version"],
        map_text=_field(path, meta, "map_text", str, optional=True),
        has_replay=has_replay,
        game_options=_game_options(path, meta),
    )


def _game_options(path: Path, meta: Mapping[str, Any]) -> GameOptions | None:
    """meta["game_options"], checked field by field; saves from before it have none (the id's defaults)."""
    data = meta.get("game_options")
    if data is None:
        return None
    try:
        return GameOptions.from_json(data)
    except (ArcadeError, TypeError) as error:
        raise CheckpointError(f"{path}: corrupt save (game_options: {_one_line(error)})") from None


def _field(path: Path, meta: Mapping[str, Any], name: str, kind: type, *, optional: bool = False) -> Any:
    """meta[name], checked to be of `kind` (ints widen to float; bools are not ints)."""
    if name not in meta:
        raise CheckpointError(f"{path}: corrupt save ('{name}' is missing from {META_MEMBER})")
    value = meta[name]
    if value is None and optional:
        return None
    if kind is float and is_int(value):
        return float(value)
    if not (is_int(value) if kind is int else isinstance(value, kind)):
        raise CheckpointError(f"{path}: corrupt save ('{name}' in {META_MEMBER} is not {kind.__name__})")
    return value


def _episodes(path: Path, meta: Mapping[str, Any]) -> list[EpisodeStats]:
    """[[index, return, length, success], ...] -> EpisodeStats records."""
    episodes = []
    for row in _field(path, meta, "episodes", list):
        if (not isinstance(row, list) or len(row) != 4 or not is_int(row[0]) or not is_number(row[1])
                or not is_int(row[2]) or not (row[3] is None or isinstance(row[3], bool))):
            raise CheckpointError(f"{path}: corrupt save (bad episode record {row!r:.60})")
        episodes.append(EpisodeStats(index=row[0], episode_return=float(row[1]), length=row[2],
                                     success=row[3]))
    return episodes


def _config(path: Path, meta: dict[str, Any]) -> DQNConfig | TabularConfig:
    """The config dataclass back from its asdict(); unknown keys are an error, missing ones take defaults."""
    cls = CONFIG_CLASSES[meta["agent_kind"]]
    values = meta["config"]
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise CheckpointError(f"{path}: the saved config has unknown field(s) {', '.join(map(_name, unknown))} "
                              f"(saved by a different version of DQN Arcade?)")
    try:
        return cls(**values)
    except ArcadeError as error:
        raise CheckpointError(f"{path}: bad config in save ({error})") from None
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: bad config in save ({_one_line(error)})") from None


def _build_agent(path: Path, meta: dict[str, Any], config: DQNConfig | TabularConfig, device: str,
                 num_envs: int, with_replay: bool) -> Agent:
    """A fresh agent of the saved kind and shape, ready to receive the saved state."""
    obs_shape = _field(path, meta, "obs_shape", list)
    n_actions = _field(path, meta, "n_actions", int)
    action_names = _field(path, meta, "action_names", list)
    if not obs_shape or not all(is_int(n) and n > 0 for n in obs_shape):
        raise CheckpointError(f"{path}: corrupt save (bad obs_shape {obs_shape!r:.60})")
    if n_actions < 1 or len(action_names) != n_actions or not all(isinstance(a, str) for a in action_names):
        raise CheckpointError(f"{path}: corrupt save ({len(action_names)} action names for "
                              f"{n_actions} actions)")
    try:
        if isinstance(config, TabularConfig):
            if math.prod(obs_shape) > MAX_TABLE_CELLS:
                raise CheckpointError(f"{path}: corrupt save (obs_shape {obs_shape} is larger than any map)")
            return TabularQAgent(config, tuple(obs_shape), n_actions, action_names)
        frame_stack = _field(path, meta, "frame_stack", int)
        check_fits_memory(config, obs_shape, frame_stack, n_actions, replay=with_replay)
        return DQNAgent(
            config, tuple(obs_shape), n_actions, action_names,
            frame_stack=frame_stack,
            obs_scale=_field(path, meta, "obs_scale", float),
            device=device,
            num_envs=num_envs,
        )
    except CheckpointError:
        raise
    except MemoryError:  # the replay, allocated for buffer_size slots even when only playing
        raise CheckpointError(f"{path}: not enough memory to rebuild the agent (its replay of buffer_size "
                              f"{getattr(config, 'buffer_size', 0):,} cannot be reserved)") from None
    except ArcadeError as error:
        raise CheckpointError(f"{path}: cannot rebuild the agent ({error})") from None
    except (ValueError, RuntimeError, TypeError, OverflowError, IndexError) as error:  # e.g. torch: a size past int64
        raise CheckpointError(f"{path}: cannot rebuild the agent ({_one_line(error)})") from None


def _import_foreign(path: Path, kind: str, env_id: str | None, env_hint: str | None, device: str,
                    num_envs: int) -> LoadedSave:
    with _one_line_errors(path):
        try:
            agent, env_id, notice = import_model(path, kind, env_id=env_id, device=device, env_hint=env_hint,
                                                 num_envs=num_envs)
        except CheckpointError:
            raise
        except ArcadeError as error:  # e.g. a game this ale-py does not ship: its own message, not "corrupt"
            raise CheckpointError(f"{path}: {error}") from None
    return LoadedSave(agent=agent, env_id=env_id, info=_foreign_info(path, env_id, agent.step_count), map_text=None,
                      notice=notice, imported_from=kind)


def _foreign_info(path: Path, env_id: str | None, steps: int) -> SaveInfo:
    return SaveInfo(path=path, env_id=env_id or "(game not named)", agent_kind="dqn", network="cnn", steps=steps,
                    episodes=0, best_return=None, saved_at="", format_version=0)


def _load_weights(path: Path, archive: zipfile.ZipFile, agent: DQNAgent, device: str) -> None:
    """safetensors (or, for older saves, torch.load(weights_only=True)): tensors and plain values, never code."""
    names = archive.namelist()
    if WEIGHTS_MEMBER in names or LEGACY_WEIGHTS_MEMBER not in names:
        state = unpack_weights(read_capped(archive, WEIGHTS_MEMBER, weights_limit(agent)))
        member = WEIGHTS_MEMBER
    else:
        state = _legacy_weights(path, read_capped(archive, LEGACY_WEIGHTS_MEMBER, weights_limit(agent)), device)
        member = LEGACY_WEIGHTS_MEMBER
    policy_only = isinstance(state, dict) and state.get("target") is None and state.get("optimizer") is None \
        and member == WEIGHTS_MEMBER
    if policy_only:  # a shipped agent: the target starts as the online network, the optimizer fresh
        state = {**state, "target": state.get("online")}
    if not isinstance(state, dict) or not all(isinstance(state.get(k), dict) for k in
                                              ("online", "target", "optimizer") if not (policy_only and
                                                                                        k == "optimizer")):
        raise CheckpointError(f"{path}: corrupt save ({member} lacks online/target/optimizer states)")
    network = agent.config.network
    for name, module in (("online", agent.online), ("target", agent.target)):
        saved = _with_zero_input_reference(module.state_dict(), state[name])
        _check_state_dict(path, f"{name} network", module.state_dict(), saved, network)
        module.load_state_dict(saved)
    if not policy_only:
        _load_optimizer(path, agent, state["optimizer"])


def _legacy_weights(path: Path, data: bytes, device: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - torch's unpickler fails on damaged bytes with any type at all
        raise CheckpointError(f"{path}: corrupt save ({LEGACY_WEIGHTS_MEMBER} is not a weights file: "
                              f"{_one_line(error)})") from None


def _with_zero_input_reference(expected: Mapping[str, torch.Tensor], saved: dict[str, Any]) -> dict[str, Any]:
    """Saves from before the MLP centred its inputs lack its reference: zero is exactly how they were trained."""
    missing = {key: torch.zeros_like(tensor) for key, tensor in expected.items()
               if key.endswith("input_reference") and key not in saved}
    return {**saved, **missing} if missing else saved


def _check_state_dict(path: Path, what: str, expected: Mapping[str, torch.Tensor], saved: Mapping[str, Any],
                      network: str) -> None:
    """Same parameter names and shapes as the config's network, else a one-line error naming the misfit."""
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    if missing or unexpected:
        detail = f"missing {missing[0]}" if missing else f"unexpected {_name(unexpected[0])}"
        raise CheckpointError(f"{path}: the saved {what} does not fit the config's {network} network "
                              f"({detail})")
    for key, tensor in expected.items():
        value = saved[key]
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: corrupt save ({what} entry {key} is not a tensor)")
        if value.shape != tensor.shape:
            raise CheckpointError(
                f"{path}: the saved {what} does not fit the config's {network} network "
                f"({key} is {tuple(value.shape)}, the network needs {tuple(tensor.shape)})"
            )


def _load_optimizer(path: Path, agent: DQNAgent, saved: dict[str, Any]) -> None:
    """Adam's moments must match the parameters' shapes; torch itself checks only the group sizes."""
    params = [p for group in agent.optimizer.param_groups for p in group["params"]]
    state = saved.get("state")
    groups = saved.get("param_groups")
    if not isinstance(state, dict) or not isinstance(groups, list):
        raise CheckpointError(f"{path}: corrupt save (bad optimizer state)")
    for index, entry in state.items():
        if not is_int(index) or not 0 <= index < len(params) or not isinstance(entry, dict):
            raise CheckpointError(f"{path}: the saved optimizer state does not fit the network")
        for key, value in entry.items():
            if key != "step" and isinstance(value, torch.Tensor) and value.shape != params[index].shape:
                raise CheckpointError(
                    f"{path}: the saved optimizer state does not fit the network "
                    f"({key} of parameter {index} is {tuple(value.shape)}, "
                    f"needs {tuple(params[index].shape)})"
                )
    try:
        agent.optimizer.load_state_dict(saved)
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{path}: the saved optimizer state does not fit the network "
                              f"({_one_line(error)})") from None
    _match_parameter_layouts(agent.optimizer)


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each moment its parameter's memory layout: safetensors stores tensors contiguous, while a CPU
    agent's convolution weights are channels-last, and the fused Adam kernel pairs elements by memory order."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def _load_q_table(path: Path, archive: zipfile.ZipFile, agent: TabularQAgent) -> None:
    data = read_capped(archive, Q_TABLE_MEMBER, agent.q_table.nbytes + MAX_HEADER_BYTES)
    try:
        _check_q_table_header(path, io.BytesIO(data), agent.q_table.shape)
        table = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError, SyntaxError, tokenize.TokenError) as error:
        raise CheckpointError(f"{path}: corrupt save ({Q_TABLE_MEMBER}: {_one_line(error)})") from None
    if not isinstance(table, np.ndarray) or table.shape != agent.q_table.shape:
        shape = getattr(table, "shape", None)
        raise CheckpointError(f"{path}: the saved Q-table is {shape}, the observation shape needs "
                              f"{agent.q_table.shape}")
    if not np.issubdtype(table.dtype, np.floating):
        raise CheckpointError(f"{path}: corrupt save (Q-table of dtype {table.dtype})")
    agent.q_table = table.astype(np.float64, copy=True)


def _check_q_table_header(path: Path, stream: IO[bytes], shape: tuple[int, ...]) -> None:
    """The .npy header's shape and dtype, before np.load allocates whatever the header declares."""
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    saved_shape, _, dtype = read_header(stream, max_header_size=MAX_HEADER_BYTES)
    if not np.issubdtype(dtype, np.floating):
        raise CheckpointError(f"{path}: corrupt save ({Q_TABLE_MEMBER} holds a Q-table of dtype {dtype})")
    if tuple(saved_shape) != shape:
        raise CheckpointError(f"{path}: the saved Q-table is {tuple(saved_shape)!r:.60}, the observation shape "
                              f"needs {shape}")


def _load_replay(path: Path, archive: zipfile.ZipFile, agent: DQNAgent) -> str | None:
    """Stream the replay member into the agent's buffer (re-laid for its streams); returns a notice when the
    saved buffer cannot be laid into this agent's (it then stays empty)."""
    with path.open("rb") as raw, open_npz(stored_member(raw, archive.getinfo(REPLAY_MEMBER))) as npz:
        try:
            agent.replay.restore(NpzReplay(npz, max_slots=agent.config.buffer_size))
        except MemberError:
            raise
        except ValueError as error:
            return f"{path}: the saved replay buffer was left behind ({_one_line(error)}); it refills as training goes"
    return None


def _restore_progress(path: Path, meta: dict[str, Any], agent: Agent) -> None:
    """Counters, episode history and random generators: last, so nothing above disturbs the RNG state."""
    agent.step_count = _field(path, meta, "step_count", int)
    agent.update_count = _field(path, meta, "update_count", int)
    agent.episodes = _episodes(path, meta)
    rng = _field(path, meta, "rng", dict)
    try:
        agent.set_rng_state(rng)
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as error:
        raise CheckpointError(f"{path}: corrupt save (bad random generator state: "
                              f"{_one_line(error)})") from None


def _load_history(path: Path, archive: zipfile.ZipFile, meta: dict[str, Any], agent: Agent) -> TrainingHistory:
    """The saved learning curves, checked like every member; a save from before them has none (empty curves)."""
    if "history" not in meta["members"]:
        return TrainingHistory()
    data = read_capped(archive, HISTORY_MEMBER, MAX_HISTORY_BYTES)
    try:
        return TrainingHistory.from_json(json.loads(data.decode("utf-8")), step_count=agent.step_count,
                                         episodes=len(agent.episodes))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # HistoryError is a ValueError
        detail = _one_line(error) if isinstance(error, HistoryError) else "not JSON"
        raise CheckpointError(f"{path}: corrupt save ({HISTORY_MEMBER}: {detail})") from None


def _name(text: str) -> str:
    """A name read from the file as is, or quoted and cut short if it holds a line break (or is very long)."""
    return text if text.isprintable() and len(text) <= 60 else repr(text[:60])


def _one_line(error: BaseException) -> str:
    """The first line of an exception's message, trimmed (torch's can run to dozens of lines)."""
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    return first if len(first) <= 160 else first[:157] + "..."
