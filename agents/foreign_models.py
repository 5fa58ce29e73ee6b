"""Open the Atari DQN models other libraries trained: Stable-Baselines3 / RL Zoo `.zip` and CleanRL `.cleanrl_model`.

Only tensors are read, never code. A Stable-Baselines3 zip pickles much of its `data` member (spaces, schedules,
classes, as base64 ":serialized:" fields): DQN Arcade parses `data` as JSON, reads plain values only and never
decodes a serialized one; its `policy.pth`, like a CleanRL file, is a PyTorch state dict read with
`torch.load(weights_only=True)` (PyTorch 2.6 or newer, whose restricted unpickler has no known way out) after
checking that it is laid out exactly as torch.save writes: a pickle in its place, or data before the zip, is
refused before PyTorch sees it, and tensors must be dense arrays no larger than their storage.

The weights map exactly onto the project's Nature CNN (agents.networks.CNNQNetwork without dueling):

| DQN Arcade | Stable-Baselines3 CnnPolicy | CleanRL dqn_atari QNetwork |
|---|---|---|
| trunk.0 (32 8x8/4) | q_net.features_extractor.cnn.0 | network.0 |
| trunk.2 (64 4x4/2) | q_net.features_extractor.cnn.2 | network.2 |
| trunk.4 (64 3x3/1) | q_net.features_extractor.cnn.4 | network.4 |
| head.advantage.0 (3136 -> 512) | q_net.features_extractor.linear.0 | network.7 |
| head.advantage.2 (512 -> actions) | q_net.q_net.0 | network.9 |

Both libraries feed (4, 84, 84) stacks oldest frame first (SB3 stacks channels-last and its VecTransposeImage
moves the stack axis first, in the same order), scale pixels by 1/255 and flatten the 64x7x7 features in
channel-row-column order, as the project does, so no weight is permuted. They trained on `<Game>NoFrameskip-v4`,
which DQN Arcade plays with their preprocessing (agents.envs.atari.make_atari_env).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from agents.config import dqn_config_for
from agents.envs.atari import NOFRAMESKIP_V4, is_atari_id
from agents.errors import CheckpointError
from agents.save_members import read_capped

SB3_DATA = "data"
SB3_POLICY = "policy.pth"
DATA_LIMIT = 64 << 20
"""Most bytes of an SB3 `data` member read (it holds the last observation, pickled: a few hundred KB)."""
WEIGHTS_LIMIT = 256 << 20
"""Most bytes of a state dict read (a Nature CNN's is 13 MB; SB3 keeps the online and target networks)."""
MAX_IMPORTED_BATCH = 1024
"""Largest recorded batch size taken over from an SB3 model (SB3's default is 32)."""
IMPORT_BUFFER = 100_000
"""Replay capacity of an imported agent trained on (SB3's default is 1M, 7 GB of Atari frames)."""

_NATURE_LAYERS = ("trunk.0", "trunk.2", "trunk.4", "head.advantage.0", "head.advantage.2")
_SB3_LAYERS = ("features_extractor.cnn.0", "features_extractor.cnn.2", "features_extractor.cnn.4",
               "features_extractor.linear.0", "q_net.0")
_CLEANRL_LAYERS = ("network.0", "network.2", "network.4", "network.7", "network.9")
_LIBRARY_NAMES = {"sb3": "Stable-Baselines3 DQN", "cleanrl": "CleanRL dqn_atari"}


def foreign_kind(path: Path) -> str | None:
    """"sb3" or "cleanrl" for a file either library wrote, None for anything else (a DQN Arcade save included)."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None
    if "meta.json" in names:
        return None
    if SB3_POLICY in names and SB3_DATA in names:
        return "sb3"
    if any(name.endswith("/data.pkl") for name in names) and len({n.split("/", 1)[0] for n in names}) == 1:
        return "cleanrl"  # torch.save's zip: one folder holding data.pkl and the tensor storages
    return None


def import_model(path: Path, kind: str, *, env_id: str | None, device: str, env_hint: str | None = None,
                 num_envs: int = 1) -> tuple[Any, str, str]:
    """(agent, env id, notice) for a foreign model file; any problem is a one-line CheckpointError.

    The game is `env_id`, else the id in the file's path, else `env_hint` (the window's current game)."""
    data: dict[str, Any] = {}
    if kind == "sb3":
        with zipfile.ZipFile(path) as archive:
            data = _sb3_data(path, archive)
            state = _state_dict(path, read_capped(archive, SB3_POLICY, WEIGHTS_LIMIT), SB3_POLICY)
        online, target = (_mapped(path, state, f"{prefix}.", _SB3_LAYERS) for prefix in ("q_net", "q_net_target"))
        expected = {f"{p}.{layer}.{t}" for p in ("q_net", "q_net_target") for layer in _SB3_LAYERS
                    for t in ("weight", "bias")}
    else:
        state = _state_dict(path, path.read_bytes() if path.stat().st_size <= WEIGHTS_LIMIT else b"", path.name)
        online = target = _mapped(path, state, "", _CLEANRL_LAYERS)
        expected = {f"{layer}.{t}" for layer in _CLEANRL_LAYERS for t in ("weight", "bias")}
    extra = sorted(set(state) - expected)
    if extra:
        raise CheckpointError(f"{path}: holds tensors the Nature CNN has no place for ({extra[0][:60]}): only the "
                              f"default CnnPolicy / QNetwork maps onto it")
    env_id = _env_id(path, env_id, env_hint)
    agent = _agent(path, env_id, online, data, device, num_envs)
    agent.target.load_state_dict(_on(path, target, agent.target))
    notice = (f"Imported a {_LIBRARY_NAMES[kind]} model ({agent.step_count:,} steps) for {env_id}; "
              f"training on from it starts with a fresh optimizer and an empty replay")
    return agent, env_id, notice


def _sb3_data(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    """The plain values of SB3's `data` (its ":serialized:" pickles are dropped unread)."""
    try:
        data = json.loads(read_capped(archive, SB3_DATA, DATA_LIMIT))
    except (ValueError, RecursionError):
        raise CheckpointError(f"{path}: its 'data' member is not JSON (not a Stable-Baselines3 save?)") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: its 'data' member is not a JSON object")
    plain = {}
    for key, value in data.items():
        if isinstance(value, dict):  # a serialized object: keep its plain, non-pickled fields only
            value = {k: v for k, v in value.items() if k != ":serialized:" and isinstance(v, str | int | float)}
        plain[key] = value
    return plain


def _state_dict(path: Path, raw: bytes, member: str) -> dict[str, torch.Tensor]:
    if not raw:
        raise CheckpointError(f"{path}: {member} is empty or larger than a DQN model can need")
    _check_torch_zip(path, raw, member)
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - the restricted unpickler refuses what is not tensors, with any type
        reason = " ".join(str(error).split())[:160]
        raise CheckpointError(f"{path}: {member} holds more than tensors, refused ({reason})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise CheckpointError(f"{path}: {member} is not a state dict of named tensors")
    for key, tensor in state.items():
        # A tensor may claim a shape its storage does not hold (zero strides): converting it would allocate the
        # whole claimed size. Only dense tensors whose storage is exactly their size are accepted.
        if not tensor.is_contiguous() or tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
            raise CheckpointError(f"{path}: {member} holds a tensor ({key[:60]}) that is not a plain dense array")
    return state


def _check_torch_zip(path: Path, raw: bytes, member: str) -> None:
    """torch.save's format and nothing else: a zip that starts at byte 0 (torch reads a file with anything before
    its zip as a legacy pickle), one top folder holding data.pkl, every entry stored uncompressed (so no entry
    inflates past its size) and their sizes within the limit, all checked before PyTorch reads a byte."""
    if raw[:4] != b"PK\x03\x04":
        raise CheckpointError(f"{path}: {member} is not a PyTorch weights file (refused unread)")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise CheckpointError(f"{path}: {member} is a damaged zip (refused unread)") from None
    folders = {entry.filename.split("/", 1)[0] for entry in entries}
    if len(folders) != 1 or not any(entry.filename.endswith("/data.pkl") for entry in entries):
        raise CheckpointError(f"{path}: {member} is not laid out as torch.save writes (refused unread)")
    if any(entry.compress_type != zipfile.ZIP_STORED for entry in entries) or \
            sum(entry.file_size for entry in entries) > WEIGHTS_LIMIT:
        raise CheckpointError(f"{path}: {member} has compressed or oversized entries (refused unread)")


def _mapped(path: Path, state: dict[str, torch.Tensor], prefix: str, layers: tuple[str, ...]
            ) -> dict[str, torch.Tensor]:
    mapped = {}
    for ours, theirs in zip(_NATURE_LAYERS, layers, strict=True):
        for part in ("weight", "bias"):
            key = f"{prefix}{theirs}.{part}"
            if key not in state:
                library = "CleanRL dqn_atari" if layers is _CLEANRL_LAYERS else "Stable-Baselines3 CnnPolicy"
                raise CheckpointError(f"{path}: not a DQN Arcade save, nor a {library} model it can open "
                                      f"(no {key} tensor)")
            tensor = state[key]
            if not tensor.is_floating_point():
                raise CheckpointError(f"{path}: {key} is {tensor.dtype}, not floating point")
            mapped[f"{ours}.{part}"] = tensor
    return mapped


def _env_id(path: Path, env_id: str | None, env_hint: str | None = None) -> str:
    """The game: --env, else a NoFrameskip-v4 or ALE v5 id in the file's path (RL Zoo and CleanRL name files and
    folders after it), else the hint, else a one-line error saying how to give it."""
    if env_id:
        if not is_atari_id(env_id):
            raise CheckpointError(f"{path}: an Atari model needs an Atari game, not '{env_id}'")
        return env_id
    text = str(path)
    found = NOFRAMESKIP_V4.search(text) or re.search(r"ALE/[A-Za-z0-9]+-v5", text)
    if found:
        return found.group(0)
    if env_hint and is_atari_id(env_hint):
        return env_hint
    raise CheckpointError(f"{path}: the file does not say which game it plays; give it with --env "
                          f"(e.g. --env PongNoFrameskip-v4)")


def _agent(path: Path, env_id: str, online: dict[str, torch.Tensor], data: dict[str, Any], device: str,
           num_envs: int) -> Any:
    from agents.dqn import DQNAgent
    from agents.envs.registry import describe_env, make_env
    from agents.factory import observation_scale

    env = make_env(env_id, render_mode=None)
    description = describe_env(env_id, env)
    env.close()
    last = online["head.advantage.2.weight"]
    n_actions = int(last.shape[0]) if last.dim() == 2 else -1
    if n_actions != len(description.action_names):
        raise CheckpointError(f"{path}: the model has {n_actions} actions, {env_id} has "
                              f"{len(description.action_names)} (another game?)")
    config = _config(data)
    agent = DQNAgent(config, description.obs_shape, n_actions, description.action_names,
                     frame_stack=description.frame_stack, obs_scale=observation_scale(description), device=device,
                     num_envs=num_envs)
    agent.online.load_state_dict(_on(path, online, agent.online))
    steps = data.get("num_timesteps")
    agent.step_count = steps if isinstance(steps, int) and steps >= 0 else 0
    return agent


def _on(path: Path, state: dict[str, torch.Tensor], network: torch.nn.Module) -> dict[str, torch.Tensor]:
    expected = network.state_dict()
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise CheckpointError(f"{path}: its {key} is {tuple(tensor.shape)}, the Nature CNN needs "
                                  f"{tuple(expected[key].shape)}")
    return {key: tensor.float() for key, tensor in state.items()}


def _config(data: dict[str, Any]) -> Any:
    """The Nature CNN config, with the values SB3 recorded plainly where they mean the same thing here. Epsilon
    stays at the model's final exploration rate, so training on from it does not start over at 1.0."""
    config = dqn_config_for("atari", network="cnn", double=False, dueling=False, buffer_size=IMPORT_BUFFER,
                            learning_starts=10_000)
    plain = {"learning_rate": "learning_rate", "gamma": "gamma", "batch_size": "batch_size", "tau": "tau",
             "target_network_frequency": "target_update_interval", "max_grad_norm": "max_grad_norm"}
    values = {ours: data[theirs] for ours, theirs in plain.items()
              if isinstance(data.get(theirs), int | float) and not isinstance(data.get(theirs), bool)}
    if not 1 <= values.get("batch_size", 32) <= MAX_IMPORTED_BATCH:
        values.pop("batch_size")  # a recorded value this large would only exhaust memory at the first update
    final_e = data.get("exploration_final_eps", 0.01 if not data else None)
    if isinstance(final_e, int | float) and 0.0 <= final_e <= 1.0:
        values.update(start_e=float(final_e), end_e=float(final_e))
    try:
        return replace(config, **values)
    except Exception:  # noqa: BLE001 - a recorded value out of range: the Nature default stands
        return config
