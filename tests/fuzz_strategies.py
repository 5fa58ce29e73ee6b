"""Hypothesis strategies and the outcome check shared by tests/test_fuzz.py and benchmarks/fuzz_saves.py.

Inputs are mutated saves (``.dqn``) and gridworld maps. A save input either loads or fails with one
:class:`~agents.errors.CheckpointError` whose message is one line naming the file; a map input either parses
or fails with one :class:`~agents.errors.MapError` of one line naming its source. Anything else is a finding.

Save mutations come in three families:

- ``bytes``: the whole file, byte by byte (flips, overwritten runs, truncation, insertion, duplicated chunks);
- ``member``: the zip rebuilt with one member replaced (mutated bytes, random bytes, another member's bytes,
  inner-format mutations of meta.json, weights.safetensors, replay.npz's arrays, q_table.npy), removed,
  duplicated or renamed, the others intact, so mutations reach the inner parsers;
- ``meta``: one field of meta.json (or of its config) set to a hypothesis JSON value or a hostile one
  (huge, negative, of the wrong type).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import signal
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from agents.checkpoint import load_agent, read_save_info, save_agent
from agents.config import dqn_config_for, tabular_config_for
from agents.dqn import DQNAgent
from agents.envs.gridworld import GridWorldEnv, load_map, parse_map
from agents.errors import CheckpointError, MapError
from agents.qlearning import TabularQAgent
from agents.types import EpisodeStats, Transition

ROOT = Path(__file__).resolve().parent.parent
MAP_DIR = ROOT / "assets" / "gridworlds"
ENV_ID = "gridworld/open-room"
OBS_SHAPE = (4, 5, 5)
ACTIONS = ("UP", "RIGHT", "DOWN", "LEFT")
SMALL_DQN = dict(buffer_size=64, learning_starts=8, batch_size=4, train_frequency=1, target_network_frequency=8,
                 hidden_dim=8, attention_dim=8, attention_heads=2, total_timesteps=100)

# ------------------------------------------------------------------------------------------------ seeds


def _observation(cell: int) -> np.ndarray:
    obs = np.zeros(OBS_SHAPE, dtype=np.uint8)
    obs[0, 0, :] = obs[0, -1, :] = obs[0, :, 0] = obs[0, :, -1] = 1
    obs[1, 1 + cell // 3, 1 + cell % 3] = 1
    obs[2, 3, 3] = 1
    return obs


def _play(agent: DQNAgent | TabularQAgent, steps: int = 24) -> None:
    """A few steps on a 3 x 3 room, so the networks, Adam, the replay and the history all hold something."""
    cell, length, total = 0, 0, 0.0
    for _ in range(steps):
        action = agent.act(_observation(cell))
        nxt = (cell + (1, 3, -1, -3)[action]) % 9
        done = nxt == 8
        reward = 0.99 if done else -0.01
        agent.observe(Transition(_observation(cell), action, reward, _observation(nxt), done, False))
        cell, length, total = (0, 0, 0.0) if done or length >= 6 else (nxt, length + 1, total + reward)
        if done or length == 0:
            agent.episodes.append(EpisodeStats(len(agent.episodes), total, length + 1, True if done else None))


def build_seeds(directory: Path) -> dict[str, bytes]:
    """Small valid saves: an MLP DQN with its replay, an attention DQN, a tabular agent, and the MLP save with
    its weights as a pre-safetensors weights.pt."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        agents: dict[str, tuple[DQNAgent | TabularQAgent, bool]] = {
            "mlp-replay": (DQNAgent(dqn_config_for("gridworld", **SMALL_DQN, network="mlp"), OBS_SHAPE, 4,
                                    ACTIONS, seed=1), True),
            "attention": (DQNAgent(dqn_config_for("gridworld", **SMALL_DQN, network="attention", dueling=True),
                                   OBS_SHAPE, 4, ACTIONS, seed=2), False),
            "qlearning": (TabularQAgent(tabular_config_for("gridworld", total_timesteps=100), OBS_SHAPE, 4,
                                        ACTIONS, seed=3), False),
        }
        seeds = {}
        for name, (agent, replay) in agents.items():
            _play(agent)
            path = save_agent(directory / f"seed-{name}.dqn", agent, env_id=ENV_ID, include_replay=replay)
            seeds[name] = path.read_bytes()
        mlp = agents["mlp-replay"][0]
        assert isinstance(mlp, DQNAgent)
        legacy = io.BytesIO()
        torch.save({"online": mlp.online.state_dict(), "target": mlp.target.state_dict(),
                    "optimizer": mlp.optimizer.state_dict()}, legacy)
        members = [m for m in read_members(seeds["mlp-replay"]) if m.name != "weights.safetensors"]
        members.append(Member("weights.pt", legacy.getvalue(), zipfile.ZIP_STORED))
        seeds["mlp-legacy"] = write_members(members)
    finally:
        torch.set_num_threads(threads)
    return seeds


# ------------------------------------------------------------------------------------------ zip members


@dataclasses.dataclass(frozen=True)
class Member:
    name: str
    data: bytes
    compress_type: int


def read_members(data: bytes) -> list[Member]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [Member(i.filename, archive.read(i), i.compress_type) for i in archive.infolist()]


def write_members(members: list[Member]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the mutations
        with zipfile.ZipFile(buffer, "w") as archive:
            for member in members:
                info = zipfile.ZipInfo(member.name, date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = member.compress_type
                archive.writestr(info, member.data)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------ value strategies

HOSTILE_INTS = [0, -1, 1, 2, 3, 255, 256, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63),
                10**6, 10**9, 10**12, 10**18, 10**100]
hostile_ints = st.one_of(st.sampled_from(HOSTILE_INTS), st.integers())
hostile_text = st.one_of(st.text(max_size=20), st.sampled_from(["", "\n", "a\nb", "\r", "\u2028", "\x00",
                                                                "mlp", "cnn", "attention", "dqn", "qlearning",
                                                                "replay.npz", "meta.json", "weights.pt",
                                                                "weights.safetensors", "q_table.npy"]))
json_scalars = st.one_of(st.none(), st.booleans(), hostile_ints, st.floats(), hostile_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(hostile_text, inner, max_size=5)),
    max_leaves=12,
)
shapes = st.one_of(
    st.lists(hostile_ints, max_size=6),
    st.sampled_from([[10**6, 10**6], [4, 10**6, 10**6], [0], [], [4, 5, 5, 0], [-4, 5, 5], [4, 5, 5],
                     [4, 100, 100], [4, 101, 101], [2**62, 2**62]]),
)


def byte_ops(draw: Callable[..., Any], data: bytes, max_ops: int = 4) -> bytes:
    """Flip bytes, overwrite runs, truncate, insert and duplicate chunks."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "duplicate", "delete"]))
        pos = draw(st.integers(0, max(len(buf), 1) - 1))
        if op == "flip" and buf:
            buf[pos] ^= draw(st.integers(1, 255))
        elif op == "overwrite":
            run = draw(st.one_of(st.binary(min_size=1, max_size=16),
                                 st.sampled_from([b"\xff" * 8, b"\x00" * 8, b"\x7f" * 4, b"PK\x03\x04"])))
            buf[pos:pos + len(run)] = run
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        elif op == "duplicate" and buf:
            length = draw(st.integers(1, 256))
            buf[draw(st.integers(0, len(buf))):0] = buf[pos:pos + length]
        elif op == "delete":
            del buf[pos:pos + draw(st.integers(1, 64))]
    return bytes(buf)


# ------------------------------------------------------------------------------------ inner formats


def _mutate_json_tree(draw: Callable[..., Any], tree: Any) -> Any:
    """Replace one node (picked by walking down at random) with a hypothesis JSON value, or delete it."""
    if not isinstance(tree, (dict, list)) or not tree or draw(st.integers(0, 3)) == 0:
        return draw(json_values)
    if isinstance(tree, dict):
        key = draw(st.sampled_from(sorted(tree)))
        copy = dict(tree)
        if draw(st.integers(0, 5)) == 0:
            del copy[key]
        else:
            copy[key] = _mutate_json_tree(draw, tree[key])
        return copy
    index = draw(st.integers(0, len(tree) - 1))
    copy = list(tree)
    copy[index] = _mutate_json_tree(draw, tree[index])
    return copy


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def mutate_meta(draw: Callable[..., Any], data: bytes) -> bytes:
    try:
        meta = json.loads(data)
    except ValueError:
        return byte_ops(draw, data)
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return byte_ops(draw, data)
    return _dumps(_mutate_json_tree(draw, meta))


SAFETENSORS_DTYPES = ["F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL", "F8_E4M3", "X", ""]


def mutate_safetensors(draw: Callable[..., Any], data: bytes) -> bytes:
    """Header length, header JSON (dtype, shape, offsets, names, metadata) or body."""
    (length,) = struct.unpack("<Q", data[:8])
    header, body = json.loads(data[8:8 + length]), data[8 + length:]
    op = draw(st.sampled_from(["length", "entry", "rename", "delete", "add", "metadata", "header", "body"]))
    names = sorted(k for k in header if k != "__metadata__")
    name = draw(st.sampled_from(names))
    if op == "length":
        return struct.pack("<Q", draw(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 7, 2**63, length + 1,
                                                                                 length - 1]))) + data[8:]
    if op == "body":
        return data[:8 + length] + byte_ops(draw, body)
    if op == "entry":
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        value = {"dtype": st.sampled_from(SAFETENSORS_DTYPES) | json_values, "shape": shapes,
                 "data_offsets": st.lists(hostile_ints, max_size=3) | json_values}[field]
        header[name] = {**header[name], field: draw(value)}
    elif op == "rename":
        new = draw(st.sampled_from(["online.x\ny", "optimizer.².exp_avg", "optimizer.1", "optimizer.x.y", "zzz",
                                    "online.", "target.\u2028"]) | hostile_text)
        header[new] = header.pop(name)
    elif op == "delete":
        del header[name]
    elif op == "add":
        header[draw(hostile_text)] = draw(json_values)
    elif op == "metadata":
        metadata = dict(header.get("__metadata__", {}))
        key = draw(st.sampled_from(["format", "optimizer_param_groups", "optimizer_scalars"]) | hostile_text)
        if key in metadata and key != "format" and draw(st.booleans()):
            metadata[key] = json.dumps(_mutate_json_tree(draw, json.loads(metadata[key])))
        else:
            metadata[key] = draw(hostile_text | json_values)
        header["__metadata__"] = metadata
    else:
        header = _mutate_json_tree(draw, header)
    text = _dumps(header)
    return struct.pack("<Q", len(text)) + text + body


NPY_DESCRS = ["<f8", "<f4", "|u1", "|b1", "<i8", "<i2", "|O", "<U10", "|V8", "<M8[s]", "<c16", "<f2", "|S1",
              [("a", "<f8")], [("a", "<f8", (1000, 1000))], ("<f8", (10**6,)), "<f16", ">f8", "f8"]


def _npy_parts(data: bytes) -> tuple[dict[str, Any], bytes] | None:
    try:
        stream = io.BytesIO(data)
        version = np.lib.format.read_magic(stream)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)(stream)
    except (ValueError, SyntaxError, TypeError, EOFError):
        return None
    shape, fortran, dtype = header
    return {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape}, \
        data[stream.tell():]


def _npy_bytes(header: Any, body: bytes) -> bytes:
    text = repr(header) if not isinstance(header, str) else header
    raw = text.encode("latin1", "replace")
    pad = -(len(raw) + 11) % 64
    raw = raw + b" " * pad + b"\n"
    if len(raw) < 65536:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw + body
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(raw)) + raw + body


def mutate_npy(draw: Callable[..., Any], data: bytes) -> bytes:
    """Header fields (shape, descr, fortran order), the whole header text, or the body."""
    parts = _npy_parts(data)
    if parts is None:
        return byte_ops(draw, data)
    header, body = parts
    op = draw(st.sampled_from(["shape", "descr", "fortran", "text", "body", "truncate", "bytes"]))
    if op == "shape":
        header["shape"] = tuple(draw(shapes | st.lists(st.integers(0, 300), max_size=4)))
    elif op == "descr":
        header["descr"] = draw(st.sampled_from(NPY_DESCRS))
    elif op == "fortran":
        header["fortran_order"] = True
    elif op == "text":
        return _npy_bytes(draw(st.text(max_size=80) | st.sampled_from(
            ["{'descr': '<f8', 'fortran_order': False, 'shape': (10**6,), }", "{}", "[1, 2]", "(" * 200,
             "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }"])), body)
    elif op == "body":
        return _npy_bytes(header, byte_ops(draw, body) if body else draw(st.binary(max_size=64)))
    elif op == "truncate":
        return _npy_bytes(header, body[:draw(st.integers(0, max(len(body) - 1, 0)))])
    else:
        return byte_ops(draw, data)
    return _npy_bytes(header, body)


REPLAY_ARRAYS = ["frames", "layout", "actions", "rewards", "terminated", "truncated", "valid", "age", "cursor",
                 "written", "in_episode", "last_sampled", "size", "rng"]


PER_SLOT_ARRAYS = {"actions", "rewards", "terminated", "truncated", "valid", "age"}
PER_STREAM_ARRAYS = {"cursor", "written", "in_episode"}
HOSTILE_LAYOUTS = [(1, 10**9), (10**5, 10**5), (2**31, 2), (1, 2**40), (10**9, 10**9), (3, 10**6), (0, 64),
                   (64, 1), (-1, 64), (1, 65), (2, 32), (1, 63)]


def _relayout(draw: Callable[..., Any], members: list[Member]) -> list[Member]:
    """Every array's header (and the layout array) made to agree on another (streams, slots) layout, the data
    left as it was: what a crafted replay that passes the shape checks looks like."""
    n, ring = draw(st.sampled_from(HOSTILE_LAYOUTS) | st.tuples(st.integers(-2, 2**40), st.integers(-2, 2**40)))
    result = []
    for member in members:
        parts, stem = _npy_parts(member.data), member.name.removesuffix(".npy")
        if parts is not None:
            header, body = parts
            if stem == "frames":
                header["shape"] = (n, ring, *header["shape"][2:])
            elif stem in PER_SLOT_ARRAYS:
                header["shape"] = (n, ring)
            elif stem in PER_STREAM_ARRAYS:
                header["shape"] = (n,)
            elif stem == "layout" and len(body) == 24:
                body = np.array([n, ring, np.frombuffer(body, "<i8")[2]], dtype="<i8").tobytes()
            member = dataclasses.replace(member, data=_npy_bytes(header, body))
        result.append(member)
    return result


def mutate_npz(draw: Callable[..., Any], data: bytes) -> bytes:
    """replay.npz: one inner array mutated (header or body), replaced, removed or duplicated, or all their
    headers made to agree on another layout."""
    try:
        members = read_members(data)
    except (zipfile.BadZipFile, ValueError, EOFError):
        return byte_ops(draw, data)
    op = draw(st.sampled_from(["npy", "npy", "npy", "remove", "swap", "random", "duplicate", "bytes", "relayout"]))
    if op == "bytes":
        return byte_ops(draw, data)
    if op == "relayout":
        return write_members(_relayout(draw, members))
    index = draw(st.integers(0, len(members) - 1))
    member = members[index]
    if op == "npy":
        if member.name == "rng.npy" and draw(st.booleans()):
            parts = _npy_parts(member.data)
            text = json.dumps(draw(json_values)).encode()
            new = _npy_bytes(parts[0] | {"shape": (len(text),)}, text) if parts else member.data
        else:
            new = mutate_npy(draw, member.data)
        members[index] = dataclasses.replace(member, data=new)
    elif op == "remove":
        del members[index]
    elif op == "swap":
        members[index] = dataclasses.replace(member, data=draw(st.sampled_from(members)).data)
    elif op == "random":
        members[index] = dataclasses.replace(member, data=draw(st.binary(max_size=200)))
    else:
        members.append(dataclasses.replace(member, data=mutate_npy(draw, member.data)))
    return write_members(members)


INNER = {"meta.json": mutate_meta, "weights.safetensors": mutate_safetensors, "replay.npz": mutate_npz,
         "q_table.npy": mutate_npy}


# ------------------------------------------------------------------------------------- save strategies


@dataclasses.dataclass(frozen=True)
class SaveInput:
    target: str
    """What was mutated, e.g. "bytes", "member:replay.npz:inner", "meta:config.buffer_size"."""
    seed: str
    data: bytes

    def __repr__(self) -> str:  # hypothesis prints this for a failing example
        return f"SaveInput({self.target!r}, {self.seed!r}, {len(self.data)} bytes: {self.data[:64]!r}...)"


def byte_mutations(seeds: dict[str, bytes]) -> st.SearchStrategy[SaveInput]:
    @st.composite
    def strategy(draw: Callable[..., Any]) -> SaveInput:
        seed = draw(st.sampled_from(sorted(seeds)))
        return SaveInput("bytes", seed, byte_ops(draw, seeds[seed], max_ops=6))
    return strategy()


def member_mutations(seeds: dict[str, bytes]) -> st.SearchStrategy[SaveInput]:
    @st.composite
    def strategy(draw: Callable[..., Any]) -> SaveInput:
        seed = draw(st.sampled_from(sorted(seeds)))
        members = read_members(seeds[seed])
        index = draw(st.integers(0, len(members) - 1))
        member = members[index]
        ops = ["inner", "inner", "inner", "bytes", "random", "other", "remove", "duplicate", "rename", "compress"]
        op = draw(st.sampled_from(ops if member.name in INNER else [o for o in ops if o != "inner"]))
        if op == "inner":
            members[index] = dataclasses.replace(member, data=INNER[member.name](draw, member.data))
        elif op == "bytes":
            members[index] = dataclasses.replace(member, data=byte_ops(draw, member.data))
        elif op == "random":
            members[index] = dataclasses.replace(member, data=draw(st.binary(max_size=300)))
        elif op == "other":
            members[index] = dataclasses.replace(member, data=draw(st.sampled_from(members)).data)
        elif op == "remove":
            del members[index]
        elif op == "duplicate":
            members.insert(draw(st.integers(0, len(members))), dataclasses.replace(
                member, data=draw(st.sampled_from([member.data, b"", b"{}"]))))
        elif op == "rename":
            members[index] = dataclasses.replace(member, name=draw(st.sampled_from(
                ["meta.json", "weights.pt", "weights.safetensors", "replay.npz", "q_table.npy", "x/../meta.json",
                 "META.JSON"])))
        else:
            stored = member.compress_type == zipfile.ZIP_STORED
            members[index] = dataclasses.replace(
                member, compress_type=zipfile.ZIP_DEFLATED if stored else zipfile.ZIP_STORED)
        return SaveInput(f"member:{member.name}:{op}", seed, write_members(members))
    return strategy()


META_FIELDS = ["format", "format_version", "saved_at", "env_id", "map_text", "agent_kind", "config", "obs_shape",
               "n_actions", "action_names", "frame_stack", "obs_scale", "num_envs", "step_count", "update_count",
               "epsilon", "episodes", "rng", "members"]
HOSTILE_CONFIG = {"buffer_size": [10**12, 10**9, 2**63, 0, -1, 1, 2], "hidden_dim": [10**9, 10**6, 0, -1],
                  "batch_size": [10**9, 0, -1], "attention_dim": [10**6, 3, 0], "attention_heads": [10**6, 0, 3],
                  "network": ["transformer", "mlp\nx", "cnn", "attention", ""], "frame_stack": [0, 10**9],
                  "learning_rate": [-1.0, float("inf"), float("nan"), 1e308]}


def meta_mutations(seeds: dict[str, bytes]) -> st.SearchStrategy[SaveInput]:
    @st.composite
    def strategy(draw: Callable[..., Any]) -> SaveInput:
        seed = draw(st.sampled_from(sorted(seeds)))
        members = read_members(seeds[seed])
        index = next(i for i, m in enumerate(members) if m.name == "meta.json")
        meta = json.loads(members[index].data)
        field = draw(st.sampled_from(META_FIELDS))
        if field == "config" and draw(st.integers(0, 3)):
            key = draw(st.sampled_from(sorted(set(meta["config"]) | set(HOSTILE_CONFIG))) | hostile_text)
            value = draw(st.sampled_from(HOSTILE_CONFIG[key]) | json_values if key in HOSTILE_CONFIG
                         else json_values)
            meta["config"] = {**meta["config"], key: value}
            target = f"meta:config.{key if key in meta['config'] and key.isidentifier() else '?'}"
        elif field == "obs_shape":
            meta[field], target = draw(shapes | json_values), f"meta:{field}"
        elif field in ("rng", "members", "episodes") and draw(st.booleans()):
            meta[field], target = _mutate_json_tree(draw, meta[field]), f"meta:{field}"
        elif draw(st.integers(0, 9)) == 0:
            del meta[field]
            target = f"meta:{field}:deleted"
        else:
            meta[field] = draw(hostile_ints | json_values)
            target = f"meta:{field}"
        members[index] = dataclasses.replace(members[index], data=_dumps(meta))
        return SaveInput(target, seed, write_members(members))
    return strategy()


# ----------------------------------------------------------------------------------------------- maps


@dataclasses.dataclass(frozen=True)
class MapInput:
    target: str
    data: bytes | str
    """str: parse_map's text; bytes: a map file's contents for load_map."""

    def __repr__(self) -> str:
        return f"MapInput({self.target!r}, {len(self.data)}: {self.data[:80]!r}...)"


def builtin_maps() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(MAP_DIR.glob("*.txt"))}


MAP_ALPHABET = "#.SGL \n;\r\t"


def map_inputs(maps: dict[str, str]) -> st.SearchStrategy[MapInput]:
    @st.composite
    def mutated(draw: Callable[..., Any]) -> MapInput:
        text = list(maps[draw(st.sampled_from(sorted(maps)))])
        for _ in range(draw(st.integers(1, 5))):
            op = draw(st.sampled_from(["replace", "insert", "delete", "dup-line", "drop-line"]))
            pos = draw(st.integers(0, max(len(text) - 1, 0)))
            char = draw(st.sampled_from(list(MAP_ALPHABET)) | st.characters())
            if op == "replace" and text:
                text[pos] = char
            elif op == "insert":
                text.insert(pos, char)
            elif op == "delete" and text:
                del text[pos]
            else:
                lines = "".join(text).split("\n")
                line = draw(st.integers(0, len(lines) - 1))
                if op == "dup-line":
                    lines[line:line] = [lines[line]] * draw(st.integers(1, 120))
                else:
                    del lines[line]
                text = list("\n".join(lines))
        return MapInput("builtin-mutated", "".join(text))

    @st.composite
    def sized(draw: Callable[..., Any]) -> MapInput:
        """Grids near the size limits, and very long lines."""
        rows = draw(st.sampled_from([1, 2, 99, 100, 101]) | st.integers(1, 120))
        cols = draw(st.sampled_from([1, 2, 99, 100, 101, 10**4, 10**6, (1 << 20) + 1]) | st.integers(1, 120))
        cols = min(cols, (1 << 20) + 2) if rows == 1 else min(cols, 200)
        grid = [["."] * cols for _ in range(rows)]
        grid[0][0] = "S"
        grid[-1][-1] = draw(st.sampled_from(["G", ".", "S", "L", "\u00a0"]))
        return MapInput("sized", "\n".join("".join(row) for row in grid))

    texts = st.one_of(
        st.builds(lambda t: MapInput("alphabet", t), st.text(alphabet=MAP_ALPHABET, max_size=300)),
        st.builds(lambda t: MapInput("alphabet-ish", t), st.text(alphabet=MAP_ALPHABET + "\x00\u2028\x85\ufeff\x0c",
                                                                  max_size=300)),
        st.builds(lambda t: MapInput("unicode", t), st.text(max_size=200)),
        mutated(),
        sized(),
    )

    @st.composite
    def as_file(draw: Callable[..., Any]) -> MapInput:
        source = draw(texts)
        assert isinstance(source.data, str)
        encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "raw", "nul", "cut"]))
        if encoding == "raw":
            data = draw(st.binary(max_size=300))
        elif encoding == "latin-1":
            data = source.data.encode("latin-1", "replace")
        else:
            data = source.data.encode("utf-8-sig" if encoding == "utf-8-sig" else
                                      "utf-16" if encoding == "utf-16" else "utf-8", "surrogatepass")
            if encoding == "nul":
                pos = draw(st.integers(0, len(data)))
                data = data[:pos] + b"\x00" + data[pos:]
            elif encoding == "cut" and data:
                data = data[:draw(st.integers(0, len(data) - 1))]
        return MapInput(f"file:{source.target}:{encoding}", data)

    return st.one_of(texts, as_file())


# ------------------------------------------------------------------------------------------- outcomes


@dataclasses.dataclass(frozen=True)
class Outcome:
    call: str
    status: str
    """"loaded", "refused" or "finding"."""
    reason: str
    """The refusal's class (its message with numbers and details stripped), or the finding's kind."""
    message: str = ""


class Hang(BaseException):  # noqa: N818 - raised by the alarm; BaseException so no `except Exception` eats it
    """One call ran past the time limit."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    if seconds <= 0:
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_WRAPPED = re.compile(r"\((\w*(?:Error|Exception|Warning|Exit|Interrupt)): ")


def is_one_line(message: str) -> bool:
    return len(message.splitlines()) == 1 and message.strip() == message


def refusal_reason(message: str, source: str) -> str:
    """A refusal's message reduced to its class: the part before any detail, numbers stripped."""
    text = message[len(source):].lstrip(":0123456789 ") if message.startswith(source) else message
    wrapped = _WRAPPED.search(text)
    if wrapped:  # the catch-all in checkpoint._one_line_errors: an exception no check anticipated
        return f"unanticipated {wrapped.group(1)}"
    head, _, rest = text.partition("(")
    detail = " ".join(re.sub(r"[\d'\"]+", "", rest).split()[:3])
    return re.sub(r"\s+", " ", re.sub(r"'[^']*'|\d+", "", head)).strip() + (f" ({detail})" if detail else "")


def _call(call: str, fn: Callable[[], Any], error_type: type[Exception], source: str, seconds: int) -> Outcome:
    try:
        with time_limit(seconds):
            result = fn()
    except error_type as error:
        message = str(error)
        if not is_one_line(message):
            return Outcome(call, "finding", f"multi-line {error_type.__name__}", message)
        if source not in message:
            return Outcome(call, "finding", f"{error_type.__name__} without the file name", message)
        if "not enough memory to load" in message:  # a MemoryError no check anticipated
            return Outcome(call, "finding", "out of memory", message)
        return Outcome(call, "refused", refusal_reason(message, source), message)
    except Hang as error:
        return Outcome(call, "finding", "hang", str(error))
    except (Exception, MemoryError, RecursionError) as error:  # noqa: BLE001 - exactly what a finding is
        return Outcome(call, "finding", type(error).__name__, f"{type(error).__name__}: {error}"[:500])
    notice = getattr(result, "notice", None)
    if notice is not None and (not is_one_line(notice) or source not in notice):
        return Outcome(call, "finding", "multi-line notice", notice)
    return Outcome(call, "loaded", "left replay behind" if notice else "loaded")


def check_save(path: Path, seconds: int = 0) -> list[Outcome]:
    """load_agent (without and with the replay) and read_save_info on one file."""
    source = str(path)
    return [
        _call("load_agent", lambda: load_agent(path), CheckpointError, source, seconds),
        _call("load_agent(with_replay)", lambda: load_agent(path, with_replay=True), CheckpointError, source,
              seconds),
        _call("read_save_info", lambda: read_save_info(path), CheckpointError, source, seconds),
    ]


def _usable(grid: Any) -> None:
    """A parsed map must make a working environment."""
    env = GridWorldEnv(grid)
    env.reset(seed=0)
    env.step(0)
    env.shortest_path_length()


def check_map(item: MapInput, path: Path, seconds: int = 0) -> list[Outcome]:
    """parse_map for text, load_map on a written file for bytes; a parsed map must also build an env."""
    if isinstance(item.data, str):
        return [_call("parse_map", lambda: _usable(parse_map(item.data, source="<fuzz>")), MapError, "<fuzz>",
                      seconds)]
    path.write_bytes(item.data)
    return [_call("load_map", lambda: _usable(load_map(path)), MapError, str(path), seconds)]
