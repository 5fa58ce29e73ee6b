"""Reading and writing the members of a save without trusting their sizes: the bounded half of checkpoint.py.

Every read here is capped before it starts: a member whose declared size exceeds what the agent's own config
says it can hold is refused, so a small file that inflates to gigabytes, or an array header that declares a
9 TiB shape, costs nothing; so does a zip directory of a million entries (refused before it is parsed) and a
member that inflates past the size it declares (never inflated further). The replay's frames are streamed from
the archive straight into the buffer, in chunks, so a resume costs about one copy of the replay in memory.

- Weights are a safetensors file (``weights.safetensors``): a JSON header plus raw tensors, readable by any
  tool without PyTorch's pickle machinery. The optimizer's non-tensor state (Adam's hyperparameters) is JSON
  in the header's metadata. Older saves' ``weights.pt`` are read with ``torch.load(weights_only=True)``.
- The replay is an ``.npz`` stored uncompressed inside the save, its members deflated. It is read through a
  window onto the save file, member by member, NumPy headers first.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tokenize
import zipfile
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from agents.replay import _age_from_first, generator_from_json

WEIGHTS_FORMAT = "dqn-arcade-weights"
MAX_HEADER_BYTES = 64 * 1024
"""A NumPy array header or the slack a member may have beyond its data."""
MAX_DIRECTORY_BYTES = 1 << 20
"""The zip directory of a save or of its replay: a dozen members take a few kB; a million would take 50 MB
on disk and half a GiB once parsed."""
FRAME_CHUNK_BYTES = 8 * 1024 * 1024
"""Frames are read into the replay this many bytes at a time."""


class MemberError(ValueError):
    """A member that is too large, of the wrong shape, or unreadable (the message says which, in one line)."""


def read_capped(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """The member's bytes, refused before reading when its declared size exceeds `limit`."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise MemberError(f"{name} is missing") from None
    if info.file_size > limit:
        raise MemberError(f"{name} declares {_size(info.file_size)}, more than the {_size(limit)} it can need")
    with archive.open(info) as member:  # never archive.read: it inflates up to 2 GiB at once, whatever is declared
        return member.read(info.file_size)  # zipfile checks the CRC, so a member that inflates further fails it


def open_zip(fileobj: IO[bytes]) -> zipfile.ZipFile:
    """The zip archive in `fileobj`, refused before its directory is parsed when that directory is larger than
    MAX_DIRECTORY_BYTES (parsed, a directory takes about ten times its size in memory)."""
    guard = _DirectoryGuard(fileobj)
    archive = zipfile.ZipFile(guard)
    guard.cap = None
    return archive


class _DirectoryGuard:
    """A file whose reads are capped while zipfile opens it: zipfile reads the directory in one read."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self._file = fileobj
        self.cap: int | None = MAX_DIRECTORY_BYTES

    def read(self, n: int | None = -1) -> bytes:
        if self.cap is not None and n is not None and n > self.cap:
            raise MemberError(f"zip directory is {_size(n)}, where a save's takes a few kB (at most "
                              f"{_size(self.cap)})")
        return self._file.read(n)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def seekable(self) -> bool:
        return True


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# ------------------------------------------------------------------------------------------------- weights


def weights_limit(agent: Any) -> int:
    """The most bytes a weights member of this agent can need: two networks and Adam's two moments, plus
    a generous allowance for headers."""
    network = sum(t.numel() * t.element_size() for t in agent.online.state_dict().values())
    return 4 * network + (1 << 20) + network // 4


def pack_weights(online: nn.Module, target: nn.Module | None, optimizer: torch.optim.Optimizer | None) -> bytes:
    """Both networks and the optimizer as one safetensors file (tensors contiguous, on the CPU).

    With target and optimizer None it holds the online network alone: a policy to play and inspect (a few MB
    instead of four times as many), from which training restarts with target = online and a fresh optimizer.
    """
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in (("online", online), ("target", target)):
        if module is not None:
            for key, tensor in module.state_dict().items():
                tensors[f"{prefix}.{key}"] = tensor.detach().cpu().contiguous()
    if optimizer is None:
        return save_safetensors(tensors, metadata={"format": WEIGHTS_FORMAT, "policy_only": "true"})
    state = optimizer.state_dict()
    scalars: dict[str, Any] = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    metadata = {"format": WEIGHTS_FORMAT, "optimizer_param_groups": json.dumps(state["param_groups"]),
                "optimizer_scalars": json.dumps(scalars)}
    return save_safetensors(tensors, metadata=metadata)


def unpack_weights(data: bytes) -> dict[str, Any]:
    """{"online": state dict, "target": state dict, "optimizer": optimizer state dict} from pack_weights;
    a policy-only file gives {"online": state dict, "target": None, "optimizer": None}."""
    metadata = _safetensors_metadata(data)
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise MemberError("the weights file is not one of DQN Arcade's")
    try:
        tensors = load_safetensors(data)
    except SafetensorError as error:
        raise MemberError(f"the weights file is not a safetensors file ({error})"[:200]) from None
    online: dict[str, torch.Tensor] = {}
    target: dict[str, torch.Tensor] = {}
    optimizer_state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        prefix, _, key = name.partition(".")
        if prefix == "online":
            online[key] = tensor
        elif prefix == "target":
            target[key] = tensor
        elif prefix == "optimizer":
            index, _, field = key.partition(".")
            optimizer_state.setdefault(_index(index), {})[field] = tensor
        else:
            raise MemberError(f"the weights file holds an unknown tensor {name[:60]!r}")
    if metadata.get("policy_only") == "true":
        if target or optimizer_state:
            raise MemberError("the weights file says it holds a policy only, but it has more")
        return {"online": online, "target": None, "optimizer": None}
    try:
        groups = json.loads(metadata.get("optimizer_param_groups", "null"))
        scalars = json.loads(metadata.get("optimizer_scalars", "{}"))
    except (ValueError, RecursionError):
        raise MemberError("the weights file's optimizer metadata is not JSON") from None
    if not isinstance(groups, list) or not isinstance(scalars, dict):
        raise MemberError("the weights file lacks the optimizer's parameter groups")
    for name, value in scalars.items():
        index, _, field = str(name).partition(".")
        optimizer_state.setdefault(_index(index), {})[field] = value
    return {"online": online, "target": target, "optimizer": {"state": optimizer_state, "param_groups": groups}}


def _index(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 6:  # int() refuses digits such as '²'
        raise MemberError(f"the weights file names a bad optimizer entry {text[:20]!r}")
    return int(text)


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The string metadata of a safetensors file: an 8-byte little-endian header length, then JSON."""
    if len(data) < 8:
        raise MemberError("the weights file is truncated")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise MemberError("the weights file's header runs past its end")
    try:
        header = json.loads(data[8:8 + length])
    except (ValueError, RecursionError):
        raise MemberError("the weights file's header is not JSON") from None
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise MemberError("the weights file's header is not a safetensors header")
    return metadata


# -------------------------------------------------------------------------------------------------- replay


class _Window(io.RawIOBase):
    """A read-only, seekable view of `size` bytes of a file from `start`: one stored member of the save."""

    def __init__(self, fileobj: IO[bytes], start: int, size: int) -> None:
        super().__init__()
        self._file, self._start, self._length, self._pos = fileobj, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._length}[whence]
        self._pos = min(max(base + offset, 0), self._length)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._length - self._pos)
        if count <= 0:
            return 0
        self._file.seek(self._start + self._pos)
        got = self._file.readinto(view[:count]) or 0
        self._pos += got
        return got


def stored_member(fileobj: IO[bytes], info: zipfile.ZipInfo) -> _Window:
    """A window onto the raw bytes of a member written without compression (as the save writes its replay)."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise MemberError(f"{info.filename} is compressed; a save stores its replay uncompressed")
    fileobj.seek(info.header_offset)
    header = fileobj.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise MemberError(f"{info.filename} has a damaged header")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    fileobj.seek(0, os.SEEK_END)
    if start + info.compress_size > fileobj.tell():
        raise MemberError(f"{info.filename} runs past the end of the file (truncated?)")
    return _Window(fileobj, start, info.compress_size)


class NpzReplay:
    """A saved replay (an .npz) read member by member, each header checked before its data is read.

    Implements agents.replay.SavedReplay; every shape comes from the buffer that restores it, so nothing is
    allocated for what a header merely declares.
    """

    def __init__(self, npz: zipfile.ZipFile, max_slots: int | None = None) -> None:
        self.npz = npz
        self.max_slots = max_slots
        """The most slots the saved buffer can have (the config's buffer_size): its arrays are allocated by
        the slot count its headers agree on, so a small file must not declare billions."""
        self._layout: tuple[int, int, int | None] | None = None

    def layout(self) -> tuple[int, int, int | None]:
        if self._layout is None:
            frames_shape = self._header("frames")[0]
            if len(frames_shape) < 2:
                raise MemberError(f"the replay's frames have shape {frames_shape}")
            if self._has("layout"):
                n, ring, k = (int(x) for x in self._small("layout", (3,)))
            else:
                n, ring, k = frames_shape[0], frames_shape[1], None
            if tuple(frames_shape[:2]) != (n, ring):
                raise MemberError(f"the replay's frames have shape {frames_shape}, its layout says {(n, ring)}")
            if self.max_slots is not None and n * ring > self.max_slots:
                raise MemberError(f"the replay's layout ({n} streams of {ring} slots) holds more than the "
                                  f"config's buffer_size of {self.max_slots}")
            self._layout = (n, ring, k)
        return self._layout

    def array(self, name: str, shape: tuple[int, ...] | None) -> np.ndarray:
        if name == "age" and not self._has("age") and self._has("first"):  # saved before frame ages
            return _age_from_first(self._small("first", shape).astype(bool),
                                   self._small("cursor", shape[:1] if shape else None))
        return self._small(name, shape)

    def rng(self) -> np.random.Generator:
        return generator_from_json(self._small("rng", None, limit=MAX_HEADER_BYTES).tobytes())

    def frame_chunks(self, frame_shape: tuple[int, ...], dtype: np.dtype) -> Iterator[tuple[int, np.ndarray]]:
        n, ring, _ = self.layout()
        shape = (n, ring, *frame_shape)
        with self._open("frames", shape, np.dtype(dtype)) as member:
            frame_bytes = int(np.prod(frame_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            rows = max(1, FRAME_CHUNK_BYTES // max(frame_bytes, 1))
            chunk = np.empty((rows, *frame_shape), dtype=dtype)
            total = n * ring
            for start in range(0, total, rows):
                count = min(rows, total - start)
                _read_exactly(member, memoryview(chunk[:count]).cast("B"))
                yield start, chunk[:count]

    # ---------------------------------------------------------------------------------------- members

    def has(self, name: str) -> bool:
        return self._has(name)

    def _has(self, name: str) -> bool:
        return f"{name}.npy" in self.npz.namelist()

    def _header(self, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
        """(shape, dtype, header bytes) of a member, reading its header only."""
        try:
            info = self.npz.getinfo(f"{name}.npy")
        except KeyError:
            raise MemberError(f"the replay lacks its '{name}' array") from None
        with self.npz.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read(member, max_header_size=MAX_HEADER_BYTES)
            except (ValueError, SyntaxError, TypeError, EOFError, tokenize.TokenError) as error:
                raise MemberError(f"the replay's '{name}' array has a bad header ({error})"[:200]) from None
            offset = member.tell()
        if fortran or dtype.hasobject:
            raise MemberError(f"the replay's '{name}' array is not a plain C-order array")
        return tuple(int(n) for n in shape), dtype, offset

    def _open(self, name: str, shape: tuple[int, ...], dtype: np.dtype | None) -> IO[bytes]:
        """The member positioned at its data, once its header shows `shape` (and `dtype`, when given) and its
        declared size fits them."""
        saved_shape, saved_dtype, offset = self._header(name)
        if saved_shape != tuple(shape):
            raise MemberError(f"the replay's '{name}' array is {saved_shape}, this agent's buffer needs {shape}")
        if dtype is not None and saved_dtype != dtype:
            raise MemberError(f"the replay's '{name}' array is {saved_dtype}, this agent's buffer needs {dtype}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * saved_dtype.itemsize
        info = self.npz.getinfo(f"{name}.npy")
        if info.file_size < offset + nbytes:
            raise MemberError(f"the replay's '{name}' array declares {_size(info.file_size)} for "
                              f"{_size(nbytes)} of data (truncated?)")
        if info.file_size > offset + nbytes + MAX_HEADER_BYTES:
            raise MemberError(f"the replay's '{name}' array declares {_size(info.file_size)} for "
                              f"{_size(nbytes)} of data")
        member = self.npz.open(info)
        member.seek(offset)
        return member

    def _small(self, name: str, shape: tuple[int, ...] | None, *, limit: int = 64 * 1024 * 1024) -> np.ndarray:
        """A whole small array; shape None accepts any 1-D array of at most `limit` bytes."""
        saved_shape, saved_dtype, _ = self._header(name)
        if shape is None:
            if len(saved_shape) > 1 or int(np.prod(saved_shape)) * saved_dtype.itemsize > limit:
                raise MemberError(f"the replay's '{name}' array is {saved_shape}, expected a short vector")
            shape = saved_shape
        if saved_dtype.kind not in "biuf":
            raise MemberError(f"the replay's '{name}' array is of type {saved_dtype}")
        with self._open(name, shape, None) as member:
            data = np.empty(shape, dtype=saved_dtype)
            _read_exactly(member, memoryview(data.reshape(-1)).cast("B"))
        return data


def _read_exactly(member: IO[bytes], view: memoryview) -> None:
    filled = 0
    while filled < len(view):
        got = member.readinto(view[filled:])
        if not got:
            raise MemberError("the replay ends before its data does (truncated?)")
        filled += got


def open_npz(window: _Window) -> zipfile.ZipFile:
    """The .npz inside a stored member."""
    try:
        return open_zip(window)
    except MemberError as error:
        raise MemberError(f"the replay's {error}") from None
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise MemberError(f"the replay is not an npz archive ({error})") from None

