"""Retrieval-augmented prompts: find passages in the chosen knowledge bases and put the ones
that fit a token budget into a delimited, numbered context block the model can cite.

Plain Python; the window's model thread and `mingjing ask --kb` both use it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.embedders import Embedder, load_embedder
from kb.store import KnowledgeBase, KnowledgeStore, RetrievalHit

if TYPE_CHECKING:
    from app.query_translation import Translation

DEFAULT_TOP_K = 5
DEFAULT_CONTEXT_TOKENS = 1536
# "The knowledge base has no answer": when the best vector similarity among the retrieved
# passages is below this, none of them is taken as relevant and none goes into the prompt.
# Per embedder, for those calibrated with `mingjing kb eval` on tests/data/kb_eval: the
# highest value that declines none of its 72 answerable questions, searched as written (0.19;
# with translated questions it would be 0.25). It declines most off-topic questions; near
# misses that share the corpus's words mostly score above it.
NO_ANSWER_BELOW = {"use-multilingual-v3": 0.19}
INSTRUCTIONS = (
    "Answer the question using the numbered sources below. Cite the sources you use like "
    "[1] or [2]. If the sources do not contain the answer, say so."
)


class RetrievalError(Exception):
    """A knowledge base that cannot be searched (one-line reason)."""


@dataclass
class RagContext:
    query: str
    hits: list[RetrievalHit]  # everything retrieved, best first
    used: list[RetrievalHit] = field(default_factory=list)  # in this turn's block
    # Retrieved again but given in an earlier turn of the conversation, still in the prompt
    # there: not repeated, cited by their earlier numbers.
    reused: list[RetrievalHit] = field(default_factory=list)
    numbers: dict[int, int] = field(default_factory=dict)  # chunk id -> its [n]
    block: str = ""
    budget: int = 0
    tokens: int = 0  # tokens of the block in the chat model's tokenizer
    hit_tokens: dict[int, int] = field(default_factory=dict)  # chunk id -> chat tokens
    # The question in the knowledge bases' other language, searched for with it.
    translation: Translation | None = None
    best_score: float | None = None  # the best vector similarity among the hits
    threshold: float | None = None  # NO_ANSWER_BELOW for the knowledge bases' embedder

    @property
    def no_answer(self) -> bool:
        """Nothing retrieved is relevant enough to answer from (see NO_ANSWER_BELOW)."""
        return self.threshold is not None and (
            self.best_score is None or self.best_score < self.threshold)

    def no_answer_info(self) -> dict[str, float | None] | None:
        """Why the knowledge base was taken to have no answer, for the reply and the
        panel; None when it had one."""
        if not self.no_answer:
            return None
        return {"best_score": None if self.best_score is None else round(self.best_score, 4),
                "threshold": self.threshold}

    def fits(self, hit: RetrievalHit) -> bool:
        return hit.chunk_id in self.numbers

    def given(self) -> list[dict[str, int]]:
        """What this turn's block holds, kept with the user's message so that later turns
        know these passages are in the conversation already: [{number, chunk_id}]."""
        return [{"number": self.numbers[h.chunk_id], "chunk_id": h.chunk_id}
                for h in self.used]

    def sources(self) -> list[dict[str, Any]]:
        """What the reply can cite (this turn's passages and the earlier ones retrieved
        again), by number, for storage with the message and for --json."""
        cited = sorted(self.used + self.reused, key=lambda h: self.numbers[h.chunk_id])
        reused = {h.chunk_id for h in self.reused}
        return [
            {
                "number": self.numbers[h.chunk_id],
                "path": h.path,
                "name": Path(h.path).name,
                "kb": h.kb,
                "location": h.location(),
                "page": h.page,
                "heading": h.heading,
                "start_char": h.start_char,
                "end_char": h.end_char,
                "chunk_id": h.chunk_id,
                "text": h.text,
                "vector_score": h.vector_score,
                "keyword_score": h.keyword_score,
                "rank": h.rank,
                "matched_terms": h.matched_terms,
                "reused": h.chunk_id in reused,
            }
            for h in cited
        ]

    def retrieval_report(self) -> list[dict[str, Any]]:
        """Every hit with why it was retrieved and whether it fit the budget."""
        rows = []
        for h in self.hits:
            row = h.to_dict()
            row["in_prompt"] = self.fits(h)
            row["prompt_tokens"] = self.hit_tokens.get(h.chunk_id)
            rows.append(row)
        return rows


def knowledge_bases(store: KnowledgeStore, names: Sequence[str]) -> list[KnowledgeBase]:
    """The knowledge bases of these names; RetrievalError for one that does not exist."""
    by_name = {kb.name: kb for kb in store.list_kbs()}
    missing = next((n for n in names if n not in by_name), None)
    if missing is not None:
        raise RetrievalError(f"no knowledge base named {missing!r}")
    return [by_name[n] for n in names]


def retrieve(
    store: KnowledgeStore,
    kb_names: Sequence[str],
    query: str | Sequence[str],
    *,
    k: int = DEFAULT_TOP_K,
    embedder_loader: Callable[[str], Embedder] = load_embedder,
) -> list[RetrievalHit]:
    """Hybrid search of the knowledge bases of these names (search_knowledge)."""
    return search_knowledge(store, knowledge_bases(store, kb_names), query, k=k,
                            embedder_loader=embedder_loader)


def search_knowledge(
    store: KnowledgeStore,
    kbs: Sequence[KnowledgeBase],
    query: str | Sequence[str],
    *,
    k: int = DEFAULT_TOP_K,
    embedder_loader: Callable[[str], Embedder] = load_embedder,
) -> list[RetrievalHit]:
    """Hybrid search of knowledge bases already looked up (each with its own embedder's
    query vectors). Several queries (the question, the question with its translation) are
    searched each on its own; a passage keeps its best rank (HybridSearch.search_all)."""
    queries = [query] if isinstance(query, str) else list(query)
    vectors: list[dict[int, Any]] = [{} for _ in queries]
    for kb in kbs:
        encoded = embedder_loader(kb.embedder).encode(queries)
        for i in range(len(queries)):
            vectors[i][kb.id] = encoded[i]
    return store.search_all(kbs, list(zip(queries, vectors, strict=True)), k=k)


def source_header(number: int, hit: RetrievalHit) -> str:
    return f"[{number}] {Path(hit.path).name} ({hit.location()})"


def no_answer_threshold(embedders: Sequence[str]) -> float | None:
    """The "no answer" threshold for knowledge bases made with these embedders: None unless
    every one of them is calibrated."""
    values = [NO_ANSWER_BELOW.get(e) for e in embedders]
    if not values or any(v is None for v in values):
        return None
    return min(v for v in values if v is not None)


def build_context(
    query: str,
    hits: Sequence[RetrievalHit],
    count_tokens: Callable[[str], int],
    budget: int,
    threshold: float | None = None,
    earlier: Sequence[dict[str, Any]] = (),
) -> RagContext:
    """Take hits in rank order while the block stays within `budget` tokens; none when
    the best of them scores below `threshold` (the knowledge base has no answer).

    `earlier`: the passages earlier turns of the conversation gave ({number, chunk_id}),
    still in the prompt: a hit among them is not repeated (the cached prefix that holds it
    stays valid) but cited by its number; new ones are numbered after them."""
    scores = [h.vector_score for h in hits if h.vector_score is not None]
    context = RagContext(query=query, hits=list(hits), budget=budget,
                         best_score=max(scores) if scores else None, threshold=threshold)
    if context.no_answer:
        return context
    known = {int(s["chunk_id"]): int(s["number"]) for s in earlier}
    following = max(known.values(), default=0) + 1
    pieces: list[str] = []
    overhead = count_tokens(f"{INSTRUCTIONS}\n<sources>\n</sources>\n\nQuestion: {query}")
    used_tokens = overhead
    for hit in hits:
        if hit.chunk_id in known:
            context.reused.append(hit)
            context.numbers[hit.chunk_id] = known[hit.chunk_id]
            continue
        piece = f"{source_header(following, hit)}\n{hit.text.strip()}\n"
        cost = count_tokens(piece)
        context.hit_tokens[hit.chunk_id] = cost
        if used_tokens + cost > budget:
            continue
        context.used.append(hit)
        context.numbers[hit.chunk_id] = following
        following += 1
        pieces.append(piece)
        used_tokens += cost
    if context.used:
        context.block = "<sources>\n" + "\n".join(pieces) + "</sources>"
        context.tokens = used_tokens
    return context


NO_ANSWER_NOTE = (
    "The knowledge base has no passage relevant to this question. Say first that it does not "
    "contain the answer; then answer from general knowledge only if you are sure, and say so."
)


def augmented_question(query: str, context: RagContext, *, mode: str = "chat") -> str:
    """The message the model sees in place of the bare question."""
    if context.no_answer and mode == "chat":
        return f"{NO_ANSWER_NOTE}\n\nQuestion: {query}"
    if not context.used and not context.reused:
        return query
    parts = [context.block] if context.used else []
    if context.reused:
        numbers = ", ".join(f"[{context.numbers[h.chunk_id]}]" for h in context.reused)
        parts.append(f"Sources {numbers} given earlier in this conversation also apply.")
    body = "\n".join(parts)
    if mode == "completion":
        return f"{body}\n\nQuestion: {query}\nAnswer (citing sources like [1]):"
    return f"{INSTRUCTIONS}\n{body}\n\nQuestion: {query}"
