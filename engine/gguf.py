"""Fast, weight-free reader of a GGUF model file's metadata.

Reads the header, the key/value section and the tensor-info section with ``struct`` from a
buffered file; never touches the weights and never imports llama_cpp. Large arrays (the
vocabulary, scores, token types, merges) are skipped by computing their byte length: numeric
arrays by ``count * item_size``, string arrays by walking their uint64 length prefixes in a tight
loop over a bytes buffer. On the 253 MB default model the whole read takes a few milliseconds
(the ``gguf`` package's GGUFReader takes seconds because it decodes every vocabulary entry).

Format reference: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md

    header:   magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
    kv:       key (string) | value_type u32 | value
    string:   length u64 | utf-8 bytes (no terminator)
    array:    item_type u32 | count u64 | items
    tensor:   name (string) | n_dims u32 | dims u64 * n_dims | ggml_type u32 | offset u64
    data:     starts at the next multiple of general.alignment (default 32) after the infos;
              each tensor's offset is relative to that start.

All integers are little-endian (big-endian GGUF files exist but llama.cpp cannot load them on
the little-endian machines we ship for, so they are rejected with a clear message).
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from engine.errors import ModelFileError

__all__ = [
    "GGML_TYPES",
    "LLAMA_FTYPE_NAMES",
    "ModelInfo",
    "SpecialToken",
    "read_model_info",
]

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
_LLAMA_FTYPE_GUESSED: Final = 1024  # flag llama.cpp ORs in when it guessed the type

# GGUF metadata value types.
_T_STRING: Final = 8
_T_ARRAY: Final = 9
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
_HEADER: Final = struct.Struct("<4sIQQ")
_ARRAY_HEADER: Final = struct.Struct("<IQ")
_TENSOR_TAIL: Final = struct.Struct("<IQ")  # ggml type, offset

_TOKENS_KEY: Final = "tokenizer.ggml.tokens"
_SPECIAL_TOKEN_KEYS: Final = (
    ("bos", "tokenizer.ggml.bos_token_id"),
    ("eos", "tokenizer.ggml.eos_token_id"),
    ("eot", "tokenizer.ggml.eot_token_id"),
    ("eom", "tokenizer.ggml.eom_token_id"),
    ("pad", "tokenizer.ggml.padding_token_id"),
    ("unk", "tokenizer.ggml.unknown_token_id"),
    ("sep", "tokenizer.ggml.seperator_token_id"),  # sic: llama.cpp's spelling
    ("mask", "tokenizer.ggml.mask_token_id"),
    ("fim_pre", "tokenizer.ggml.fim_pre_token_id"),
    ("fim_suf", "tokenizer.ggml.fim_suf_token_id"),
    ("fim_mid", "tokenizer.ggml.fim_mid_token_id"),
    ("fim_pad", "tokenizer.ggml.fim_pad_token_id"),
    ("fim_rep", "tokenizer.ggml.fim_rep_token_id"),
    ("fim_sep", "tokenizer.ggml.fim_sep_token_id"),
)

# Magics of the pre-GGUF formats (uint32 written little-endian), to give a better hint.
_OLD_GGML_MAGICS: Final = (b"lmgg", b"fmgg", b"tjgg", b"algg")


@dataclass(frozen=True)
class SpecialToken:
    """A special token named in the tokenizer metadata, e.g. ``bos`` = 2 ``"<bos>"``."""

    name: str  # "bos", "eos", "eot", "eom", "pad", "unk", "sep", "mask", "fim_pre", ...
    id: int
    text: str | None  # from tokenizer.ggml.tokens; None when there is no such entry


@dataclass(frozen=True)
class ModelInfo:
    """What a GGUF file says about its model, read without loading any weights."""

    path: Path
    file_size: int
    gguf_version: int
    architecture: str
    name: str
    parameter_count: int
    file_type: int | None
    quantization: str
    bits_per_weight: float
    context_length: int | None
    embedding_length: int | None
    block_count: int | None
    head_count: int | None
    head_count_kv: int | None  # as written; llama.cpp defaults it to head_count when absent
    sliding_window: int | None
    vocab_size: int | None
    tokenizer_model: str | None
    chat_template: str | None
    add_bos_token: bool | None
    special_tokens: tuple[SpecialToken, ...]
    tensor_count: int
    metadata: dict[str, object] = field(default_factory=dict, hash=False, repr=False)

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    @property
    def is_base_model(self) -> bool:
        """True when the file has no chat template (pretrained, not instruction-tuned)."""
        return not self.has_chat_template

    def special_token(self, name: str) -> SpecialToken | None:
        """The special token called ``name`` ("bos", "eos", ...), or None."""
        for token in self.special_tokens:
            if token.name == name:
                return token
        return None

    def kv_cache_bytes(self, n_ctx: int) -> int | None:
        """Bytes of an f16 K and V cache for ``n_ctx`` tokens, or None if the metadata lacks a size.

        ``2 bytes * n_ctx * sum over layers(head_count_kv) * (key_length + value_length)``, which is
        ``2 * 2 * n_ctx * block_count * head_count_kv * head_dim`` for the usual model. It is an
        upper bound for sliding-window models: llama.cpp keeps only the window for those layers.
        """
        if n_ctx < 0:
            raise ValueError(f"n_ctx must be >= 0, got {n_ctx}")
        n_layer = self.block_count
        if n_layer is None or n_layer <= 0:
            return None
        md = self.metadata
        prefix = self.architecture + "."
        kv_heads = _per_layer(md.get(prefix + "attention.head_count_kv"), n_layer)
        heads = _per_layer(md.get(prefix + "attention.head_count"), n_layer)
        if kv_heads is None:
            kv_heads = heads
        if kv_heads is None:
            return None
        key_dim = _as_int(md.get(prefix + "attention.key_length"))
        if key_dim is None:
            n_embd = self.embedding_length
            if n_embd is None or self.head_count is None or self.head_count <= 0:
                return None
            key_dim = n_embd // self.head_count
        value_dim = _as_int(md.get(prefix + "attention.value_length"))
        if value_dim is None:
            value_dim = key_dim
        return 2 * n_ctx * sum(kv_heads) * (key_dim + value_dim)

    def describe(self) -> str:
        """One line for the UI, e.g. ``gemma3 · 268M params · Q4_K_M (7.55 bpw) · 253 MB · ...``."""
        parts = [
            self.architecture,
            f"{_format_count(self.parameter_count)} params",
            f"{self.quantization} ({self.bits_per_weight:.2f} bpw)",
            _format_bytes(self.file_size),
        ]
        if self.context_length is not None:
            parts.append(f"ctx {self.context_length}")
        if self.has_chat_template:
            parts.append("chat model (has chat template)")
        else:
            parts.append("base model (no chat template)")
        return " · ".join(parts)


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Read a GGUF file's metadata and tensor table; raise ModelFileError if it is unusable."""
    p = Path(os.fspath(path))
    size = _check_path(p)
    try:
        f = open(p, "rb")  # noqa: SIM115 - the with below closes it
    except IsADirectoryError:
        raise ModelFileError(p, "is a directory, not a file") from None
    except FileNotFoundError:
        raise ModelFileError(p, "file not found") from None
    except OSError as e:
        raise ModelFileError(p, f"cannot read file: {_strerror(e)}") from None
    with f:
        try:
            return _parse(_Reader(f, p, size))
        except MemoryError:
            raise ModelFileError(p, "corrupt metadata: a value is too large to read") from None
        except (struct.error, UnicodeDecodeError, OverflowError):
            raise ModelFileError(p, "corrupt metadata: unreadable value") from None
        except OSError as e:
            raise ModelFileError(p, f"cannot read file: {_strerror(e)}") from None


# --------------------------------------------------------------------------------------------
# Implementation


def _check_path(p: Path) -> int:
    """Return the size of a readable regular file at ``p`` or raise ModelFileError."""
    try:
        st = os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        raise ModelFileError(p, "file not found") from None
    except ValueError:  # embedded NUL byte and the like
        raise ModelFileError(p, "invalid file path") from None
    except OSError as e:
        raise ModelFileError(p, f"cannot read file: {_strerror(e)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError(p, "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(p, "not a regular file")
    if st.st_size == 0:
        raise ModelFileError(p, "file is empty (0 bytes)")
    return st.st_size


def _strerror(e: OSError) -> str:
    return (e.strerror or type(e).__name__).lower().rstrip(".")


class _Reader:
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


def _q(text: str) -> str:
    """A key quoted for an error message: repr keeps it on one line, the cut keeps it short."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _read_value(r: _Reader, vtype: int, key: str, depth: int) -> object:
    s = _SCALARS.get(vtype)
    if s is not None:
        return r.unpack(s)[0]
    if vtype == _T_STRING:
        return r.string(f"the value of {_q(key)}")
    if vtype == _T_ARRAY:
        item_type, count = r.unpack(_ARRAY_HEADER)
        assert isinstance(item_type, int) and isinstance(count, int)
        return _read_array(r, item_type, count, key, depth + 1)
    raise r.corrupt(f"unknown value type {vtype} for key {_q(key)}")


def _min_item_size(item_type: int) -> int:
    s = _SCALARS.get(item_type)
    if s is not None:
        return s.size
    return 8 if item_type == _T_STRING else 12


def _read_array(r: _Reader, item_type: int, count: int, key: str, depth: int) -> object:
    """Short arrays become lists; longer ones are skipped and summarised as a string."""
    if depth > MAX_ARRAY_DEPTH:
        raise r.corrupt(f"arrays nested too deeply in {_q(key)}")
    if item_type not in VALUE_TYPE_NAMES:
        raise r.corrupt(f"unknown array item type {item_type} for key {_q(key)}")
    if count > MAX_ARRAY_COUNT:
        raise r.corrupt(f"array {_q(key)} claims an implausible {count} items")
    # Not corrupt when the items merely run past the end: a partial download cut in the
    # vocabulary is the common case, so that is reported as truncation.
    if count * _min_item_size(item_type) > r.remaining():
        raise r.truncated()
    if count <= SHORT_ARRAY_MAX:
        return [_read_value(r, item_type, key, depth) for _ in range(count)]
    s = _SCALARS.get(item_type)
    if s is not None:
        r.skip(count * s.size)
    elif item_type == _T_STRING:
        r.skip_strings(count, f"array {_q(key)}")
    else:  # array of arrays
        for _ in range(count):
            inner_type, inner_count = r.unpack(_ARRAY_HEADER)
            assert isinstance(inner_type, int) and isinstance(inner_count, int)
            _read_array(r, inner_type, inner_count, key, depth + 1)
    return f"<array {VALUE_TYPE_NAMES[item_type]} x {count}>"


@dataclass
class _Tensors:
    count: int = 0
    parameters: int = 0
    data_end: int = 0  # largest offset + byte size, relative to the data section
    data_bytes: int = 0  # the byte sizes of all tensors added up
    sized: bool = True  # every tensor's type is known, so data_bytes is complete
    last: tuple[str, int, int] = ("", 0, 0)  # the tensor ending at data_end: name, offset, size
    largest: tuple[str, tuple[int, ...], int] = ("", (), 0)  # name, dimensions, byte size
    elements_by_type: dict[int, int] = field(default_factory=dict)  # over tensors with >= 2 dims
    all_elements_by_type: dict[int, int] = field(default_factory=dict)


def _parse(r: _Reader) -> ModelInfo:
    path = r.path
    head = r.raw(min(4, r.size))
    if head != GGUF_MAGIC:
        if GGUF_MAGIC.startswith(head):
            raise r.truncated()
        hint = "; it is the old GGML format, convert it to GGUF" if head in _OLD_GGML_MAGICS else ""
        raise ModelFileError(path, f"not a GGUF model file (starts with {head!r}){hint}")
    r.seek(0)
    if r.size < _HEADER.size:
        raise r.truncated()
    _, version, n_tensors, n_kv = r.unpack(_HEADER)
    assert isinstance(version, int) and isinstance(n_tensors, int) and isinstance(n_kv, int)
    if version not in SUPPORTED_VERSIONS:
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        if swapped in (1, 2, 3):
            raise ModelFileError(path, "unsupported GGUF file: big-endian byte order")
        raise ModelFileError(
            path, f"unsupported GGUF version {version} (only versions 2 and 3 are supported)"
        )
    if n_kv > MAX_KV_COUNT:
        raise r.corrupt(f"implausible key/value count {n_kv}")
    if n_tensors > MAX_TENSOR_COUNT:
        raise r.corrupt(f"implausible tensor count {n_tensors}")

    metadata: dict[str, object] = {}
    tokens_offset: int | None = None
    vocab_size: int | None = None
    for _ in range(n_kv):
        key = r.string("a metadata key")
        if key in metadata:
            raise r.corrupt(f"duplicate key {_q(key)}")
        vtype = r.u32()
        if vtype == _T_ARRAY:
            item_type, count = r.unpack(_ARRAY_HEADER)
            assert isinstance(item_type, int) and isinstance(count, int)
            if key == _TOKENS_KEY and item_type == _T_STRING:
                tokens_offset, vocab_size = r.tell(), count
            metadata[key] = _read_array(r, item_type, count, key, 1)
        else:
            metadata[key] = _read_value(r, vtype, key, 0)

    tensors = _read_tensor_infos(r, n_tensors)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if (
        not isinstance(alignment, int)
        or isinstance(alignment, bool)
        or alignment <= 0
        or alignment & (alignment - 1)
    ):
        raise r.corrupt(f"general.alignment must be a power of two, got {alignment!r}")
    infos_end = r.tell()
    if tensors.count:
        data_offset = -(-infos_end // alignment) * alignment
        expected = data_offset + tensors.data_end
    else:
        expected = infos_end  # a vocab-only file need not be padded
    if expected > r.size:
        raise _impossible_tensor(r, tensors, alignment) or ModelFileError(
            path, f"file is truncated: expected at least {expected} bytes, found {r.size}"
        )

    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelFileError(path, "not a model file: the metadata has no general.architecture")
    special = _special_tokens(r, metadata, tokens_offset, vocab_size)

    file_type = _as_int(metadata.get("general.file_type"))
    quantization = None
    if file_type is not None:
        quantization = LLAMA_FTYPE_NAMES.get(file_type & ~_LLAMA_FTYPE_GUESSED)
    if quantization is None:
        quantization = _dominant_type(tensors)
    name = metadata.get("general.name")
    params = tensors.parameters
    a = arch + "."
    return ModelInfo(
        path=path,
        file_size=r.size,
        gguf_version=version,
        architecture=arch,
        name=name if isinstance(name, str) and name else path.stem,
        parameter_count=params,
        file_type=file_type,
        quantization=quantization,
        bits_per_weight=round(r.size * 8 / params, 2) if params else 0.0,
        context_length=_as_int(metadata.get(a + "context_length")),
        embedding_length=_as_int(metadata.get(a + "embedding_length")),
        block_count=_as_int(metadata.get(a + "block_count")),
        head_count=_as_int(metadata.get(a + "attention.head_count")),
        head_count_kv=_as_int(metadata.get(a + "attention.head_count_kv")),
        sliding_window=_as_int(metadata.get(a + "attention.sliding_window")),
        vocab_size=vocab_size,
        tokenizer_model=_as_str(metadata.get("tokenizer.ggml.model")),
        chat_template=_as_str(metadata.get("tokenizer.chat_template")),
        add_bos_token=_as_bool(metadata.get("tokenizer.ggml.add_bos_token")),
        special_tokens=special,
        tensor_count=n_tensors,
        metadata=metadata,
    )


def _read_tensor_infos(r: _Reader, n_tensors: int) -> _Tensors:
    out = _Tensors(count=n_tensors)
    by_type = out.elements_by_type
    all_by_type = out.all_elements_by_type
    dim_structs: dict[int, struct.Struct] = {}
    for _ in range(n_tensors):
        name = r.string("a tensor name")
        n_dims = r.u32()
        if n_dims > MAX_DIMS:
            raise ModelFileError(
                r.path, f"corrupt tensor info: tensor {_q(name)} has {n_dims} dimensions"
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
        known = GGML_TYPES.get(ggml_type)
        if known is None:  # an unknown (newer) type: we cannot size it, so do not check it
            out.sized = False
            continue
        _, block, block_bytes = known
        size = -(-n_elements // block) * block_bytes
        out.data_bytes += size
        if size > out.largest[2]:
            out.largest = (name, tuple(d for d in dims if isinstance(d, int)), size)
        if offset + size > out.data_end:
            out.data_end = offset + size
            out.last = (name, offset, size)
    return out


# No model file comes near this (the largest are about 1 TB): a tensor claiming more has
# corrupt dimensions, not a file that was cut short.
MAX_TENSOR_BYTES = 1 << 50


def _impossible_tensor(r: _Reader, tensors: _Tensors, alignment: int) -> ModelFileError | None:
    """For a file shorter than its tensor table says: the corrupt tensor info that explains
    it, if any, so that a damaged header is not reported as "truncated: expected 2.9e76
    bytes". Tensors lie one after the other (each aligned), so none can end past the sum of
    all their sizes and paddings; and none is larger than MAX_TENSOR_BYTES."""
    name, dims, size = tensors.largest
    if size > MAX_TENSOR_BYTES:
        shape = " x ".join(str(d) for d in dims)
        return ModelFileError(r.path, f"corrupt tensor info: tensor {_q(name)} has impossible "
                                      f"dimensions ({shape})")
    name, offset, size = tensors.last
    if tensors.sized and tensors.data_end > tensors.data_bytes + tensors.count * alignment:
        return ModelFileError(
            r.path, f"corrupt tensor info: tensor {_q(name)} has an impossible data offset "
                    f"({offset}, past the {_format_bytes(tensors.data_bytes)} of all tensor data)")
    return None


def _dominant_type(tensors: _Tensors) -> str:
    """Name of the ggml type holding the most weights (of matrices, if any), e.g. "Q4_K"."""
    counts = tensors.elements_by_type or tensors.all_elements_by_type
    if not counts:
        return "unknown"
    ggml_type = max(counts, key=lambda t: counts[t])
    known = GGML_TYPES.get(ggml_type)
    return known[0] if known is not None else f"type {ggml_type}"


def _special_tokens(
    r: _Reader, metadata: dict[str, object], tokens_offset: int | None, vocab_size: int | None
) -> tuple[SpecialToken, ...]:
    """Special token ids and, reading only up to the largest id, their texts."""
    ids: list[tuple[str, int]] = []
    for name, key in _SPECIAL_TOKEN_KEYS:
        token_id = _as_int(metadata.get(key))
        if token_id is not None and token_id >= 0:
            ids.append((name, token_id))
    texts: dict[int, str] = {}
    if tokens_offset is not None and vocab_size:
        texts = _token_texts(r, tokens_offset, (i for _, i in ids if i < vocab_size))
    return tuple(SpecialToken(name, i, texts.get(i)) for name, i in ids)


def _token_texts(r: _Reader, tokens_offset: int, wanted: Iterable[int]) -> dict[int, str]:
    r.seek(tokens_offset)
    texts: dict[int, str] = {}
    current = 0
    for token_id in sorted(set(wanted)):
        r.skip_strings(token_id - current, "the token list")
        texts[token_id] = r.string("a token")
        current = token_id + 1
    return texts


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _per_layer(value: object, n_layer: int) -> list[int] | None:
    """A per-layer count from an int (same for every layer) or a list with one int per layer."""
    single = _as_int(value)
    if single is not None:
        return [single] * n_layer
    if isinstance(value, list) and len(value) == n_layer:
        items = [_as_int(v) for v in value]
        if all(v is not None for v in items):
            return [v for v in items if v is not None]
    return None


def _format_count(n: int) -> str:
    if n >= 999_500_000:
        return f"{n / 1e9:.1f}B"
    if n >= 999_500:
        return f"{n / 1e6:.0f}M"
    if n >= 1000:
        return f"{n / 1e3:.0f}K"
    return str(n)


def _format_bytes(n: int) -> str:
    if n >= 999_500_000:
        return f"{n / 1e9:.1f} GB"
    if n >= 999_500:
        return f"{n / 1e6:.0f} MB"
    if n >= 1000:
        return f"{n / 1e3:.0f} KB"
    return f"{n} bytes"
