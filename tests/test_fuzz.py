"""Fuzzing saves and maps: every mutated input loads, or fails with the project's own one-line error.

A short, deterministic run of the strategies in tests/fuzz_strategies.py; benchmarks/fuzz_saves.py runs the
same ones with thousands of examples under a memory limit. Regression examples for what the fuzzer found
are at the end.
"""

from __future__ import annotations

import json
import resource
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.checkpoint import load_agent
from agents.errors import CheckpointError
from tests.fuzz_strategies import (
    MapInput,
    Member,
    Outcome,
    SaveInput,
    _npy_bytes,
    _npy_parts,
    build_seeds,
    builtin_maps,
    byte_mutations,
    check_map,
    check_save,
    map_inputs,
    member_mutations,
    meta_mutations,
    read_members,
    write_members,
)

SAVE_EXAMPLES = 70
"""Per save family (bytes, member, meta); each example loads three times."""
MAP_EXAMPLES = 300
MAX_GROWTH_MIB = 500
FUZZ = settings(max_examples=SAVE_EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return build_seeds(tmp_path_factory.mktemp("seeds"))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def findings(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.status == "finding"]


def run_saves(strategy: st.SearchStrategy[SaveInput], path: Path) -> None:
    before = _rss_mib()

    @FUZZ
    @given(strategy)
    def fuzz(item: SaveInput) -> None:
        path.write_bytes(item.data)
        assert findings(check_save(path)) == []

    fuzz()
    assert _rss_mib() - before < MAX_GROWTH_MIB


def _rss_mib() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def test_seeds_load(seeds, tmp_path):
    for name, data in seeds.items():
        path = tmp_path / f"{name}.dqn"
        path.write_bytes(data)
        outcomes = check_save(path)
        assert [o.status for o in outcomes] == ["loaded"] * 3, (name, outcomes)


def test_byte_mutated_saves_load_or_fail_in_one_line(seeds, tmp_path):
    run_saves(byte_mutations(seeds), tmp_path / "fuzz.dqn")


def test_member_mutated_saves_load_or_fail_in_one_line(seeds, tmp_path):
    run_saves(member_mutations(seeds), tmp_path / "fuzz.dqn")


def test_meta_mutated_saves_load_or_fail_in_one_line(seeds, tmp_path):
    run_saves(meta_mutations(seeds), tmp_path / "fuzz.dqn")


def test_fuzzed_maps_parse_or_fail_in_one_line(tmp_path):
    before = _rss_mib()
    path = tmp_path / "fuzz.txt"

    @settings(FUZZ, max_examples=MAP_EXAMPLES)
    @given(map_inputs(builtin_maps()))
    def fuzz(item: MapInput) -> None:
        assert findings(check_map(item, path)) == []

    fuzz()
    assert _rss_mib() - before < MAX_GROWTH_MIB


# --------------------------------------------------------------------------- what the fuzzer found (fixed)


def with_member(data: bytes, name: str, edit: Callable[[bytes], bytes | None], rename: str | None = None) -> bytes:
    members = []
    for member in read_members(data):
        if member.name == name:
            new = edit(member.data)
            if new is None:
                continue
            member = Member(rename or name, new, member.compress_type)
        members.append(member)
    return write_members(members)


def edit_safetensors(edit: Callable[[dict], None]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + length])
        edit(header)
        text = json.dumps(header).encode()
        return struct.pack("<Q", len(text)) + text + data[8 + length:]
    return apply


def rename_tensor(old: str, new: str) -> Callable[[dict], None]:
    def edit(header: dict) -> None:
        header[new] = header.pop(old)
    return edit


def assert_refused(tmp_path: Path, data: bytes, fragment: str, *, with_replay: bool = False) -> None:
    path = tmp_path / "found.dqn"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as error:
        load_agent(path, with_replay=with_replay)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: "), message
    assert fragment in message, message
    assert "not enough memory to load" not in message, message


@pytest.mark.parametrize(("old", "new", "fragment"), [
    # the MLP's input reference may be missing (older saves lack it), so a renamed one is only unexpected
    ("online.input_reference", "online.x\ny", "unexpected 'x\\ny'"),  # a state-dict key with a line break
    ("target.input_reference", "target.\u2028", "unexpected '\\u2028'"),
    ("online.input_reference", "a\nb", "unknown tensor 'a\\nb'"),
    ("online.input_reference", "optimizer.\u00b2.exp_avg", "bad optimizer entry"),  # '²'.isdigit(); int() refuses
])
def test_tensor_names_from_the_file_stay_on_one_line(seeds, tmp_path, old, new, fragment):
    data = with_member(seeds["mlp-replay"], "weights.safetensors", edit_safetensors(rename_tensor(old, new)))
    assert_refused(tmp_path, data, fragment)


def test_unknown_config_fields_with_line_breaks_stay_on_one_line(seeds, tmp_path):
    def edit(data: bytes) -> bytes:
        meta = json.loads(data)
        meta["config"]["a\nb"] = 1
        return json.dumps(meta).encode()
    assert_refused(tmp_path, with_member(seeds["mlp-replay"], "meta.json", edit), "unknown field(s) 'a\\nb'")


def test_a_q_table_header_declaring_terabytes_is_refused_before_allocating(seeds, tmp_path):
    def edit(data: bytes) -> bytes:
        header, body = _npy_parts(data)
        return _npy_bytes({**header, "shape": (10**6, 10**6)}, body)
    assert_refused(tmp_path, with_member(seeds["qlearning"], "q_table.npy", edit), "Q-table is (1000000, 1000000)")


def test_q_table_header_that_does_not_tokenize_is_corrupt(seeds, tmp_path):
    data = with_member(seeds["qlearning"], "q_table.npy", lambda d: _npy_bytes("{'descr': (((", b""))
    assert_refused(tmp_path, data, "corrupt save (q_table.npy")


def test_a_replay_whose_headers_agree_on_billions_of_slots_is_refused_before_allocating(seeds, tmp_path):
    def relayout(data: bytes) -> bytes:
        members = []
        for member in read_members(data):
            header, body = _npy_parts(member.data)
            stem = member.name.removesuffix(".npy")
            if stem in ("frames", "actions", "rewards", "terminated", "truncated", "valid", "age"):
                header["shape"] = (10**9, 10**9, *header["shape"][2:])
            elif stem in ("cursor", "written", "in_episode"):
                header["shape"] = (10**9,)
            elif stem == "layout":
                body = struct.pack("<3q", 10**9, 10**9, 1)
            members.append(Member(member.name, _npy_bytes(header, body), member.compress_type))
        return write_members(members)
    data = with_member(seeds["mlp-replay"], "replay.npz", relayout)
    assert_refused(tmp_path, data, "more than the config's buffer_size of 64", with_replay=True)


@pytest.mark.parametrize("source", ["weights.safetensors", "meta.json"])
def test_legacy_weights_that_are_not_a_pickle_are_corrupt(seeds, tmp_path, source):
    """torch's weights-only unpickler fails on such bytes with KeyError, IndexError and more."""
    payload = dict((m.name, m.data) for m in read_members(seeds["mlp-replay"]))[source]
    data = with_member(seeds["mlp-replay"], "weights.safetensors", lambda d: payload, rename="weights.pt")
    assert_refused(tmp_path, data, "weights.pt is not a weights file")


def test_a_safetensors_header_of_the_wrong_structure_is_corrupt(seeds, tmp_path):
    def edit(header: dict) -> None:
        header[next(k for k in header if k.startswith("online."))] = {"x": 1, "y": 2}
    data = with_member(seeds["mlp-replay"], "weights.safetensors", edit_safetensors(edit))
    assert_refused(tmp_path, data, "not a safetensors file")


def test_a_zip_directory_pointing_before_the_file_is_corrupt_not_an_io_error(seeds, tmp_path):
    data = bytearray(seeds["qlearning"])
    end = data.rindex(b"PK\x05\x06")
    (offset,) = struct.unpack_from("<I", data, end + 16)
    struct.pack_into("<I", data, end + 16, offset + 4096)  # members now start 4 KiB before the file
    assert_refused(tmp_path, bytes(data), "corrupt save")


def test_a_replay_too_large_to_reserve_is_refused_naming_buffer_size(seeds, tmp_path):
    def edit(data: bytes) -> bytes:
        meta = json.loads(data)
        meta["config"]["buffer_size"] = 10**15
        return json.dumps(meta).encode()
    assert_refused(tmp_path, with_member(seeds["mlp-replay"], "meta.json", edit), "buffer_size 1,000,000,000,000,000")


def test_an_obs_shape_past_int64_cannot_rebuild_the_agent(seeds, tmp_path):
    def edit(data: bytes) -> bytes:
        meta = json.loads(data)
        meta["obs_shape"] = [4, 2**63, 5]
        return json.dumps(meta).encode()
    assert_refused(tmp_path, with_member(seeds["attention"], "meta.json", edit), "rebuild the agent")
