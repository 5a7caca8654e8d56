"""The engine: one loaded GGUF model, its tokenizer, prompt planning and a token iterator.

llama_cpp is imported only when a model loads, so importing this module stays cheap (the
window imports engine types on its start-up path). One Engine belongs to one thread."""

from __future__ import annotations

import codecs
import ctypes
import logging
import math
import random
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backend import Capabilities, ModelBackend, ModelDescription
from engine.errors import ContextOverflowError, EngineError, ModelFileError
from engine.gguf import ModelInfo, read_model_info
from engine.llama_tokenizer import LlamaTokenizer
from engine.loading import open_llama, prepare_template, skip_llama_cpp_templates, utf8_path
from engine.lookup import Drafter, DraftGate, PromptLookup
from engine.placement import Placement, choose
from engine.prompt_cache import PieceTokenizer
from engine.template import ChatTemplate
from engine.token_math import find_stop, held_back, softmax_at, top_k_tokens
from engine.types import (
    Candidate,
    ChatMessage,
    ContextPlan,
    FinishEvent,
    GenerationEvent,
    GenerationStats,
    LoadParams,
    Mode,
    PromptProgress,
    SamplingParams,
    StopReason,
    TokenEvent,
)

if TYPE_CHECKING:
    from llama_cpp import Llama

    from engine.cpu_backend import EngineBuild
    from engine.draft_model import DraftModel

log = logging.getLogger(__name__)

# The side context (side_backend): short tasks such as rewriting a search query.
SIDE_CTX = 1024
# Prompt tokens evaluated between two progress events (bench/prompt_progress.py measures
# what the chunking costs against one evaluation of the whole prompt).
PROMPT_CHUNK = 128


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Engine(LlamaTokenizer, ModelBackend):
    """A GGUF model run in this process by llama.cpp: the local backend. Create with
    `Engine.load`; close with `close()`."""

    capabilities = Capabilities(exact_token_counts=True, candidates=True, prefix_reuse=True,
                                token_pieces=True)

    def __init__(
        self,
        llama: Llama,
        info: ModelInfo,
        params: LoadParams,
        template: ChatTemplate | None,
    ) -> None:
        import llama_cpp

        self._llama = llama
        self._lib: Any = llama_cpp
        self.info = info
        self.params = params
        self.template = template
        self.n_ctx: int = llama.n_ctx()
        self._vocab = llama._model.vocab
        self._piece_cache: dict[int, bytes] = {}
        self._softmax_buffer: Any = None
        self._piece_buf = ctypes.create_string_buffer(256)
        self.bos_id: int = llama.token_bos()
        self.eos_id: int = llama.token_eos()
        self.add_bos: bool = bool(llama._model.add_bos_token())
        self.bos_text: str = llama._model.token_get_text(self.bos_id) if self.bos_id >= 0 else ""
        self.n_vocab: int = llama.n_vocab()
        self.build: EngineBuild | None = None  # what llama.cpp runs on (CPU variant)
        self.placement = Placement()  # the GPU and layers offloaded (engine/placement.py)
        self._template_spec: str | None = None  # as given to load(), for the side context
        # Prompt tokens evaluated at once between progress events (and Stop checks).
        self.prompt_chunk: int = max(1, min(PROMPT_CHUNK, params.n_batch))
        # Prompt-lookup decoding (engine/lookup.py), for greedy replies. Off by default: a
        # batch's arithmetic differs from one position at a time in the last bits, so where
        # two tokens are within rounding of each other the reply can differ from plain
        # decoding (bench prompt_lookup shows it); on when that difference is acceptable.
        self.prompt_lookup: bool = params.speculative
        # A smaller model of the same tokenizer drafting for this one (engine/draft_model.py),
        # used instead of prompt lookup where attached.
        self.draft: DraftModel | None = None
        self._side: Engine | None = None
        self._prompt_pieces: PieceTokenizer | None = None  # chat prompts, built on first use

    # ----------------------------------------------------------------- loading

    @classmethod
    def load(
        cls,
        path: str | Path,
        params: LoadParams | None = None,
        *,
        template: str | None = None,
    ) -> Engine:
        """Load a GGUF file.

        `template`: None uses the model's own chat template (chat mode) or, when it has none,
        plain text continuation (completion mode); "completion" forces continuation; a key of
        BUILTIN_TEMPLATES or a Jinja source forces chat with that template.
        """
        params = params or LoadParams()
        info = read_model_info(path)  # raises ModelFileError with a clear reason
        n_ctx = max(256, params.n_ctx)
        if info.context_length:
            n_ctx = min(n_ctx, info.context_length)
        # The chat template first: it is code from the file, checked on a sample
        # conversation within its budget before llama.cpp opens anything.
        chat_template = prepare_template(path, info, template)
        try:
            from engine.cpu_backend import ensure_loaded

            build = ensure_loaded()  # the CPU check, and the CPU variant of a bundle
            import llama_cpp
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - install problem
            raise EngineError(f"llama-cpp-python is not installed: {exc}") from exc
        skip_llama_cpp_templates(llama_cpp)
        placement = choose(info, n_ctx, params)
        while True:
            try:
                with utf8_path(Path(path)) as loadable:
                    llama = open_llama(Llama, loadable, n_ctx, params, placement)
                break
            except (ValueError, RuntimeError, OSError) as exc:
                # Out of GPU memory after all (the plan is an estimate; another program may
                # have taken some): fewer layers, down to none, each said in one line.
                smaller = placement.fewer()
                if smaller is None:
                    raise ModelFileError(
                        path, "llama.cpp could not load the model "
                              f"({exc.__class__.__name__}: {exc})") from exc
                log.warning("%s: %s", info.name, smaller.notice)
                placement = smaller
        engine = cls(llama, info, params, chat_template)
        engine.build = build
        engine.placement = placement
        engine._template_spec = template
        return engine

    def close(self) -> None:
        draft = getattr(self, "draft", None)
        if draft is not None:
            draft.close()
            self.draft = None
        side = getattr(self, "_side", None)
        if side is not None:
            side.close()
            self._side = None
        llama = getattr(self, "_llama", None)
        if llama is not None:
            llama.close()
            self._llama = None  # type: ignore[assignment]

    def side_backend(self) -> Engine | None:
        """A second, small context on the same file (its weights are the same mapped pages,
        so it costs little more than its own small KV cache), loaded on first use: side
        tasks run there and leave this context's cached prefix as it was."""
        if self._side is None:
            params = LoadParams(n_ctx=SIDE_CTX, n_threads=self.params.n_threads,
                                n_gpu_layers=0, n_batch=min(self.params.n_batch, SIDE_CTX))
            self._side = Engine.load(self.info.path, params, template=self._template_spec)
        return self._side

    @property
    def mode(self) -> Mode:
        return "chat" if self.template is not None else "completion"

    @property
    def description(self) -> ModelDescription:
        return ModelDescription(name=self.info.name, source=str(self.info.path), mode=self.mode,
                                n_ctx=self.n_ctx, info=self.info, build=self.build,
                                placement=self.placement)

    def reset_cache(self) -> None:
        """Forget the KV cache: the next prompt is evaluated from its first token."""
        self._llama.reset()
        self._llama._ctx.kv_cache_clear()

    @property
    def cached_tokens(self) -> list[int]:
        """Tokens whose keys and values sit in the KV cache now."""
        return [int(t) for t in self._llama.input_ids[: self._llama.n_tokens]]

    # --------------------------------------------------------------- prompts

    def render(
        self,
        messages: Sequence[ChatMessage],
        system: str | None = None,
        *,
        add_generation_prompt: bool = True,
    ) -> str:
        """The prompt text for a conversation, before tokenization."""
        if self.template is not None:
            full = [ChatMessage("system", system)] if system else []
            full.extend(messages)
            return self.template.render(full, add_generation_prompt=add_generation_prompt)
        head = f"{system}\n\n" if system else ""
        return head + "".join(m.content for m in messages)

    def stream(
        self,
        plan: ContextPlan,
        sampling: SamplingParams,
        *,
        cancel: threading.Event | None = None,
        candidates: int = 0,
    ) -> Iterator[GenerationEvent]:
        return self.generate(plan.tokens, sampling, cancel=cancel, candidates=candidates)

    def next_token_distribution(self, temperature: float = 1.0) -> Any:
        """The full next-token probability distribution (n_vocab float64) at the last
        position, under the given temperature (> 0)."""
        import numpy as np

        logits = np.ctypeslib.as_array(self._llama._ctx.get_logits_ith(-1),
                                       shape=(self.n_vocab,)).astype(np.float64)
        z = (logits - logits.max()) / temperature
        e = np.exp(z)
        return e / e.sum()

    def next_token_candidates(self, k: int, temperature: float,
                              row: int = -1) -> tuple[Candidate, ...]:
        """The k most likely next tokens, from the last position's logits (no logits_all:
        one n_vocab row is read in place after each decode step), or from position `row` of
        a batch that kept every position's scores (a verified draft)."""
        import numpy as np

        ptr = self._llama._ctx.get_logits_ith(row)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
        k = max(1, min(k, self.n_vocab))
        peak = float(logits.max())
        top = top_k_tokens(logits, k, peak)
        if self._softmax_buffer is None or len(self._softmax_buffer) != self.n_vocab:
            self._softmax_buffer = np.empty(self.n_vocab, dtype=np.float32)
        buf = self._softmax_buffer
        probs = softmax_at(logits, top, peak, 1.0, buf)
        if temperature <= 0:
            scaled = np.zeros(len(top))
            scaled[0] = 1.0
        elif temperature == 1.0:
            scaled = probs
        else:
            scaled = softmax_at(logits, top, peak, temperature, buf)
        return tuple(
            Candidate(int(t), self.token_bytes(int(t)).decode("utf-8", errors="replace"),
                      float(p), float(q))
            for t, p, q in zip(top, probs, scaled, strict=True)
        )

    def token_probability(self, token: int, row: int = -1) -> float:
        """The probability of one token at the last position (or `row`), at temperature 1."""
        import numpy as np

        logits = np.ctypeslib.as_array(self._llama._ctx.get_logits_ith(row),
                                       shape=(self.n_vocab,))
        peak = float(logits.max())
        total = float(np.exp(logits - peak).sum(dtype=np.float64))
        return float(np.exp(float(logits[token]) - peak)) / total

    def generate(
        self,
        tokens: Sequence[int],
        sampling: SamplingParams,
        *,
        cancel: threading.Event | None = None,
        candidates: int = 0,
    ) -> Iterator[GenerationEvent]:
        """Generate after `tokens`, reusing the KV cache for the prefix it shares with them.

        Yields a TokenEvent per token, then one FinishEvent whose text is the whole reply
        (authoritative: text held back for a possible stop string is only in it)."""
        if not tokens:
            raise EngineError("the prompt is empty")
        if self.params.vocab_only:
            raise EngineError("this model was loaded for its tokenizer only")
        if len(tokens) >= self.n_ctx:
            raise ContextOverflowError(needed=len(tokens), available=self.n_ctx - 1)
        llama = self._llama
        t_start = time.perf_counter()
        stats = GenerationStats(prompt_tokens=len(tokens), runs_on=self.placement.where())
        seed = sampling.seed if sampling.seed >= 0 else random.randrange(2**31)
        stats.seed = seed
        llama.set_seed(seed)
        sampler = llama._init_sampler(
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
        )
        try:
            reused = self._reuse_prefix(tokens)
            stats.reused_prompt_tokens = reused
            stats.evaluated_prompt_tokens = len(tokens) - reused
            yield from self._evaluate_prompt(tokens[reused:], cancel, t_start)
            if cancel is not None and cancel.is_set():
                stats.stop_reason = "cancelled"
                stats.total_s = stats.prompt_eval_s = time.perf_counter() - t_start
                yield FinishEvent("", stats)
                return
            self._check_logits()
            t_prompt = time.perf_counter()
            stats.prompt_eval_s = t_prompt - t_start
            lookup = self._drafter(tokens, sampling)
            yield from self._decode_loop(sampler, sampling, stats, cancel, t_start, candidates,
                                         lookup)
        finally:
            sampler.close()

    def _evaluate_prompt(self, tokens: Sequence[int], cancel: threading.Event | None,
                         t_start: float) -> Iterator[PromptProgress]:
        """Evaluate the prompt in chunks of PROMPT_CHUNK tokens, with a PromptProgress after
        each (when there is more than one) and Stop honoured between them. A prompt cut
        short leaves its evaluated part in the cache, reused by the next turn."""
        llama = self._llama
        total = len(tokens)
        chunk = self.prompt_chunk
        many = total > chunk
        done = 0
        t0 = time.perf_counter()
        if many:
            yield PromptProgress(0, total, t0 - t_start)
        while done < total:
            if many and cancel is not None and cancel.is_set():
                return
            part = list(tokens[done:done + chunk])
            try:
                llama.eval(part)
            except RuntimeError as exc:
                raise EngineError(f"llama.cpp failed to evaluate the prompt: {exc}") from exc
            done += len(part)
            if many:
                yield PromptProgress(done, total, time.perf_counter() - t0)

    def _check_logits(self) -> None:
        """Refuse a model whose first next-token scores are not numbers: damaged weights
        (NaN scales in a quantized block, say) give NaN or infinite logits, and the sampler
        would turn them into a reply like "!!!!". Checked once per reply, after the prompt is
        evaluated, never per token (one pass over n_vocab floats: ~0.1 ms)."""
        import numpy as np

        logits = np.ctypeslib.as_array(self._llama._ctx.get_logits_ith(-1),
                                       shape=(self.n_vocab,))
        # max() is NaN if any logit is NaN, +inf if any is +inf, -inf if all are -inf.
        if not math.isfinite(float(logits.max())):
            raise ModelFileError(
                self.info.path,
                "the model produced invalid numbers (NaN or infinite scores): the file is "
                "probably damaged")

    def _reuse_prefix(self, tokens: Sequence[int]) -> int:
        llama = self._llama
        cached = llama.input_ids[: llama.n_tokens]
        prefix = common_prefix_length(cached.tolist(), tokens)
        if prefix >= len(tokens):
            prefix = len(tokens) - 1  # at least one token must run to produce fresh logits
        if prefix > 0 and llama._ctx.kv_cache_seq_rm(-1, prefix, -1):
            llama.n_tokens = prefix
            return prefix
        self.reset_cache()
        return 0

    def _drafter(self, tokens: Sequence[int], sampling: SamplingParams) -> Drafter | None:
        """What drafts this reply's tokens: the draft model where one is attached, else
        prompt lookup where it is on; for greedy decoding without penalties only (each kept
        token is then the one this model picks at that position)."""
        if sampling.temperature != 0.0 or sampling.repeat_penalty != 1.0:
            return None
        if self.draft is not None:
            return self.draft.begin(tokens)
        return PromptLookup(tokens) if self.prompt_lookup else None

    def _verify(self, tokens: list[int]) -> list[int]:
        """Evaluate `tokens` in one batch with the scores of every position kept; the
        model's own choice (greedy) after each of them."""
        import numpy as np

        llama = self._llama
        n_past = llama.n_tokens
        llama._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llama._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
        try:
            llama._ctx.decode(llama._batch)
        except RuntimeError as exc:
            raise EngineError(f"llama.cpp failed while decoding: {exc}") from exc
        llama.input_ids[n_past:n_past + len(tokens)] = tokens
        llama.n_tokens = n_past + len(tokens)
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(),
                                       shape=(len(tokens), self.n_vocab))
        return [int(t) for t in logits.argmax(axis=1)]

    def _keep(self, n: int) -> None:
        """Keep the first `n` tokens of the cache (a draft's rejected tail goes)."""
        llama = self._llama
        llama._ctx.kv_cache_seq_rm(-1, n, -1)
        llama.n_tokens = n

    def _decode_loop(
        self,
        sampler: Any,
        sampling: SamplingParams,
        stats: GenerationStats,
        cancel: threading.Event | None,
        t_start: float,
        n_candidates: int = 0,
        lookup: Drafter | None = None,
    ) -> Iterator[GenerationEvent]:
        llama = self._llama
        ctx = llama._ctx
        gate = DraftGate()
        row = -1  # the scores the next token is chosen from (-1: the last position's)
        accepted: list[int] = []  # drafted tokens the model agreed with, still to emit
        kept = 0  # how many the last draft kept
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = [s for s in sampling.stop if s]
        strip_leading = self.mode == "chat"
        text = ""
        emitted = 0
        n_out = 0
        reason: StopReason = "max_tokens"
        t_first = t_last = 0.0
        max_tokens = max(0, sampling.max_tokens)
        while n_out < max_tokens:
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
                break
            drafted = bool(accepted)
            if accepted:  # its scores are those of the position before it in the draft
                token, source = accepted.pop(0), kept - len(accepted) - 1
            else:
                token, source = sampler.sample(ctx, row), row
            cands: tuple[Candidate, ...] = ()
            chosen_p: float | None = None
            if n_candidates > 0:
                cands = self.next_token_candidates(n_candidates, sampling.temperature, source)
                chosen_p = next((c.probability for c in cands if c.token_id == token), None)
                if chosen_p is None:  # drawn from outside the candidates: one more pass
                    chosen_p = self.token_probability(token, source)
            if n_out == 0:
                t_first = time.perf_counter()
                stats.time_to_first_token_s = t_first - t_start
            if self.is_end_of_generation(token):
                reason = "eos"
                break
            n_out += 1
            t_last = time.perf_counter()
            text += decoder.decode(self.token_bytes(token))
            if strip_leading:
                stripped = text.lstrip()
                if stripped:
                    strip_leading = False
                text = stripped
            release = len(text)
            if stops:
                hit = find_stop(text, stops, max(0, emitted - max(map(len, stops))))
                if hit >= 0:
                    text = text[:hit]
                    yield TokenEvent(token, text[emitted:], cands, chosen_p, drafted)
                    emitted = len(text)
                    reason = "stop_string"
                    break
                release = len(text) - held_back(text, stops)
            yield TokenEvent(token, text[emitted:release], cands, chosen_p, drafted)
            emitted = release
            if lookup is not None:
                lookup.add(token)
            if drafted:
                continue  # already in the cache: it was verified with its draft
            if llama.n_tokens + 1 > self.n_ctx:
                reason = "context_full"
                break
            draft = lookup.propose(min(gate.length, max_tokens - n_out - 1,
                                       self.n_ctx - llama.n_tokens - 2)) \
                if lookup is not None and gate.open else []
            if not draft:
                gate.tick()
                row = -1
                try:
                    llama.eval([token])
                except RuntimeError as exc:
                    raise EngineError(f"llama.cpp failed while decoding: {exc}") from exc
                continue
            n_past = llama.n_tokens
            choices = self._verify([token, *draft])
            kept = 0
            while kept < len(draft) and choices[kept] == draft[kept]:
                kept += 1
            self._keep(n_past + 1 + kept)
            accepted = draft[:kept]
            row = kept  # the model's next token after the last kept one
            gate.record(kept, len(draft))
            stats.drafted_tokens += len(draft)
            stats.accepted_tokens += kept
        # Bytes of a character cut off by the end of generation are dropped, not shown as U+FFFD.
        stats.completion_tokens = n_out
        stats.stop_reason = reason
        if n_out > 1 and t_last > t_first:
            stats.decode_s = t_last - t_first
            stats.decode_tok_s = (n_out - 1) / stats.decode_s
        stats.total_s = time.perf_counter() - t_start
        yield FinishEvent(text, stats)
