"""Loading a save reads only what it needs and never more than the save's own config allows.

Hostile files (a member that inflates a thousandfold, an array header declaring terabytes) are refused with
one line before anything is allocated; playing and evaluating never touch the replay; and restoring a replay
costs about one copy of it.
"""

from __future__ import annotations

import io
import json
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agents.checkpoint import load_agent, load_whole, read_save_info, save_agent
from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.envs.registry import make_env
from agents.errors import CheckpointError
from app.cli import main

ROOT = Path(__file__).resolve().parents[1]
OBS = make_env("gridworld/open-room", render_mode=None).observation_space.shape
BOMB = 256 << 20
"""Inflated size of the zip bombs: hundreds of times what their member may hold (1 GiB works alike, slower)."""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_agent() -> DQNAgent:
    config = dqn_config_for("gridworld", network="mlp", hidden_dim=16, buffer_size=200, learning_starts=10**6)
    agent = DQNAgent(config, OBS, 4, ("UP", "RIGHT", "DOWN", "LEFT"), seed=0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        agent.replay.add(rng.integers(0, 2, OBS, dtype=np.uint8), 1, 0.0, rng.integers(0, 2, OBS, dtype=np.uint8),
                         False, False)
    return agent


def saved(tmp_path: Path, *, replay: bool = True) -> Path:
    return save_agent(tmp_path / "agent.dqn", small_agent(), env_id="gridworld/open-room", include_replay=replay)


def with_replay(path: Path, replay: bytes) -> Path:
    """The save at `path` with `replay` as its replay member (stored, as a save stores it)."""
    replace_member(path, "replay.npz", lambda archive: archive.writestr("replay.npz", replay))
    return path


def replace_member(path: Path, name: str, write) -> None:
    """Rebuild the save with member `name` written by `write(archive)` (the others copied as they were)."""
    with zipfile.ZipFile(path) as archive:
        others = [(info, archive.read(info)) for info in archive.infolist() if info.filename != name]
    with zipfile.ZipFile(path, "w", compresslevel=1) as archive:
        for info, data in others:
            archive.writestr(info, data)
        write(archive)


def deflated_zeros(archive: zipfile.ZipFile, name: str, size: int, prefix: bytes = b"", *, zip64: bool = True
                   ) -> None:
    """A member that is `size` bytes of zeros once inflated, and about a thousandth of that on disk."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    chunk = bytes(1 << 20)
    with archive.open(info, "w", force_zip64=zip64) as member:
        member.write(prefix)
        for _ in range(size // len(chunk)):
            member.write(chunk)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def assert_one_line(error: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("member", ["weights.safetensors", "meta.json"])
def test_a_small_file_that_inflates_hundreds_of_times_is_refused_before_it_is_read(tmp_path, member):
    path = saved(tmp_path, replay=False)
    replace_member(path, member, lambda archive: deflated_zeros(archive, member, BOMB))
    assert path.stat().st_size < BOMB // 100
    before = peak_rss_mib()
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line(error, path, member)
    assert peak_rss_mib() - before < 100


def declare_size(path: Path, name: str, size: int) -> None:
    """Make the zip directory say that member `name` (written without zip64) inflates to `size` bytes."""
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")
    while data[entry + 46:entry + 46 + len(name)] != name.encode():
        entry = data.find(b"PK\x01\x02", entry + 1)
    struct.pack_into("<I", data, entry + 24, size)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("member", ["weights.safetensors", "meta.json"])
def test_a_member_that_inflates_past_the_size_it_declares_is_not_inflated(tmp_path, member):
    path = saved(tmp_path, replay=False)
    replace_member(path, member, lambda archive: deflated_zeros(archive, member, BOMB, zip64=False))
    declare_size(path, member, 100)
    before = peak_rss_mib()
    for load in (load_agent, read_save_info) if member == "meta.json" else (load_agent,):
        with pytest.raises(CheckpointError) as error:
            load(path)
        assert_one_line(error, path, member)
    assert peak_rss_mib() - before < 100


def many_entries(count: int) -> bytes:
    """A zip archive of `count` empty members: a directory of about 50 bytes an entry on disk, ten times that
    parsed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"{index}.npy", b"")
    return buffer.getvalue()


def test_a_zip_directory_of_tens_of_thousands_of_entries_is_refused_before_it_is_parsed(tmp_path):
    crowd = many_entries(40_000)
    path = with_replay(saved(tmp_path), crowd)
    with pytest.raises(CheckpointError) as error:
        load_agent(path, with_replay=True)
    assert_one_line(error, path, "replay's zip directory", "MiB")
    assert read_save_info(path).has_replay  # the save's own directory is small
    crowded = tmp_path / "crowded.dqn"
    crowded.write_bytes(crowd)
    with pytest.raises(CheckpointError) as error:
        read_save_info(crowded)
    assert_one_line(error, crowded, "not a DQN Arcade save", "zip directory")


@pytest.mark.parametrize("hostile", ["inflating frames", "crowded directory"])
def test_opening_a_save_for_resuming_leaves_a_hostile_replay_behind_in_one_line(tmp_path, hostile):
    """load_whole (the window opens saves with it) reads the replay under the same bounds as a resume."""
    agent = small_agent()
    replay = many_entries(40_000) if hostile == "crowded directory" else inflating_frames(agent)
    path = with_replay(save_agent(tmp_path / "agent.dqn", agent, env_id="gridworld/open-room", include_replay=True),
                       replay)
    before = peak_rss_mib()
    loaded = load_whole(path)
    assert peak_rss_mib() - before < 100
    assert len(loaded.agent.replay) == 0 and loaded.agent.step_count == agent.step_count
    assert "replay buffer was left behind" in loaded.notice and "\n" not in loaded.notice


def npz_with(arrays: dict[str, np.ndarray], raw: dict[str, bytes]) -> bytes:
    """An .npz of `arrays`, plus members given as raw .npy bytes (for headers that lie)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as npz:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.save(member, array, allow_pickle=False)
            npz.writestr(f"{name}.npy", member.getvalue())
        for name, data in raw.items():
            npz.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_a_replay_declaring_nine_tebibytes_is_refused_without_allocating(tmp_path):
    agent = small_agent()
    path = save_agent(tmp_path / "agent.dqn", agent, env_id="gridworld/open-room", include_replay=True)
    state = {k: v for k, v in agent.replay.state_dict().items() if k != "frames"}
    huge = (1, 9 * (1 << 40) // 100, *OBS)  # 9 TiB of frames
    replay = npz_with(state, {"frames": npy_header(huge) + bytes(1000)})
    replace_member(path, "replay.npz", lambda archive: archive.writestr("replay.npz", replay))
    before = peak_rss_mib()
    with pytest.raises(CheckpointError) as error:
        load_agent(path, with_replay=True)
    assert_one_line(error, path, "frames")
    assert peak_rss_mib() - before < 100
    state["layout"] = np.array([1, huge[1], 1])
    state.update({name: np.zeros(1, np.uint8) for name in ("valid",)})
    replay = npz_with(state, {"frames": npy_header(huge) + bytes(1000)})
    replace_member(path, "replay.npz", lambda archive: archive.writestr("replay.npz", replay))
    with pytest.raises(CheckpointError) as error:
        load_agent(path, with_replay=True)
    assert_one_line(error, path)


def inflating_frames(agent: DQNAgent) -> bytes:
    """The agent's replay as an .npz whose frames member inflates to hundreds of times their shape's size."""
    state = agent.replay.state_dict()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as npz:
        for name, array in state.items():
            if name != "frames":
                member = io.BytesIO()
                np.save(member, array, allow_pickle=False)
                npz.writestr(f"{name}.npy", member.getvalue())
        deflated_zeros(npz, "frames.npy", BOMB, prefix=npy_header(state["frames"].shape))
    return buffer.getvalue()


def test_a_replay_member_that_inflates_beyond_its_shape_is_refused(tmp_path):
    agent = small_agent()
    path = with_replay(save_agent(tmp_path / "agent.dqn", agent, env_id="gridworld/open-room", include_replay=True),
                       inflating_frames(agent))
    before = peak_rss_mib()
    with pytest.raises(CheckpointError) as error:
        load_agent(path, with_replay=True)
    assert_one_line(error, path, "frames")
    assert peak_rss_mib() - before < 100


def test_playing_evaluating_and_opening_never_read_the_replay(tmp_path, capsys):
    path = saved(tmp_path)
    replace_member(path, "replay.npz", lambda archive: archive.writestr("replay.npz", b"not an npz at all" * 100))
    assert read_save_info(path).has_replay
    assert len(load_agent(path).agent.replay) == 0  # weights and counters only
    assert main(["eval", str(path), "--episodes", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 1
    with pytest.raises(CheckpointError) as error:
        load_agent(path, with_replay=True)  # only resuming training reads it
    assert_one_line(error, path, "replay")


def test_any_failure_while_loading_is_one_line_naming_the_file(tmp_path, monkeypatch):
    path = saved(tmp_path)
    from agents import save_members

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(save_members, "unpack_weights", out_of_memory)
    monkeypatch.setattr("agents.checkpoint.unpack_weights", out_of_memory)
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line(error, path, "not enough memory")

    def broken(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("agents.checkpoint.unpack_weights", broken)
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line(error, path, "Input/output error")


def test_a_save_whose_config_cannot_fit_in_memory_is_refused_before_building(tmp_path):
    path = saved(tmp_path)
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    meta["config"]["hidden_dim"] = 10**9
    replace_member(path, "meta.json", lambda archive: archive.writestr("meta.json", json.dumps(meta)))
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line(error, path, "GiB")


def test_the_weights_are_a_safetensors_file_any_tool_can_read(tmp_path):
    from safetensors.numpy import load

    agent = small_agent()
    path = save_agent(tmp_path / "agent.dqn", agent, env_id="gridworld/open-room")
    with zipfile.ZipFile(path) as archive:
        tensors = load(archive.read("weights.safetensors"))
    first = next(k for k in agent.online.state_dict() if k.endswith("weight"))
    np.testing.assert_array_equal(tensors[f"online.{first}"], agent.online.state_dict()[first].numpy())


PEAK_SCRIPT = """
import resource, sys, numpy as np, torch
torch.set_num_threads(1)
from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.envs.registry import make_env
from agents.checkpoint import load_agent, save_agent
slots = int(sys.argv[2])
if sys.argv[1] == "save":
    config = dqn_config_for("atari", network="cnn", buffer_size=slots, learning_starts=10**9)
    agent = DQNAgent(config, (4, 84, 84), 6, tuple("abcdef"), frame_stack=4, obs_scale=1 / 255, seed=0)
    rng = np.random.default_rng(0)
    agent.replay.frames[...] = rng.integers(0, 16, agent.replay.frames.shape, dtype=np.uint8)
    agent.replay.valid[...] = True
    agent.replay.valid[0, -1] = False
    agent.replay.age[...] = 200
    agent.replay.written[...] = slots
    agent.replay._size = slots - 1
    save_agent(sys.argv[3], agent, env_id="ALE/Breakout-v5", include_replay=True)
else:
    agent = load_agent(sys.argv[3], with_replay=sys.argv[1] == "load-replay").agent
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, agent.replay.frames.nbytes, len(agent.replay))
"""


def test_restoring_a_replay_costs_about_one_copy_of_it(tmp_path):
    """Fresh processes load the same save with and without its replay: the peaks differ by about the frames
    themselves (they must live somewhere), not by two copies of them."""
    slots, path = 4_000, str(tmp_path / "atari.dqn")
    run = [sys.executable, "-c", PEAK_SCRIPT]
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PATH": ""}
    subprocess.run([*run, "save", str(slots), path], check=True, env=env, cwd=ROOT)

    def load(kind: str) -> list[int]:
        out = subprocess.run([*run, kind, str(slots), path], check=True, env=env, cwd=ROOT, capture_output=True,
                             text=True).stdout
        return [int(x) for x in out.split()]

    (without, _, empty), (with_replay, frames, size) = load("load"), load("load-replay")
    assert empty == 0 and size == slots - 1
    growth = with_replay - without
    print(f"restoring {frames / (1 << 20):.0f} MiB of frames raised the peak by {growth / (1 << 20):.0f} MiB")
    assert growth < 1.25 * frames + 16 * (1 << 20), f"peak grew {growth / frames:.2f}x the frames"
