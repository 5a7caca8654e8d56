"""Get more models: the catalog (with whether each model fits this computer), the downloads
(progress, speed, time left, cancel, resume) and the library (built-in, downloaded, opened
and other apps' models: use, show in the file manager, delete).

Nothing here waits: the catalog, the memory figures, the library scan and the network
check run on a lane; downloads run on the download queue's own thread, whose reports come
back as queued signals."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.settings import Settings
from models.refs import ModelRef
from ui.format import fill
from ui.tasks import Lane

log = logging.getLogger(__name__)

FIT_COLORS = {"fits": "#1f8a4c", "tight": "#b7791f", "too_big": "#b42318"}
OFFLINE_CHECK_S = 4.0


class _Reports(QObject):
    """The download queue's reports, from its thread to the GUI's."""

    state = Signal(object)  # models.download_queue.JobState


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


class ModelsWindow(QWidget):
    use_model = Signal(object)  # ModelRef: load this model in the window
    settings_changed = Signal()

    def __init__(self, models_dir: Path, data_dir: Path, settings: Settings,
                 language: str = "en", parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(self.tr("Models"))
        self.models_dir = models_dir
        self.data_dir = data_dir
        self.settings = settings
        self.language = language
        self._lane = Lane("models-window", self)
        self._reports = _Reports(self)
        self._reports.state.connect(self._on_state)
        self._queue: Any = None  # models.download_queue.DownloadQueue, made on first use
        self._catalog: Any = None
        self._memory: Any = None
        self._rows: dict[str, int] = {}  # file -> row in the downloads table
        self._downloaded: set[str] = set()  # file names in the models folder (the library's)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_catalog(), self.tr("Catalog"))
        self.tabs.addTab(self._build_downloads(), self.tr("Downloads"))
        self.tabs.addTab(self._build_library(), self.tr("Library"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.resize(1100, 640)
        self.refresh()

    # ------------------------------------------------------------------ building

    def _build_catalog(self) -> QWidget:
        page = QWidget()
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search: qwen 7b, 中文, llama…"))
        self.search.textChanged.connect(self._fill_catalog)
        self.source = QComboBox()
        for key, label in (("auto", self.tr("Automatic (by language)")),
                           ("hf", "Hugging Face"), ("mirror", self.tr("Hugging Face mirror")),
                           ("modelscope", self.tr("ModelScope (魔搭)"))):
            self.source.addItem(label, key)
        self.source.setCurrentIndex(max(0, self.source.findData(self.settings.download_source)))
        self.source.currentIndexChanged.connect(self._source_changed)
        self.network = QLabel()
        self.network.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.search, 2)
        top.addWidget(QLabel(self.tr("Download from:")))
        top.addWidget(self.source, 1)
        self.mirror = QLineEdit(self.settings.mirror_endpoint)
        self.mirror.setPlaceholderText("https://hf-mirror.com")
        self.mirror.setToolTip(self.tr("A Hugging Face mirror's address (empty: HF_ENDPOINT "
                                       "if set, else hf-mirror.com)"))
        self.token = QLineEdit(self.settings.hf_token)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText(self.tr("only for gated models"))
        self.token.setToolTip(self.tr("Sent to huggingface.co only: never to a mirror or "
                                      "to ModelScope."))
        for field in (self.mirror, self.token):
            field.editingFinished.connect(self._sources_edited)
        second = QHBoxLayout()
        second.addWidget(QLabel(self.tr("Mirror:")))
        second.addWidget(self.mirror, 1)
        second.addWidget(QLabel(self.tr("Hugging Face token:")))
        second.addWidget(self.token, 1)
        self.catalog_table = QTableWidget(0, 6)
        self.catalog_table.setHorizontalHeaderLabels([
            self.tr("Model"), self.tr("Parameters"), self.tr("Size"), self.tr("Fits?"),
            self.tr("About"), ""])
        _table_style(self.catalog_table, stretch=4)
        self.memory_note = QLabel()
        self.memory_note.setStyleSheet("color: palette(mid);")
        column = QVBoxLayout(page)
        column.addLayout(top)
        column.addLayout(second)
        column.addWidget(self.network)
        column.addWidget(self.catalog_table)
        column.addWidget(self.memory_note)
        return page

    def _build_downloads(self) -> QWidget:
        page = QWidget()
        self.downloads_table = QTableWidget(0, 5)
        self.downloads_table.setHorizontalHeaderLabels([
            self.tr("File"), self.tr("Progress"), self.tr("Speed"), self.tr("Time left"), ""])
        _table_style(self.downloads_table, stretch=1)
        self.downloads_empty = QLabel(self.tr("Nothing is downloading."))
        column = QVBoxLayout(page)
        column.addWidget(self.downloads_table)
        column.addWidget(self.downloads_empty)
        return page

    def _build_library(self) -> QWidget:
        page = QWidget()
        self.library_table = QTableWidget(0, 6)
        self.library_table.setHorizontalHeaderLabels([
            self.tr("Model"), self.tr("Size"), self.tr("Quantization"), self.tr("Where from"),
            self.tr("Last used"), ""])
        _table_style(self.library_table, stretch=0)
        column = QVBoxLayout(page)
        column.addWidget(self.library_table)
        return page

    # ------------------------------------------------------------------ data

    def refresh(self) -> None:
        """Catalog, memory, library and network, read on the lane."""
        from models.catalog import load_catalog
        from models.fit import offloaded_share, system_memory

        data_dir = self.data_dir
        gpu = offloaded_share(self.settings.n_gpu_layers) > 0
        self._lane.submit(lambda: (load_catalog(data_dir), system_memory(gpu=gpu)),
                          self._catalog_loaded, self._failed)
        self._refresh_library()
        self._check_network()

    def _refresh_library(self) -> None:
        from models.download import pending
        from models.library import library

        models_dir, recent = self.models_dir, list(self.settings.recent_models)
        used = dict(self.settings.last_used)
        self._lane.submit(lambda: (library(models_dir, recent, used), pending(models_dir)),
                          self._library_loaded, self._failed)

    def _check_network(self) -> None:
        import socket
        from urllib.parse import urlsplit

        from models.sources import first_endpoint

        url = first_endpoint(self.settings.download_source, self.settings.mirror_endpoint,
                             self.language)
        host = urlsplit(url).hostname or url
        port = urlsplit(url).port or (443 if url.startswith("https") else 80)

        def probe() -> str:
            try:
                with socket.create_connection((host, port), timeout=OFFLINE_CHECK_S):
                    return ""
            except OSError as exc:
                return f"{host}: {exc.strerror or exc.__class__.__name__}"

        self._lane.submit(probe, self._network_checked, self._failed)

    def _network_checked(self, problem: str) -> None:
        if problem:
            self.network.setText(self.tr(
                "Offline: cannot reach %s. The catalog is shown; downloads need the "
                "network (they resume where they stopped).") % problem)
            self.network.setStyleSheet(f"color: {FIT_COLORS['tight']};")
        else:
            self.network.setText("")

    def _failed(self, exc: BaseException) -> None:
        from engine.errors import EngineError

        if isinstance(exc, EngineError | OSError):  # the user's world: one line
            self.network.setText(str(exc).splitlines()[0] if str(exc) else
                                 type(exc).__name__)
        else:  # a bug: its traceback goes to the log, not on the screen
            log.error("models window: background work failed", exc_info=exc)
            self.network.setText(self.tr("Unexpected error (details in the log)."))

    def _catalog_loaded(self, loaded: tuple[Any, Any]) -> None:
        self._catalog, self._memory = loaded
        self._fill_catalog()

    def _fill_catalog(self) -> None:
        from models.fit import check_fit, offloaded_share

        if self._catalog is None:
            return
        entries = self._catalog.search(self.search.text())
        have = self._downloaded
        table = self.catalog_table
        table.setRowCount(len(entries))
        n_ctx = self.settings.n_ctx
        verdicts = {"fits": self.tr("Fits"), "tight": self.tr("Tight"),
                    "too_big": self.tr("Too big")}
        for row, e in enumerate(entries):
            fit = check_fit(e.size, e.kv_per_token, min(n_ctx, e.context_length), self._memory,
                            gpu_layers_share=offloaded_share(self.settings.n_gpu_layers))
            name = QTableWidgetItem(e.name)
            name.setToolTip(f"{e.file}\n{e.licence}\n" + ", ".join(e.languages))
            table.setItem(row, 0, name)
            table.setItem(row, 1, QTableWidgetItem(f"{e.parameters.split()[0]} · "
                                                   f"{e.quantization}"))
            table.setItem(row, 2, QTableWidgetItem(_gb(e.size)))
            verdict = QTableWidgetItem(verdicts[fit.verdict])
            verdict.setForeground(QBrush(QColor(FIT_COLORS[fit.verdict])))
            verdict.setToolTip(self._explain(fit))
            table.setItem(row, 3, verdict)
            about = QTableWidgetItem(e.describe(self.language))
            about.setToolTip(e.describe(self.language))
            table.setItem(row, 4, about)
            button = QPushButton(self.tr("Downloaded") if e.file in have
                                 else self.tr("Download"))
            button.setEnabled(e.file not in have)
            button.clicked.connect(_bind(self.download, e.id))
            table.setCellWidget(row, 5, button)
        memory = self._memory
        self.memory_note.setText(fill(self.tr(
            "Fit for a context of %1 tokens (Settings), with %2 GiB free of %3 GiB. "
            "Hover a label for the numbers."), f"{n_ctx:,}",
            f"{memory.available / 2**30:.1f}", f"{memory.total / 2**30:.1f}"))

    def _explain(self, fit: Any) -> str:
        gib = 1 << 30
        return fill(self.tr(
            "Needs about %1 GiB: weights %2 GiB + KV cache %3 GiB for %4 tokens + working "
            "memory %5 GiB.\nThis computer: %6 GiB free of %7 GiB."),
            f"{fit.need / gib:.1f}", f"{fit.weights / gib:.2f}", f"{fit.kv_cache / gib:.2f}",
            f"{fit.n_ctx:,}", f"{fit.overhead / gib:.2f}", f"{fit.memory.available / gib:.1f}",
            f"{fit.memory.total / gib:.1f}")

    def _library_loaded(self, loaded: tuple[list[Any], list[dict[str, Any]]]) -> None:
        items, unfinished = loaded
        downloaded = {i.path.name for i in items if i.origin == "downloaded" and i.path}
        if downloaded != self._downloaded:
            self._downloaded = downloaded
            self._fill_catalog()
        origins = {"builtin": self.tr("Built in"), "downloaded": self.tr("Downloaded"),
                   "opened": self.tr("Opened"), "lmstudio": "LM Studio",
                   "gpt4all": "GPT4All", "jan": "Jan", "ollama": "Ollama"}
        table = self.library_table
        table.setRowCount(len(items))
        for row, item in enumerate(items):
            name = QTableWidgetItem(item.name)
            name.setToolTip(str(item.path) if item.path else item.name)
            table.setItem(row, 0, name)
            table.setItem(row, 1, QTableWidgetItem(_gb(item.size)))
            table.setItem(row, 2, QTableWidgetItem(item.quantization or "—"))
            table.setItem(row, 3, QTableWidgetItem(origins.get(item.origin, item.origin)))
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.last_used)) \
                if item.last_used else "—"
            table.setItem(row, 4, QTableWidgetItem(used))
            buttons = QWidget()
            box = QHBoxLayout(buttons)
            box.setContentsMargins(0, 0, 0, 0)
            use = QPushButton(self.tr("Use"))
            use.clicked.connect(_bind(self.use_model.emit, item.ref))
            box.addWidget(use)
            if item.path is not None:
                show = QPushButton(self.tr("Show in folder"))
                show.clicked.connect(_bind(self._reveal, item.path))
                box.addWidget(show)
            if item.deletable:
                delete = QPushButton(self.tr("Delete…"))
                delete.clicked.connect(_bind(self._delete, item))
                box.addWidget(delete)
            table.setCellWidget(row, 5, buttons)
        for data in unfinished:
            file = str(data.get("file"))
            if file not in self._rows:
                self._add_download_row(file, self.tr("Unfinished: %s") % _share(data),
                                       resumable=True)

    # ------------------------------------------------------------------ actions

    def _sources_edited(self) -> None:
        mirror = self.mirror.text().strip()
        token = self.token.text().strip()
        if mirror and not mirror.startswith(("http://", "https://")):
            self.network.setText(self.tr("The mirror must be an http(s) address."))
            return
        if any(c.isspace() or not c.isprintable() for c in token):
            self.network.setText(self.tr("A token has no spaces."))
            return
        if (mirror, token) != (self.settings.mirror_endpoint, self.settings.hf_token):
            self.settings.mirror_endpoint, self.settings.hf_token = mirror, token
            self.settings_changed.emit()
            self._check_network()

    def _source_changed(self) -> None:
        self.settings.download_source = str(self.source.currentData())
        self.settings_changed.emit()
        self._check_network()

    def queue(self) -> Any:
        if self._queue is None:
            from models.download_queue import DownloadQueue

            self._queue = DownloadQueue(self.models_dir, self._reports.state.emit)
        return self._queue

    def download(self, entry_id: str) -> None:
        from models.sources import catalog_request

        if self._catalog is None:
            return
        entry = self._catalog.get(entry_id)
        settings = self.settings
        request = catalog_request(entry, settings.download_source, settings.mirror_endpoint,
                                  settings.hf_token, self.language)
        if self.queue().add(request):
            if entry.file not in self._rows:
                self._add_download_row(entry.file, self.tr("Queued"))
            self.tabs.setCurrentIndex(1)

    def _add_download_row(self, file: str, state: str, *, resumable: bool = False) -> None:
        table = self.downloads_table
        row = table.rowCount()
        table.insertRow(row)
        self._rows[file] = row
        table.setItem(row, 0, QTableWidgetItem(file))
        bar = QProgressBar()
        bar.setRange(0, 1000)
        bar.setFormat(state)
        bar.setTextVisible(True)
        table.setCellWidget(row, 1, bar)
        table.setItem(row, 2, QTableWidgetItem(""))
        table.setItem(row, 3, QTableWidgetItem(""))
        button = QPushButton(self.tr("Resume") if resumable else self.tr("Cancel"))
        button.clicked.connect(_bind(self._resume if resumable else self.cancel, file))
        table.setCellWidget(row, 4, button)
        self.downloads_empty.hide()

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.downloads_table.item(row, column)
        assert item is not None
        return item

    def cancel(self, file: str) -> None:
        if self._queue is not None:
            self._queue.cancel(file)

    def _resume(self, file: str) -> None:
        if self._catalog is None:
            return
        entry = next((e for e in self._catalog.entries if e.file == file), None)
        if entry is not None:
            row = self._rows.pop(file, None)
            if row is not None:
                self.downloads_table.removeRow(row)
                self._rows = {f: r - (r > row) for f, r in self._rows.items()}
            self.download(entry.id)

    def _on_state(self, state: Any) -> None:
        row = self._rows.get(state.file)
        if row is None:
            self._add_download_row(state.file, state.state)
            row = self._rows[state.file]
        bar = self.downloads_table.cellWidget(row, 1)
        assert isinstance(bar, QProgressBar)
        p = state.progress
        if state.state == "downloading" and p is not None:
            bar.setValue(int(1000 * p.fraction))
            labels = {"checking": self.tr("Checking what is there… %1 %"),
                      "downloading": self.tr("%1 % (%2)"),
                      "retrying": self.tr("Retrying: %2"),
                      "verifying": self.tr("Verifying…")}
            sources = {"hf": "Hugging Face", "mirror": self.tr("the mirror"),
                       "modelscope": "ModelScope", "url": self.tr("the address given")}
            bar.setFormat(fill(labels.get(p.state, "%1 %"), f"{100 * p.fraction:.1f}",
                               sources.get(p.source, p.source) if p.state == "downloading"
                               else p.note))
            self._cell(row, 2).setText(f"{p.speed / 1e6:.1f} MB/s"
                                                      if p.speed else "")
            eta = p.eta_s
            self._cell(row, 3).setText(_duration(eta) if eta else "")
        elif state.state == "done":
            bar.setValue(1000)
            bar.setFormat(self.tr("Done: verified (sha256)"))
            self._finished_row(row)
            self._refresh_library()
        elif state.state == "failed":
            bar.setFormat(self.tr("Failed"))
            bar.setToolTip(state.error)
            self._cell(row, 2).setText(state.error)
            self._cell(row, 2).setToolTip(state.error)
            self._finished_row(row, resumable=True)
        elif state.state == "cancelled":
            bar.setFormat(self.tr("Stopped: what arrived is kept"))
            self._finished_row(row, resumable=True)

    def _finished_row(self, row: int, *, resumable: bool = False) -> None:
        self._cell(row, 3).setText("")
        file = self._cell(row, 0).text()
        button = QPushButton(self.tr("Resume") if resumable else self.tr("Use"))
        if resumable:
            button.clicked.connect(_bind(self._resume, file))
        else:
            button.clicked.connect(_bind(self.use_model.emit,
                                         ModelRef.file(self.models_dir / file)))
        self.downloads_table.setCellWidget(row, 4, button)

    def _reveal(self, path: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))

    def _delete(self, item: Any) -> None:
        answer = QMessageBox.question(
            self, self.tr("Delete the model?"),
            fill(self.tr("Delete %1 (%2) from the disk? It can be downloaded again."),
                 item.name, _gb(item.size)))
        if answer != QMessageBox.StandardButton.Yes:
            return
        path: Path = item.path

        def remove() -> None:
            path.unlink()

        self._lane.submit(remove, lambda _r: self._refresh_library(), self._failed)

    def closeEvent(self, event: QCloseEvent) -> None:  # downloads go on; the window hides
        self.hide()
        event.ignore()

    def shutdown(self) -> None:
        if self._queue is not None:
            self._queue.close()
        self._lane.shutdown(wait=False)


def _share(data: dict[str, Any]) -> str:
    size, done = data.get("size") or 0, data.get("done") or 0
    return f"{100 * done / size:.0f} %" if size else _gb(done)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    return lambda *_: fn(*args)


def _table_style(table: QTableWidget, *, stretch: int) -> None:
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
