"""The low-level half of the GGUF reader (engine.gguf): bounds-checked little-endian reads
over a buffered file, metadata values, and the tensor-info table with each tensor's byte size
and the part of the model it belongs to (a repeating block, the output layer, the token
embedding). Never touches the weights and never imports llama_cpp.

Format reference: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md

    header:   magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
    kv:       key (string) | value_type u32 | value
    string:   length u64 | utf-8 bytes (no terminator)
    array:    item_type u32 | count u64 | items
    tensor:   name (string) | n_dims u32 | dims u64 * n_dims | ggml_type u32 | offset u64
    data:     starts at the next multiple of general.alignment (default 32) after the infos;
              each tensor's offset is relative to that start.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from engine.errors import ModelFileError

GGUF_MAGIC: Final = b"GGUF"
SUPPORTED_VERSIONS: Final = (2, 3)
DEFAULT_ALIGNMENT: Final = 32
MAX_DIMS: Final = 4  # GGML_MAX_DIMS
SHORT_ARRAY_MAX: Final = 64  # arrays up to this many items are kept in ModelInfo.metadata

# Sanity limits so that a corrupt header cannot make us loop or allocate for ever.
MAX_KV_COUNT: Final = 1_000_000
MAX_TENSOR_COUNT: Final = 1_000_000
MAX_ARRAY_DEPTH: Final = 8
MAX_ARRAY_COUNT: Final = 1 << 32  # real vocabularies have ~1e5..1e6 entries

_CHUNK: Final = 1 << 20  # read the metadata in 1 MiB pieces

# ggml_type -> (name, block_size, bytes_per_block), as in gguf-py's GGML_QUANT_SIZES.
_QK_K: Final = 256
GGML_TYPES: Final[dict[int, tuple[str, int, int]]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 2 + 16),
    3: ("Q4_1", 32, 2 + 2 + 16),
    # 4 (Q4_2) and 5 (Q4_3) were removed from ggml before GGUF existed.
    6: ("Q5_0", 32, 2 + 4 + 16),
    7: ("Q5_1", 32, 2 + 2 + 4 + 16),
    8: ("Q8_0", 32, 2 + 32),
    9: ("Q8_1", 32, 4 + 4 + 32),
    10: ("Q2_K", 256, 2 + 2 + _QK_K // 16 + _QK_K // 4),
    11: ("Q3_K", 256, 2 + _QK_K // 4 + _QK_K // 8 + 12),
    12: ("Q4_K", 256, 2 + 2 + _QK_K // 2 + 12),
    13: ("Q5_K", 256, 2 + 2 + _QK_K // 2 + _QK_K // 8 + 12),
    14: ("Q6_K", 256, 2 + _QK_K // 2 + _QK_K // 4 + _QK_K // 16),
    15: ("Q8_K", 256, 4 + _QK_K + _QK_K // 8),
    16: ("IQ2_XXS", 256, 2 + _QK_K // 4),
    17: ("IQ2_XS", 256, 2 + _QK_K // 4 + _QK_K // 32),
    18: ("IQ3_XXS", 256, 2 + _QK_K // 4 + _QK_K // 8),
    19: ("IQ1_S", 256, 2 + _QK_K // 8 + _QK_K // 16),
    20: ("IQ4_NL", 32, 2 + 16),
    21: ("IQ3_S", 256, 2 + _QK_K // 4 + _QK_K // 8 + _QK_K // 32 + 4),
    22: ("IQ2_S", 256, 2 + _QK_K // 4 + _QK_K // 16),
    23: ("IQ4_XS", 256, 2 + 2 + _QK_K // 2 + _QK_K // 64),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),
    30: ("BF16", 1, 2),
    # 31-33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) and 36-38 (IQ4_NL_4_4, ...) were repacked variants,
    # removed from current ggml; old files still carry them, with the Q4_0 / IQ4_NL layout.
    31: ("Q4_0_4_4", 32, 2 + 16),
    32: ("Q4_0_4_8", 32, 2 + 16),
    33: ("Q4_0_8_8", 32, 2 + 16),
    34: ("TQ1_0", 256, 2 + 4 * 13),
    35: ("TQ2_0", 256, 2 + 64),
    36: ("IQ4_NL_4_4", 32, 2 + 16),
    37: ("IQ4_NL_4_8", 32, 2 + 16),
    38: ("IQ4_NL_8_8", 32, 2 + 16),
    39: ("MXFP4", 32, 1 + 16),
    40: ("NVFP4", 64, 4 + 32),
    41: ("Q1_0", 128, 2 + 16),
}

# llama.h's enum llama_ftype (general.file_type), named the way quantized files are named.
LLAMA_FTYPE_NAMES: Final[dict[int, str]] = {
    0: "F32",  # LLAMA_FTYPE_ALL_F32
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "Q4_1_SOME_F16",  # removed
    5: "Q4_2",  # removed
    6: "Q4_3",  # removed
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    33: "Q4_0_4_4",  # removed
    34: "Q4_0_4_8",  # removed
    35: "Q4_0_8_8",  # removed
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}

# GGUF metadata value types.
T_STRING: Final = 8
T_ARRAY: Final = 9
_SCALARS: Final[dict[int, struct.Struct]] = {
    0: struct.Struct("<B"),  # uint8
    1: struct.Struct("<b"),  # int8
    2: struct.Struct("<H"),  # uint16
    3: struct.Struct("<h"),  # int16
    4: struct.Struct("<I"),  # uint32
    5: struct.Struct("<i"),  # int32
    6: struct.Struct("<f"),  # float32
    7: struct.Struct("<?"),  # bool
    10: struct.Struct("<Q"),  # uint64
    11: struct.Struct("<q"),  # int64
    12: struct.Struct("<d"),  # float64
}
VALUE_TYPE_NAMES: Final[dict[int, str]] = {
    0: "uint8",
    1: "int8",
    2: "uint16",
    3: "int16",
    4: "uint32",
    5: "int32",
    6: "float32",
    7: "bool",
    8: "string",
    9: "array",
    10: "uint64",
    11: "int64",
    12: "float64",
}

_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
HEADER: Final = struct.Struct("<4sIQQ")
ARRAY_HEADER: Final = struct.Struct("<IQ")
_TENSOR_TAIL: Final = struct.Struct("<IQ")  # ggml type, offset


class Reader:
    """Sequential little-endian reads over a file through a bytes window, with bounds checks."""

    __slots__ = ("_base", "_buf", "_f", "_pos", "path", "size")

    def __init__(self, f: BinaryIO, path: Path, size: int) -> None:
        self._f = f
        self.path = path
        self.size = size
        self._buf = b""
        self._base = 0  # file offset of _buf[0]; the file is positioned at _base + len(_buf)
        self._pos = 0  # read position inside _buf

    # -- errors

    def truncated(self) -> ModelFileError:
        return ModelFileError(
            self.path,
            f"file is truncated: the metadata runs past the end of the file ({self.size} bytes)",
        )

    def corrupt(self, what: str) -> ModelFileError:
        return ModelFileError(self.path, f"corrupt metadata: {what}")

    # -- positioning

    def tell(self) -> int:
        return self._base + self._pos

    def remaining(self) -> int:
        return self.size - self.tell()

    def seek(self, offset: int) -> None:
        if self._base <= offset <= self._base + len(self._buf):
            self._pos = offset - self._base
            return
        if offset > self.size:
            raise self.truncated()
        self._f.seek(offset)
        self._buf = b""
        self._base = offset
        self._pos = 0

    def skip(self, n: int) -> None:
        if n <= len(self._buf) - self._pos:
            self._pos += n
        else:
            self.seek(self.tell() + n)

    def _need(self, n: int) -> None:
        """Make sure ``n`` bytes from the read position are in the buffer."""
        avail = len(self._buf) - self._pos
        if avail >= n:
            return
        if n > self.size - self.tell():
            raise self.truncated()
        data = self._f.read(max(n - avail, _CHUNK))
        self._buf = self._buf[self._pos :] + data
        self._base += self._pos
        self._pos = 0
        if len(self._buf) < n:  # the file shrank under us
            raise self.truncated()

    # -- values

    def unpack(self, s: struct.Struct) -> tuple[object, ...]:
        self._need(s.size)
        values = s.unpack_from(self._buf, self._pos)
        self._pos += s.size
        return values

    def u32(self) -> int:
        self._need(4)
        (v,) = _U32.unpack_from(self._buf, self._pos)
        self._pos += 4
        return int(v)

    def u64(self) -> int:
        self._need(8)
        (v,) = _U64.unpack_from(self._buf, self._pos)
        self._pos += 8
        return int(v)

    def raw(self, n: int) -> bytes:
        self._need(n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        return data

    def check_length(self, n: int, what: str) -> None:
        """Raise unless ``n`` more bytes can follow: corrupt if ``n`` is absurd, else truncated."""
        if n > self.remaining():
            if n > self.size:
                raise self.corrupt(f"{what} has length {n}, larger than the whole file")
            raise self.truncated()

    def string(self, what: str) -> str:
        n = self.u64()
        self.check_length(n, what)
        return self.raw(n).decode("utf-8", errors="replace")

    def skip_strings(self, count: int, what: str) -> None:
        """Skip ``count`` length-prefixed strings without decoding them (the hot loop)."""
        unpack = _U64.unpack_from
        while count > 0:
            self._need(8)
            buf = self._buf
            pos = self._pos
            last = len(buf) - 8  # a length prefix fits in the buffer iff pos <= last
            n = 0
            done = count
            for i in range(count):
                if pos > last:
                    done = i
                    break
                n = unpack(buf, pos)[0]
                pos += 8 + n
            count -= done
            end = self._base + pos
            if end > self.size:
                if n > self.size:
                    raise self.corrupt(f"a string in {what} has length {n}, larger than the file")
                raise self.truncated()
            self.seek(end)


def quote(text: str) -> str:
    """A key quoted for an error message: repr keeps it on one line, the cut keeps it short."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def read_value(r: Reader, vtype: int, key: str, depth: int) -> object:
    s = _SCALARS.get(vtype)
    if s is not None:
        return r.unpack(s)[0]
    if vtype == T_STRING:
        return r.string(f"the value of {quote(key)}")
    if vtype == T_ARRAY:
        item_type, count = r.unpack(ARRAY_HEADER)
        assert isinstance(item_type, int) and isinstance(count, int)
        return read_array(r, item_type, count, key, depth + 1)
    raise r.corrupt(f"unknown value type {vtype} for key {quote(key)}")


def _min_item_size(item_type: int) -> int:
    s = _SCALARS.get(item_type)
    if s is not None:
        return s.size
    return 8 if item_type == T_STRING else 12


def read_array(r: Reader, item_type: int, count: int, key: str, depth: int) -> object:
    """Short arrays become lists; longer ones are skipped and summarised as a string."""
    if depth > MAX_ARRAY_DEPTH:
        raise r.corrupt(f"arrays nested too deeply in {quote(key)}")
    if item_type not in VALUE_TYPE_NAMES:
        raise r.corrupt(f"unknown array item type {item_type} for key {quote(key)}")
    if count > MAX_ARRAY_COUNT:
        raise r.corrupt(f"array {quote(key)} claims an implausible {count} items")
    # Not corrupt when the items merely run past the end: a partial download cut in the
    # vocabulary is the common case, so that is reported as truncation.
    if count * _min_item_size(item_type) > r.remaining():
        raise r.truncated()
    if count <= SHORT_ARRAY_MAX:
        return [read_value(r, item_type, key, depth) for _ in range(count)]
    s = _SCALARS.get(item_type)
    if s is not None:
        r.skip(count * s.size)
    elif item_type == T_STRING:
        r.skip_strings(count, f"array {quote(key)}")
    else:  # array of arrays
        for _ in range(count):
            inner_type, inner_count = r.unpack(ARRAY_HEADER)
            assert isinstance(inner_type, int) and isinstance(inner_count, int)
            read_array(r, inner_type, inner_count, key, depth + 1)
    return f"<array {VALUE_TYPE_NAMES[item_type]} x {count}>"


@dataclass
class TensorTable:
    count: int = 0
    parameters: int = 0
    data_end: int = 0  # largest offset + byte size, relative to the data section
    data_bytes: int = 0  # the byte sizes of all tensors added up
    sized: bool = True  # every tensor's type is known, so data_bytes is complete
    last: tuple[str, int, int] = ("", 0, 0)  # the tensor ending at data_end: name, offset, size
    largest: tuple[str, tuple[int, ...], int] = ("", (), 0)  # name, dimensions, byte size
    elements_by_type: dict[int, int] = field(default_factory=dict)  # over tensors with >= 2 dims
    all_elements_by_type: dict[int, int] = field(default_factory=dict)
    # Bytes by the part of the model that llama.cpp places as one (engine.offload):
    block_bytes: dict[int, int] = field(default_factory=dict)  # repeating block N ("blk.N.")
    output_bytes: int = 0  # "output.*" and "output_norm.*"
    has_output_weight: bool = False  # False: the output layer reads the token embedding (tied)
    embedding_bytes: int = 0  # "token_embd.weight"
    other_bytes: int = 0  # anything else: position embeddings, rope tables, ...
    offsets: list[int] = field(default_factory=list)  # every tensor's offset
    unsized: list[tuple[int, str]] = field(default_factory=list)  # unknown type: offset, name

    def add(self, name: str, size: int) -> None:
        """Count `size` bytes of tensor `name` in the part of the model it belongs to."""
        if name.startswith("blk."):
            index, dot, _ = name[4:].partition(".")
            if dot and index.isdigit() and len(index) < 7:
                self.block_bytes[int(index)] = self.block_bytes.get(int(index), 0) + size
                return
        if name == "token_embd.weight":
            self.embedding_bytes += size
        elif name.startswith(("output.", "output_norm.")):
            self.output_bytes += size
            self.has_output_weight = self.has_output_weight or name == "output.weight"
        else:
            self.other_bytes += size

    def size_unknown(self, data_size: int) -> None:
        """Give tensors of a type this reader cannot size the bytes up to the next tensor
        (or the end of the data section): their size with the alignment padding."""
        if not self.unsized:
            return
        ends = sorted(set(self.offsets))
        for offset, name in self.unsized:
            later = bisect.bisect_right(ends, offset)
            end = ends[later] if later < len(ends) else data_size
            self.add(name, max(0, end - offset))
        self.unsized = []


def read_tensor_infos(r: Reader, n_tensors: int) -> TensorTable:
    out = TensorTable(count=n_tensors)
    by_type = out.elements_by_type
    all_by_type = out.all_elements_by_type
    dim_structs: dict[int, struct.Struct] = {}
    for _ in range(n_tensors):
        name = r.string("a tensor name")
        n_dims = r.u32()
        if n_dims > MAX_DIMS:
            raise ModelFileError(
                r.path, f"corrupt tensor info: tensor {quote(name)} has {n_dims} dimensions"
            )
        ds = dim_structs.get(n_dims)
        if ds is None:
            ds = dim_structs[n_dims] = struct.Struct(f"<{n_dims}Q")
        dims = r.unpack(ds)
        ggml_type, offset = r.unpack(_TENSOR_TAIL)
        assert isinstance(ggml_type, int) and isinstance(offset, int)
        n_elements = 1
        for d in dims:
            assert isinstance(d, int)
            n_elements *= d
        out.parameters += n_elements
        all_by_type[ggml_type] = all_by_type.get(ggml_type, 0) + n_elements
        if n_dims >= 2:
            by_type[ggml_type] = by_type.get(ggml_type, 0) + n_elements
        out.offsets.append(offset)
        known = GGML_TYPES.get(ggml_type)
        if known is None:  # an unknown (newer) type: we cannot size it, so do not check it
            out.sized = False
            out.unsized.append((offset, name))
            continue
        _, block, block_bytes = known
        size = -(-n_elements // block) * block_bytes
        out.data_bytes += size
        out.add(name, size)
        if size > out.largest[2]:
            out.largest = (name, tuple(d for d in dims if isinstance(d, int)), size)
        if offset + size > out.data_end:
            out.data_end = offset + size
            out.last = (name, offset, size)
    return out


