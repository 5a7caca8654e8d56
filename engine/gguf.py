"""Fast, weight-free reader of a GGUF model file's metadata.

Reads the header, the key/value section and the tensor-info section with ``struct`` from a
buffered file; never touches the weights and never imports llama_cpp. Large arrays (the
vocabulary, scores, token types, merges) are skipped by computing their byte length: numeric
arrays by ``count * item_size``, string arrays by walking their uint64 length prefixes in a tight
loop over a bytes buffer. On the 253 MB default model the whole read takes a few milliseconds
(the ``gguf`` package's GGUFReader takes seconds because it decodes every vocabulary entry).

The low-level reading (the file window, metadata values, the tensor table) lives in
engine.gguf_reader; this module turns it into a ModelInfo.

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
from typing import Final

from engine.errors import ModelFileError
from engine.gguf_reader import (
    ARRAY_HEADER,
    DEFAULT_ALIGNMENT,
    GGML_TYPES,
    GGUF_MAGIC,
    HEADER,
    LLAMA_FTYPE_NAMES,
    MAX_KV_COUNT,
    MAX_TENSOR_COUNT,
    SUPPORTED_VERSIONS,
    T_ARRAY,
    T_STRING,
    Reader,
    TensorTable,
    quote,
    read_array,
    read_tensor_infos,
    read_value,
)
from engine.gguf_reader import MAX_ARRAY_COUNT as MAX_ARRAY_COUNT
from engine.gguf_reader import MAX_ARRAY_DEPTH as MAX_ARRAY_DEPTH
from engine.gguf_reader import MAX_DIMS as MAX_DIMS
from engine.gguf_reader import SHORT_ARRAY_MAX as SHORT_ARRAY_MAX
from engine.gguf_reader import VALUE_TYPE_NAMES as VALUE_TYPE_NAMES

__all__ = [
    "GGML_TYPES",
    "LLAMA_FTYPE_NAMES",
    "ModelInfo",
    "SpecialToken",
    "read_model_info",
]

_LLAMA_FTYPE_GUESSED: Final = 1024  # flag llama.cpp ORs in when it guessed the type

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
    # The weights' bytes by the part of the model llama.cpp places as one (engine.offload):
    layer_bytes: tuple[int, ...] = field(default=(), repr=False)  # each block "blk.N."
    # The output layer: output.weight (or, tied, the token embedding it reads) + output_norm.
    output_bytes: int = 0
    embedding_bytes: int = 0  # token_embd.weight, which llama.cpp keeps in host memory
    output_tied: bool = False  # no output.weight: the output layer reuses token_embd.weight
    other_bytes: int = 0  # the rest (position embeddings, rope tables, ...)

    @property
    def weight_bytes(self) -> int:
        """All tensor data, each tensor once (a tied embedding is not counted twice)."""
        tied = self.embedding_bytes if self.output_tied else 0
        return (sum(self.layer_bytes) + self.output_bytes + self.embedding_bytes
                + self.other_bytes - tied)

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
            return _parse(Reader(f, p, size))
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




def _parse(r: Reader) -> ModelInfo:
    path = r.path
    head = r.raw(min(4, r.size))
    if head != GGUF_MAGIC:
        if GGUF_MAGIC.startswith(head):
            raise r.truncated()
        hint = "; it is the old GGML format, convert it to GGUF" if head in _OLD_GGML_MAGICS else ""
        raise ModelFileError(path, f"not a GGUF model file (starts with {head!r}){hint}")
    r.seek(0)
    if r.size < HEADER.size:
        raise r.truncated()
    _, version, n_tensors, n_kv = r.unpack(HEADER)
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
            raise r.corrupt(f"duplicate key {quote(key)}")
        vtype = r.u32()
        if vtype == T_ARRAY:
            item_type, count = r.unpack(ARRAY_HEADER)
            assert isinstance(item_type, int) and isinstance(count, int)
            if key == _TOKENS_KEY and item_type == T_STRING:
                tokens_offset, vocab_size = r.tell(), count
            metadata[key] = read_array(r, item_type, count, key, 1)
        else:
            metadata[key] = read_value(r, vtype, key, 0)

    tensors = read_tensor_infos(r, n_tensors)
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
        tensors.size_unknown(r.size - data_offset)
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
    block_count = _as_int(metadata.get(a + "block_count"))
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
        block_count=block_count,
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
        layer_bytes=_layer_bytes(tensors, block_count),
        output_bytes=tensors.output_bytes
        + (0 if tensors.has_output_weight else tensors.embedding_bytes),
        embedding_bytes=tensors.embedding_bytes,
        output_tied=not tensors.has_output_weight and tensors.embedding_bytes > 0,
        other_bytes=tensors.other_bytes,
    )


def _layer_bytes(tensors: TensorTable, block_count: int | None) -> tuple[int, ...]:
    """Bytes of each repeating block, block 0 first (0 for a block without tensors)."""
    blocks = tensors.block_bytes
    n = max(block_count or 0, max(blocks, default=-1) + 1)
    return tuple(blocks.get(i, 0) for i in range(n))


# No model file comes near this (the largest are about 1 TB): a tensor claiming more has
# corrupt dimensions, not a file that was cut short.
MAX_TENSOR_BYTES = 1 << 50


def _impossible_tensor(r: Reader, tensors: TensorTable, alignment: int) -> ModelFileError | None:
    """For a file shorter than its tensor table says: the corrupt tensor info that explains
    it, if any, so that a damaged header is not reported as "truncated: expected 2.9e76
    bytes". Tensors lie one after the other (each aligned), so none can end past the sum of
    all their sizes and paddings; and none is larger than MAX_TENSOR_BYTES."""
    name, dims, size = tensors.largest
    if size > MAX_TENSOR_BYTES:
        shape = " x ".join(str(d) for d in dims)
        return ModelFileError(r.path, f"corrupt tensor info: tensor {quote(name)} has impossible "
                                      f"dimensions ({shape})")
    name, offset, size = tensors.last
    if tensors.sized and tensors.data_end > tensors.data_bytes + tensors.count * alignment:
        return ModelFileError(
            r.path, f"corrupt tensor info: tensor {quote(name)} has an impossible data offset "
                    f"({offset}, past the {_format_bytes(tensors.data_bytes)} of all tensor data)")
    return None


def _dominant_type(tensors: TensorTable) -> str:
    """Name of the ggml type holding the most weights (of matrices, if any), e.g. "Q4_K"."""
    counts = tensors.elements_by_type or tensors.all_elements_by_type
    if not counts:
        return "unknown"
    ggml_type = max(counts, key=lambda t: counts[t])
    known = GGML_TYPES.get(ggml_type)
    return known[0] if known is not None else f"type {ggml_type}"


def _special_tokens(
    r: Reader, metadata: dict[str, object], tokens_offset: int | None, vocab_size: int | None
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


def _token_texts(r: Reader, tokens_offset: int, wanted: Iterable[int]) -> dict[int, str]:
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
