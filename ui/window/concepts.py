"""The concept panel's wiring: its dock, the tokenizer thread that counts the draft while the
user types, and the turn's events (prompt, token steps, retrieval, model card) shown in it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow

from engine.types import LoadParams, PromptProgress, reply_reserve
from ui.composer import Composer
from ui.model_worker import LoadedModel, Retrieved, TokenStep, TurnFinished, TurnStarted
from ui.window.models import ModelController
from ui.window.preferences import SettingsController
from ui.window.turns import TurnController

if TYPE_CHECKING:
    from ui.concept_panel import ConceptPanel
    from ui.token_worker import Inspection, TokenizerThread

log = logging.getLogger(__name__)


class ConceptController(QObject):
    passage_activated = Signal(dict)  # a retrieved passage was double-clicked

    def __init__(self, window: QMainWindow, preferences: SettingsController,
                 models: ModelController, turns: TurnController, composer: Composer,
                 models_dir: Path) -> None:
        super().__init__(window)
        self.panel: ConceptPanel | None = None
        self.dock: QDockWidget | None = None
        self.tokenizer: TokenizerThread | None = None
        self._window = window
        self._prefs = preferences
        self._models = models
        self._turns = turns
        self._composer = composer
        self._models_dir = models_dir
        self._showing_turn = False  # the panel shows the last turn, not the draft
        self._kbs: list[str] = []  # the knowledge bases on, for the panel's note

    def start(self) -> None:
        """The tokenizer thread and the panel in its dock (shown as the settings say);
        once: a second call leaves them as they are."""
        if self.panel is not None:
            return
        from ui.concept_panel import ConceptPanel
        from ui.token_worker import TokenizerThread

        self.tokenizer = TokenizerThread(self)
        self.tokenizer.inspected.connect(self._on_inspected)
        self.tokenizer.loaded.connect(
            lambda _path: self.inspect_draft(now=True, idle_only=True))
        self.tokenizer.failed.connect(lambda msg: log.warning("tokenizer thread: %s", msg))
        panel = ConceptPanel()
        panel.passage_activated.connect(self.passage_activated)
        panel.tab_changed.connect(lambda _key: self.inspect_draft(now=True, idle_only=True))
        self.panel = panel
        dock = QDockWidget(self.tr("Concept panel"), self._window)
        dock.setObjectName("concept-dock")
        dock.setWidget(panel)
        self._window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.setVisible(self._prefs.settings.concept_panel)
        dock.visibilityChanged.connect(self._on_visibility)
        self.dock = dock
        self._window.resizeDocks([dock], [400], Qt.Orientation.Horizontal)
        self._composer.text_changed.connect(lambda _text: self.inspect_draft(fresh=True))
        self._show_knowledge_note()

    def stop(self) -> None:
        if self.tokenizer is not None:
            self.tokenizer.stop()

    def toggle(self) -> None:
        if self.dock is not None:
            self.dock.setVisible(not self.dock.isVisible())

    def shown(self) -> bool:
        return self.dock is not None and self.dock.isVisible()

    def _on_visibility(self, visible: bool) -> None:
        if visible:
            self.inspect_draft(now=True, idle_only=True)
        shown = self.shown()
        settings = self._prefs.settings
        if shown != settings.concept_panel and not self._window.isHidden():
            settings.concept_panel = shown
            self._prefs.save()

    # ------------------------------------------------------------------ the draft

    def inspect_draft(self, *, now: bool = False, idle_only: bool = False,
                      fresh: bool = True) -> None:
        """Ask the tokenizer thread for counts of the conversation plus what is typed.

        After a reply the panel keeps showing that turn (its knowledge and reply) until
        something changes the draft or the conversation (`fresh`); calls that only
        refresh (`idle_only`: the tokenizer loaded, a tab changed) leave it alone."""
        from ui.token_worker import InspectRequest

        if idle_only:
            fresh = False
        if fresh:
            self._showing_turn = False
        elif self._showing_turn:
            return
        model = self._models.model
        if self.tokenizer is None or model is None or self.panel is None:
            return
        if model.remote and self._turns.busy():
            # One request at a time to a server: some (llama-cpp-python's) end the reply
            # they are streaming when another request arrives. Counted when it is done.
            return
        if not self.shown():
            return
        settings = self._prefs.settings
        request = InspectRequest(
            draft=self._composer.text(),
            history=self._turns.draft_history(),
            system=settings.system_prompt or None,
            reserve=reply_reserve(model.n_ctx, settings.sampling.max_tokens),
            spans=self.panel.wants_spans(),
        )
        self.tokenizer.inspect(request, now=now)

    def _on_inspected(self, inspection: Inspection) -> None:
        if self.panel is None:
            return
        self.panel.show_draft(
            inspection.draft, inspection.draft_tokens, inspection.chars_per_token,
            inspection.context, inspection.error, inspection.spans,
        )

    def settings_applied(self, reload: bool) -> None:
        if not reload:  # a reload inspects again once the tokenizer has the new model
            self.inspect_draft(now=True)

    # ------------------------------------------------------------------ events

    def show_model(self, loaded: LoadedModel) -> None:
        """The Model tab, and a tokenizer-only copy of the model for counting the draft."""
        if self.panel is not None:
            self.panel.show_model(loaded)
        if self.tokenizer is not None:
            settings = self._prefs.settings
            self.tokenizer.load(loaded.ref, self._models_dir, LoadParams(n_ctx=loaded.n_ctx),
                                settings.template_arg(), settings.server_key(loaded.ref))

    def show_knowledge(self, kbs: list[str]) -> None:
        self._kbs = list(kbs)
        self._show_knowledge_note()

    def _show_knowledge_note(self) -> None:
        from app.rag import DEFAULT_CONTEXT_TOKENS

        if self.panel is not None:
            self.panel.set_knowledge_note(self._kbs, DEFAULT_CONTEXT_TOKENS)

    def show_retrieval(self, retrieved: Retrieved) -> None:
        if self.panel is not None:
            self.panel.show_retrieval(retrieved.query, list(retrieved.hits), retrieved.budget,
                                      retrieved.translation, retrieved.no_answer,
                                      retrieved.translation_hints)

    def begin_turn(self, started: TurnStarted) -> None:
        if self.panel is not None and self.shown():
            self.panel.begin_turn(started.context, started.spans,
                                  self._prefs.settings.sampling.temperature)

    def add_step(self, step: TokenStep) -> None:
        if self.panel is not None:
            self.panel.add_step(step)

    def show_prompt_progress(self, progress: PromptProgress | None) -> None:
        if self.panel is not None:
            self.panel.context_bar.set_prompt_progress(progress)

    def end_turn(self, finished: TurnFinished) -> None:
        if self.panel is not None and self.panel.is_streaming():
            # The bar and prompt keep showing the turn just sent (knowledge and reply
            # included) until the user types the next message.
            self.panel.end_turn(finished.stats)
            self._showing_turn = True
        else:
            self.inspect_draft(now=True)
