"""Importing documents: scan files and folders, skip what is unchanged, extract, chunk,
embed and store each file in one transaction, drop files that disappeared.

A file is marked pending before its work starts and replaced atomically at the end, so a
kill -9 at any point leaves a consistent database and the next import redoes only the
files that were pending, missing or changed. Extraction of the next files runs on a helper
thread while the current file's chunks are embedded."""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kb import segment
from kb.budget import DEFAULT_FILE_SECONDS, FileBudget, ImportCancelled, OverBudget
from kb.chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    Chunk,
    chunk_document,
    document_title,
    passage_text,
)
from kb.db import DatabaseError
from kb.embedders import DEFAULT_EMBEDDER, Embedder, load_embedder
from kb.extract import MAX_FILE_BYTES, ExtractionError, extract, is_supported, too_large_reason
from kb.store import KnowledgeBase, KnowledgeStore

Outcome = Literal["indexed", "unchanged", "failed", "removed"]
EMBED_BATCH = 64  # chunks per encode call: bounded memory, and cancel is checked between


@dataclass
class FileOutcome:
    path: str
    outcome: Outcome
    reason: str = ""
    chunks: int = 0


@dataclass
class ImportProgress:
    phase: str  # "scanning" | "indexing" | "embedding" | "done"
    files_total: int = 0
    files_done: int = 0
    chunks_done: int = 0
    current: str = ""


@dataclass
class ImportReport:
    kb: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    chunks: int = 0
    # Why the import stopped early, when the database could not go on (disk full,
    # read-only, locked): one line. The files done before it stay indexed.
    error: str = ""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.outcome == "failed"]

    def summary(self) -> str:
        text = (
            f"{self.count('indexed')} indexed, {self.count('unchanged')} unchanged, "
            f"{self.count('removed')} removed, {self.count('failed')} failed"
            f" ({self.chunks} chunks, {self.seconds:.1f} s)"
        )
        if self.error:
            return f"{text} — stopped: {self.error}"
        return text + (" — cancelled" if self.cancelled else "")


ProgressCallback = Callable[[ImportProgress], None]


_Row = tuple[int, str, str | None, str | None]  # a chunk to re-embed: id, text, heading, title


@dataclass
class _Prepared:
    """A file made ready for embedding on the helper thread (or why it can't be)."""

    path: str
    size: int
    mtime: float
    content_hash: str = ""
    kind: str = ""
    encoding: str | None = None
    chunks: list[Chunk] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    error: str = ""
    unchanged: bool = False
    cancelled: bool = False  # stopped by the user while reading or splitting it
    file_id: int = 0
    title: str = ""


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path], list[Path]]:
    """Expand folders. Returns (files to import, folders scanned, explicit paths missing).
    Hidden files and folders are skipped; so are unsupported files inside folders."""
    files: list[Path] = []
    folders: list[Path] = []
    missing: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if path.is_dir():
            folders.append(path)
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    candidate = Path(root) / name
                    if candidate not in seen and candidate.is_file() and is_supported(candidate):
                        seen.add(candidate)
                        files.append(candidate)
        elif path.exists():
            if path not in seen:
                seen.add(path)
                files.append(path)
        else:
            missing.append(path)
    return files, folders, missing


class Indexer:
    """Imports into one KnowledgeStore. Not thread-safe: one import at a time per Indexer."""

    def __init__(
        self,
        store: KnowledgeStore,
        *,
        embedder_loader: Callable[[str], Embedder] = load_embedder,
        max_bytes: int = MAX_FILE_BYTES,
        prepare_ahead: bool = False,
        file_seconds: float | None = DEFAULT_FILE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._load = embedder_loader
        self.max_bytes = max_bytes
        self.prepare_ahead = prepare_ahead
        # Time allowed to read and split one file (None: no limit); `clock` is for tests.
        self.file_seconds = file_seconds
        self._clock = clock

    # ---------------------------------------------------------- knowledge bases

    def ensure_kb(
        self,
        name: str,
        *,
        embedder: str | None = None,
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        chunk_overlap: int = DEFAULT_OVERLAP_TOKENS,
    ) -> KnowledgeBase:
        kb = self.store.get_kb(name)
        if kb is not None:
            return kb
        model = self._load(embedder or DEFAULT_EMBEDDER)
        return self.store.create_kb(
            name, embedder=model.id, dim=model.dim, chunk_tokens=chunk_tokens,
            chunk_overlap=chunk_overlap,
        )

    def embedder_for(self, kb: KnowledgeBase) -> Embedder:
        return self._load(kb.embedder)

    # ------------------------------------------------------------------ import

    def add(
        self,
        kb_name: str,
        paths: Sequence[str | Path],
        *,
        watch: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ImportReport:
        """Import files and folders (recursively). Unchanged files are skipped, changed ones
        re-indexed, files gone from a scanned folder removed from the index."""
        t0 = time.perf_counter()
        kb = self.ensure_kb(kb_name)
        embedder = self.embedder_for(kb)
        report = ImportReport(kb=kb.name)
        notify = progress or (lambda _p: None)
        notify(ImportProgress("scanning"))
        files, folders, missing = scan(paths)
        try:
            self._add_scanned(kb, embedder, files, folders, missing, report, notify, watch,
                              cancel)
        except DatabaseError as exc:  # disk full, read-only, locked: the rest would fail too
            report.error = str(exc)
        report.seconds = time.perf_counter() - t0
        notify(ImportProgress("done", len(files), len(files), report.chunks))
        return report

    def _add_scanned(
        self,
        kb: KnowledgeBase,
        embedder: Embedder,
        files: list[Path],
        folders: list[Path],
        missing: list[Path],
        report: ImportReport,
        notify: ProgressCallback,
        watch: bool,
        cancel: threading.Event | None,
    ) -> None:
        for folder in folders:
            self.store.add_source(kb.id, str(folder), is_folder=True, watch=watch)
        for path in files:
            if not any(path.is_relative_to(folder) for folder in folders):
                self.store.add_source(kb.id, str(path), is_folder=False)
        for path in missing:
            record = self.store.get_file(kb.id, str(path))
            if record is not None:
                self.store.remove_file(record.id)
                report.outcomes.append(FileOutcome(str(path), "removed"))
            else:
                report.outcomes.append(FileOutcome(str(path), "failed", "file not found"))
        # Files that vanished from scanned folders leave the index.
        present = {str(p) for p in files}
        for folder in folders:
            for record in self.store.files(kb.id, under=str(folder)):
                if record.path not in present and not Path(record.path).exists():
                    self.store.remove_file(record.id)
                    report.outcomes.append(FileOutcome(record.path, "removed"))
        self._index_files(kb, embedder, files, report, notify, cancel)

    def sync(
        self,
        kb_name: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ImportReport:
        """Re-check every source of a knowledge base (what a watched folder triggers)."""
        kb = self.store.get_kb(kb_name)
        if kb is None:
            raise KeyError(f"no knowledge base named {kb_name!r}")
        paths = [p for p, _folder, _watch in self.store.sources(kb.id)]
        known = [r.path for r in self.store.files(kb.id)]
        return self.add(kb_name, sorted(set(paths) | set(known)), progress=progress,
                        cancel=cancel)

    def _index_files(
        self,
        kb: KnowledgeBase,
        embedder: Embedder,
        files: list[Path],
        report: ImportReport,
        notify: ProgressCallback,
        cancel: threading.Event | None,
    ) -> None:
        progress = ImportProgress("indexing", files_total=len(files))
        notify(progress)
        user_cancel = cancel or threading.Event()
        stop = threading.Event()  # ends the helper thread, whatever the reason
        prepared: queue.Queue[_Prepared | None] = queue.Queue(maxsize=8)
        worker: threading.Thread | None = None
        items: Iterator[_Prepared]
        if self.prepare_ahead:
            worker = threading.Thread(
                target=self._prepare_all, args=(kb, embedder, files, prepared, stop, user_cancel),
                name="kb-extract", daemon=True,
            )
            worker.start()
            items = iter(prepared.get, None)
        else:
            items = (self._prepare(kb, embedder, path, user_cancel.is_set) for path in files)
        try:
            for item in items:
                if user_cancel.is_set():
                    break
                progress.current = item.path
                if item.cancelled:
                    break
                outcome = self._store_prepared(kb, embedder, item, user_cancel, progress, notify)
                if outcome is None:  # cancelled inside the file: it stays pending
                    break
                report.outcomes.append(outcome)
                report.chunks += outcome.chunks if outcome.outcome == "indexed" else 0
                progress.files_done += 1
                notify(progress)
        finally:
            stop.set()
            _drain(prepared)
            if worker is not None:
                worker.join(timeout=30)
        report.cancelled = user_cancel.is_set()

    def _prepare_all(
        self,
        kb: KnowledgeBase,
        embedder: Embedder,
        files: list[Path],
        out: queue.Queue[_Prepared | None],
        stop: threading.Event,
        cancel: threading.Event,
    ) -> None:
        try:
            for path in files:
                if stop.is_set() or cancel.is_set():
                    break
                item = self._prepare(kb, embedder, path,
                                     lambda: stop.is_set() or cancel.is_set())
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        finally:
            while True:
                try:
                    out.put(None, timeout=0.1)
                    break
                except queue.Full:
                    if stop.is_set():
                        _drain(out)

    def _prepare(
        self, kb: KnowledgeBase, embedder: Embedder, path: Path, cancelled: Callable[[], bool]
    ) -> _Prepared:
        key = str(path)
        try:
            st = path.stat()
        except OSError as exc:
            return _Prepared(key, 0, 0.0, error=f"cannot read file: {exc.strerror or exc}")
        item = _Prepared(key, st.st_size, st.st_mtime)
        if not stat.S_ISREG(st.st_mode):
            # A FIFO or a device (/dev/zero) would block or never end when hashed.
            item.error = "is a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            return item
        record = self.store.get_file(kb.id, key)
        if (
            record is not None
            and record.status == "indexed"
            and record.size == st.st_size
            and record.mtime == st.st_mtime
        ):
            item.unchanged = True
            return item
        if st.st_size > self.max_bytes:
            item.error = too_large_reason(st.st_size, self.max_bytes)
            return item
        try:
            item.content_hash = file_hash(path)
        except OSError as exc:
            item.error = f"cannot read file: {exc.strerror or exc}"
            return item
        if record is not None and record.status == "indexed" and (
            record.content_hash == item.content_hash
        ):
            item.unchanged = True
            item.file_id = record.id
            return item
        budget = FileBudget(self.file_seconds, cancelled=cancelled, clock=self._clock)
        try:
            self._read_and_split(kb, embedder, path, item, budget)
        except ImportCancelled:
            item.cancelled = True
        except OverBudget as exc:
            item.error = exc.reason
        return item

    def _read_and_split(
        self, kb: KnowledgeBase, embedder: Embedder, path: Path, item: _Prepared,
        budget: FileBudget,
    ) -> None:
        try:
            doc = extract(path, max_bytes=self.max_bytes, budget=budget)
        except ExtractionError as exc:
            item.error = exc.reason
            return
        item.kind, item.encoding = doc.kind, doc.encoding
        item.title = document_title(doc)
        try:
            item.chunks = chunk_document(
                doc, embedder.count_tokens, max_tokens=kb.chunk_tokens, overlap=kb.chunk_overlap,
                budget=budget,
            )
        except (ImportCancelled, OverBudget):
            raise
        except Exception as exc:  # the splitter is native code: report, don't crash
            item.error = f"could not split the text: {exc.__class__.__name__}: {exc}"
            return
        if not item.chunks:
            item.error = "no text found"
            return
        terms = []
        for n, chunk in enumerate(item.chunks):
            if not n % EMBED_BATCH:
                budget.check()
            terms.append(segment.index_text(passage_text(chunk.text, chunk.heading, item.title)))
        item.terms = terms

    def _store_prepared(
        self,
        kb: KnowledgeBase,
        embedder: Embedder,
        item: _Prepared,
        stop: threading.Event,
        progress: ImportProgress,
        notify: ProgressCallback,
    ) -> FileOutcome | None:
        if item.unchanged:
            if item.file_id:
                self.store.touch_file(item.file_id, item.size, item.mtime)
            return FileOutcome(item.path, "unchanged")
        file_id = self.store.mark_pending(kb.id, item.path, item.size, item.mtime)
        if item.error:
            self.store.mark_failed(file_id, item.error)
            return FileOutcome(item.path, "failed", item.error)
        texts = [passage_text(c.text, c.heading, item.title) for c in item.chunks]
        parts = []
        import numpy as np

        for start in range(0, len(texts), EMBED_BATCH):
            if stop.is_set():
                return None
            parts.append(embedder.encode(texts[start : start + EMBED_BATCH]))
            progress.chunks_done += len(parts[-1])
            if len(texts) > EMBED_BATCH:
                notify(progress)
        vectors = np.concatenate(parts) if parts else np.zeros((0, kb.dim), np.float32)
        self.store.store_file_chunks(
            kb, file_id, content_hash=item.content_hash, kind=item.kind,
            encoding=item.encoding, embedder=embedder.id, chunks=item.chunks,
            terms=item.terms, vectors=vectors, title=item.title,
        )
        return FileOutcome(item.path, "indexed", chunks=len(item.chunks))

    # ---------------------------------------------------------------- embedder

    def reembed(
        self,
        kb_name: str,
        embedder_spec: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """Switch a knowledge base to another embedder and rebuild its vectors, in batches
        (a cancelled or killed run resumes: chunks remember which embedder made them)."""
        kb = self.store.get_kb(kb_name)
        if kb is None:
            raise KeyError(f"no knowledge base named {kb_name!r}")
        model = self._load(embedder_spec)
        if kb.embedder != model.id or kb.dim != model.dim:
            self.store.set_embedder(kb.id, model.id, model.dim)
        todo = self.store.chunks_needing_vectors(kb.id, model.id)
        notify = progress or (lambda _p: None)
        state = ImportProgress("embedding", files_total=len(todo))
        done = 0
        for batch in _batches(todo, EMBED_BATCH):
            if cancel is not None and cancel.is_set():
                break
            ids = [row[0] for row in batch]
            vectors = model.encode([passage_text(text, heading, title)
                                   for _, text, heading, title in batch])
            self.store.replace_vectors(kb.id, model.id, ids, vectors)
            done += len(batch)
            state.files_done = state.chunks_done = done
            notify(state)
        return done


def _drain(q: queue.Queue[_Prepared | None]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


def _batches(items: list[_Row], size: int) -> Iterator[list[_Row]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
