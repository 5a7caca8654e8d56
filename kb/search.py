"""Hybrid search in the knowledge base store: vector KNN per knowledge base (sqlite-vec, or
an in-memory matrix for large ones) and BM25 over FTS5 terms, fused by reciprocal rank
fusion."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from kb import segment
from kb.filenames import unicode_path
from kb.records import (
    MAX_RESULTS,
    KnowledgeBase,
    RetrievalHit,
    check_result_count,
    vec_table,
    vector_blob,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.)
# Above this many chunks a knowledge base's vectors are also held in memory as one float32
# matrix: a NumPy matrix-vector product beats vec0's brute-force scan by ~5x at 100k.
MEMORY_KNN_MIN_CHUNKS = 20_000
# Query terms found in more than this share of chunks carry little signal but make BM25
# score most of the index; they are dropped (the vector side still sees the whole query).
MAX_TERM_DOC_SHARE = 0.2
MAX_QUERY_TERMS = 12
SCRIPT_SAMPLE = 48  # chunks read to tell which scripts a knowledge base is written in


class HybridSearch:
    """Search of KnowledgeStore (a mixin: the store provides the connection and the cache)."""

    if TYPE_CHECKING:
        conn: Any
        # kb id -> (vectors_version, chunk ids, matrix)
        _matrices: dict[int, tuple[int, Any, Any]]

        def _reading(self) -> AbstractContextManager[Any]: ...

    def search(
        self,
        kbs: Sequence[KnowledgeBase],
        query: str,
        query_vectors: dict[int, NDArray[np.float32]],
        *,
        k: int = 5,
        candidates: int | None = None,
    ) -> list[RetrievalHit]:
        """Hybrid search: vector KNN (per knowledge base, with its own embedder's query
        vector) and BM25 over jieba terms, fused by reciprocal rank fusion."""
        return self.search_all(kbs, [(query, query_vectors)], k=k, candidates=candidates)

    def search_all(
        self,
        kbs: Sequence[KnowledgeBase],
        queries: Sequence[tuple[str, dict[int, NDArray[np.float32]]]],
        *,
        k: int = 5,
        candidates: int | None = None,
    ) -> list[RetrievalHit]:
        """Several searches for one question (as written; with its translation): each is a
        hybrid search of its own, and a chunk keeps its best fused score among them, with
        the signals of the search that gave it. A question searched with a poor translation
        thus keeps whatever the question alone ranks high (hard set: recall@5 0.92 -> 0.94
        against one search for both)."""
        check_result_count(k)
        n = min(candidates or max(40, 4 * k), 4 * MAX_RESULTS)
        best: dict[int, tuple[float, RetrievalHit, tuple[str, ...], int]] = {}
        with self._reading():
            total = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] or 1
            for index, (query, vectors) in enumerate(queries):
                scores, hits, q_terms = self._fused(kbs, query, vectors, n, total)
                for cid, score in scores.items():
                    if cid not in best or score > best[cid][0]:
                        best[cid] = (score, hits[cid], q_terms, index)
            top = sorted(best, key=lambda cid: -best[cid][0])[:k]
            if not top:
                return []
            marks = ",".join("?" * len(top))
            rows = self.conn.execute(
                "SELECT c.id, c.kb_id, f.path, c.text, c.page, c.heading, c.start_char, "
                "c.end_char, c.token_count, c.terms FROM chunks c JOIN files f ON f.id = c.file_id "
                f"WHERE c.id IN ({marks})",
                top,
            ).fetchall()
        details = {int(r[0]): r for r in rows}
        names = {kb.id: kb.name for kb in kbs}
        out: list[RetrievalHit] = []
        for rank, cid in enumerate(top, start=1):
            row = details.get(cid)
            if row is None:
                continue
            score, hit, q_terms, index = best[cid]
            hit.kb = names.get(int(row[1]), "")
            hit.path = unicode_path(str(row[2]))
            hit.text, hit.page, hit.heading = row[3], row[4], row[5]
            hit.start_char, hit.end_char, hit.token_count = row[6], row[7], row[8]
            chunk_terms = set(str(row[9]).split())
            hit.matched_terms = [t for t in q_terms if t in chunk_terms]
            hit.fused_score = score
            hit.rank = rank
            hit.query = index
            out.append(hit)
        return out

    def _fused(self, kbs: Sequence[KnowledgeBase], query: str,
               query_vectors: dict[int, NDArray[np.float32]], n: int, total: int
               ) -> tuple[dict[int, float], dict[int, RetrievalHit], tuple[str, ...]]:
        """One hybrid search: chunk id -> RRF score, the hits with their two rankings, and
        the keyword terms searched (`total`: the chunks in the store)."""
        kb_ids = [kb.id for kb in kbs]
        vec: list[tuple[int, float]] = []  # (chunk id, cosine similarity)
        for kb in kbs:
            qv = query_vectors.get(kb.id)
            if qv is not None:
                vec.extend(self._knn(kb, qv, n))
        vec.sort(key=lambda item: -item[1])
        vec = vec[:n]
        q_terms = self._selective_terms(segment.query_terms(query), total)
        kw: list[tuple[int, float]] = []
        if q_terms and kb_ids:
            marks = ",".join("?" * len(kb_ids))
            rows = self.conn.execute(
                "SELECT f.rowid, bm25(chunk_fts) AS score FROM chunk_fts f "
                f"JOIN chunks c ON c.id = f.rowid WHERE chunk_fts MATCH ? AND c.kb_id IN "
                f"({marks}) ORDER BY score LIMIT ?",
                (segment.fts_query(q_terms), *kb_ids, n),
            ).fetchall()
            kw = [(int(r[0]), -float(r[1])) for r in rows]
        hits: dict[int, RetrievalHit] = {}
        scores: dict[int, float] = {}
        for rank, (cid, score) in enumerate(vec, start=1):
            hit = hits.setdefault(cid, _blank_hit(cid))
            hit.vector_score, hit.vector_rank = score, rank
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
        for rank, (cid, score) in enumerate(kw, start=1):
            hit = hits.setdefault(cid, _blank_hit(cid))
            hit.keyword_score, hit.keyword_rank = score, rank
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
        return scores, hits, q_terms

    def _knn(self, kb: KnowledgeBase, query: Any, n: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the n nearest chunks."""
        row = self.conn.execute(
            "SELECT vectors_version, (SELECT COUNT(*) FROM chunks WHERE kb_id = kb.id) "
            "FROM kb WHERE id = ?", (kb.id,),
        ).fetchone()
        version, count = (int(row[0]), int(row[1])) if row else (0, 0)
        if count >= MEMORY_KNN_MIN_CHUNKS:
            import numpy as np

            cached = self._matrices.get(kb.id)
            if cached is None or cached[0] != version:
                rows = self.conn.execute(
                    f"SELECT rowid, embedding FROM {vec_table(kb.id)}"
                ).fetchall()
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                cached = (version, ids, matrix.reshape(len(rows), -1))
                self._matrices[kb.id] = cached
            _, ids, matrix = cached
            sims = matrix @ np.asarray(query, dtype=np.float32)
            take = min(n, len(sims))
            top = np.argpartition(-sims, take - 1)[:take] if take else np.zeros(0, np.int64)
            return [(int(ids[i]), float(sims[i])) for i in top]
        self._matrices.pop(kb.id, None)
        rows = self.conn.execute(
            f"SELECT rowid, distance FROM {vec_table(kb.id)} WHERE embedding MATCH ? AND k = ?",
            (vector_blob(query), n),
        ).fetchall()
        return [(int(r[0]), 1.0 - float(r[1])) for r in rows]

    def scripts(self, kb_ids: Sequence[int], sample: int = SCRIPT_SAMPLE) -> dict[str, float]:
        """The share of chunks written in each script ("zh", "en"; kb.segment.script_of),
        read from `sample` chunks spread evenly over the knowledge bases (a few indexed
        look-ups, whatever their size)."""
        if not kb_ids:
            return {}
        marks = ",".join("?" * len(kb_ids))
        counts: dict[str, int] = {}
        with self._reading():
            low, high = self.conn.execute(
                f"SELECT MIN(id), MAX(id) FROM chunks WHERE kb_id IN ({marks})", tuple(kb_ids)
            ).fetchone()
            if low is None:
                return {}
            seen: set[int] = set()
            for i in range(sample):
                target = low + (high - low) * i // max(1, sample - 1)
                row = self.conn.execute(
                    f"SELECT id, substr(text, 1, 400) FROM chunks WHERE id >= ? AND kb_id IN "
                    f"({marks}) ORDER BY id LIMIT 1", (target, *kb_ids)).fetchone()
                if row is None or row[0] in seen:
                    continue
                seen.add(row[0])
                script = segment.script_of(row[1])
                if script is not None:
                    counts[script] = counts.get(script, 0) + 1
        total = sum(counts.values())
        return {k: v / total for k, v in counts.items()} if total else {}

    def _selective_terms(self, terms: tuple[str, ...], total: int) -> tuple[str, ...]:
        """Drop query terms that occur in a large share of all chunks (near-stopwords)."""
        if not terms:
            return terms
        marks = ",".join("?" * len(terms))
        counts = dict(self.conn.execute(
            f"SELECT term, doc FROM chunk_fts_vocab WHERE term IN ({marks})", terms
        ).fetchall())
        # A term found nowhere cannot match: it must not take the place of one that can (a
        # question searched with its translation has many).
        keep = [t for t in terms if counts.get(t, 0) > 0
                and (counts[t] <= MAX_TERM_DOC_SHARE * total or total < 50)]
        # The rarest terms say most about what is asked.
        keep.sort(key=lambda t: counts.get(t, 0))
        chosen = set(keep[:MAX_QUERY_TERMS])
        return tuple(t for t in terms if t in chosen)


def _blank_hit(chunk_id: int) -> RetrievalHit:
    return RetrievalHit(chunk_id=chunk_id, kb="", path="", text="", page=None, heading=None,
                        start_char=0, end_char=0, token_count=0)

