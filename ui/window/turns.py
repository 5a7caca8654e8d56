"""The chat on screen and its turns: the messages shown, send, regenerate, edit, stop and copy,
and the turn's events from the model thread while a reply streams."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget

from app.chat_service import TurnRequest, normalize_turns
from engine.types import ChatMessage, PromptProgress
from ui.chat_view import ChatView
from ui.composer import Composer
from ui.message_widget import MessageData
from ui.model_worker import ModelThread, TokenStep, TurnFinished, TurnStarted
from ui.window.knowledge import KnowledgeController
from ui.window.models import ModelController
from ui.window.preferences import SettingsController

CANDIDATES_SHOWN = 10  # next-token candidates per generated token for the concept panel


def stats_line(stats: dict[str, object] | None) -> str:
    """A reply's footer: tokens, speed, time to first token, prompt reuse, why it stopped."""
    if not stats:
        return ""
    translate = QCoreApplication.translate
    parts = [translate("TurnController", "%s tokens") % stats.get("completion_tokens", 0)]
    rate = stats.get("decode_tok_s")
    if isinstance(rate, int | float) and rate > 0:
        parts.append(translate("TurnController", "%.1f tok/s") % rate)
    ttft = stats.get("time_to_first_token_s")
    if isinstance(ttft, int | float):
        parts.append(translate("TurnController", "first token %.2f s") % ttft)
    reused, total = stats.get("reused_prompt_tokens"), stats.get("prompt_tokens")
    if total:
        parts.append(translate("TurnController", "prompt %s (%s reused)") % (total, reused))
    drafted = stats.get("drafted_tokens")
    if isinstance(drafted, int) and drafted > 0:
        parts.append(translate("TurnController", "%s of %s drafted kept") % (
            stats.get("accepted_tokens", 0), drafted))
    runs_on = stats.get("runs_on")
    if isinstance(runs_on, str) and runs_on and runs_on != "CPU":  # the CPU goes unsaid
        parts.append(translate("TurnController", "on %s") % runs_on)
    reason = stats.get("stop_reason")
    if reason and reason != "eos":
        parts.append(translate("TurnController", "stopped: %s") % _stop_reason_text(str(reason)))
    return " · ".join(parts)


def prompt_progress_text(progress: PromptProgress) -> str:
    """"Reading the prompt: 45 % (420 of 940 tokens, 62 tok/s, about 8 s left)"."""
    translate = QCoreApplication.translate
    percent = round(100 * progress.fraction)
    left = progress.seconds_left
    if left is None:
        return translate("TurnController", "Reading the prompt: %1 tokens…").replace(
            "%1", str(progress.total))
    return (translate("TurnController",
                      "Reading the prompt: %1 % (%2 of %3 tokens, %4 tok/s, about %5 s left)")
            .replace("%1", str(percent)).replace("%2", str(progress.done))
            .replace("%3", str(progress.total)).replace("%4", f"{progress.rate:.0f}")
            .replace("%5", f"{left:.0f}"))


def _stop_reason_text(reason: str) -> str:
    """The engine's stop reason for people; the English text is the reason's own name."""
    translate = QCoreApplication.translate
    texts = {
        "stop_string": translate("TurnController", "stop_string", "stop reason: a stop string"),
        "max_tokens": translate("TurnController", "max_tokens",
                                "stop reason: reply length limit"),
        "cancelled": translate("TurnController", "cancelled",
                               "stop reason: the user pressed Stop"),
        "context_full": translate("TurnController", "context_full",
                                  "stop reason: context is full"),
    }
    return texts.get(reason, reason)


class TurnController(QObject):
    """Owns the conversation shown (`conversation_id`, `history`) and the streaming state.
    The conversation list decides which conversation that is (switch_to, show_messages)."""

    status = Signal(str)
    conversations_changed = Signal()  # a turn created or updated a conversation
    draft_changed = Signal()  # the messages the draft continues changed (opened, new, edited)
    turn_started = Signal(object)  # TurnStarted, once the window shows it
    step = Signal(object)  # TokenStep of the reply streaming
    prompt_progress = Signal(object)  # PromptProgress of the turn streaming (None: done)
    turn_done = Signal(object)  # TurnFinished, once the window shows it

    def __init__(self, preferences: SettingsController, models: ModelController,
                 knowledge: KnowledgeController, chat_view: ChatView, composer: Composer,
                 stats_label: QLabel, window: QWidget) -> None:
        super().__init__(window)
        self.conversation_id: int | None = None
        self.history: list[MessageData] = []
        self.editing_from: int | None = None  # the user message being edited
        self.streaming_cid: int | None = None  # conversation whose reply is streaming
        self.history_ready = False  # the conversation database is open
        self.last_started: TurnStarted | None = None
        # Whether turns ask the model for what the concept panel shows (candidates, spans).
        self.inspecting: Callable[[], bool] = lambda: False
        self._streaming_new = False  # the streaming reply started a new conversation
        self._pending_text = ""  # the user's text of the running turn, restored if rejected
        self._live_parts: list[str] = []  # the streaming reply so far, wherever the user is
        # Bumped whenever another conversation is shown: a new conversation's first turn is
        # bound to the chat on screen only if that is still the chat it was sent from.
        self._view = 0
        self._sent_from_view = -1
        self._prefs = preferences
        self._models = models
        self._knowledge = knowledge
        self._chat_view = chat_view
        self._composer = composer
        self._stats_label = stats_label
        self._window = window
        self._thread: ModelThread | None = None
        chat_view.edit_requested.connect(self.edit_message)
        chat_view.regenerate_requested.connect(lambda _i: self.regenerate())
        chat_view.citation_clicked.connect(self._open_citation)
        composer.send_requested.connect(self.send)
        composer.stop_requested.connect(self.stop)
        composer.edit_last_requested.connect(self.edit_last)
        self.update_send_state()

    def attach(self, thread: ModelThread) -> None:
        self._thread = thread
        worker = thread.worker
        worker.turn_started.connect(self._on_turn_started)
        worker.piece.connect(self._on_piece)
        worker.prompt_progress.connect(self._on_prompt_progress)
        worker.token.connect(self._on_token)
        worker.turn_finished.connect(self._on_turn_finished)

    # ------------------------------------------------------------ the conversation shown

    def switch_to(self, conversation_id: int | None) -> None:
        """Make `conversation_id` the conversation shown (None: a new one, stored with its
        first turn); its messages follow with show_messages()."""
        self.conversation_id = conversation_id
        self.editing_from = None
        self._view += 1

    def show_messages(self, messages: list[MessageData]) -> None:
        """Show a conversation's stored messages. If its reply is streaming right now (the
        user went elsewhere and came back), the stored partial reply gives way to the live
        one, which keeps streaming."""
        live = self.conversation_id is not None and self.conversation_id == self.streaming_cid
        if live and messages and messages[-1].role == "assistant":
            messages = messages[:-1]
        self.history = messages
        self._chat_view.set_messages(self.history)
        if live:
            self._chat_view.begin_stream()
            self._chat_view.append_stream("".join(self._live_parts))
        self.draft_changed.emit()

    def set_history_ready(self) -> None:
        self.history_ready = True
        self.update_send_state()

    def draft_history(self) -> list[ChatMessage]:
        """The messages the draft in the input box follows (before the one being edited)."""
        return self._engine_messages(self.editing_from)

    def busy(self) -> bool:
        return self.streaming_cid is not None or self._streaming_new

    def can_send(self) -> bool:
        return (self._models.model is not None and not self._models.loading
                and self.history_ready and not self.busy())

    def update_send_state(self) -> None:
        composer = self._composer
        if self._models.loading:
            composer.set_enabled_for_sending(False, self.tr("The model is loading…"))
        elif self._models.model is None:
            composer.set_enabled_for_sending(False, self.tr("No model is loaded"))
        elif not self.history_ready:
            composer.set_enabled_for_sending(False, self.tr("Opening history…"))
        else:
            composer.set_enabled_for_sending(True)
        composer.set_busy(self.busy())

    def _engine_messages(self, upto: int | None = None) -> list[ChatMessage]:
        items = self.history if upto is None else self.history[:upto]
        msgs = [ChatMessage(m.role, m.content) for m in items if m.role in ("user", "assistant")]  # type: ignore[arg-type]
        return normalize_turns(msgs)

    # ------------------------------------------------------------------ the user's actions

    def send(self, text: str) -> None:
        if not text.strip() or not self.can_send() or self._thread is None:
            return
        truncate_from = self.editing_from
        if truncate_from is not None:
            self.history = self.history[:truncate_from]
            self._chat_view.remove_from(truncate_from)
            self.editing_from = None
        user = MessageData("user", text)
        self.history.append(user)
        self._chat_view.add_message(user)
        self._chat_view.begin_stream()
        self._composer.clear()
        self._pending_text = text
        self._begin_turn(truncate_from=truncate_from, save_user_message=True)

    def _begin_turn(self, *, truncate_from: int | None, save_user_message: bool) -> None:
        """Ask the model thread for the next reply to the conversation as shown."""
        assert self._thread is not None
        settings = self._prefs.settings
        inspect = self.inspecting()
        request = TurnRequest(
            conversation_id=self.conversation_id,
            messages=self._engine_messages(),
            sampling=settings.sampling,
            system=settings.system_prompt or None,
            save_user_message=save_user_message,
            truncate_from=truncate_from,
            kbs=list(self._knowledge.active_kbs),
            translate_query=settings.translate_queries,
            candidates=CANDIDATES_SHOWN if inspect else 0,
            inspect=inspect,
        )
        self._live_parts = []
        if request.conversation_id is None:
            self._streaming_new = True
            self._sent_from_view = self._view
        else:
            self.streaming_cid = request.conversation_id
        self.status.emit(self.tr("Thinking…"))
        self.update_send_state()
        self._thread.run_turn(request)

    def regenerate(self) -> None:
        if not self.can_send() or self.conversation_id is None or not self.history:
            return
        last = len(self.history) - 1
        if self.history[last].role != "assistant":
            return
        self.history = self.history[:last]
        self._chat_view.remove_from(last)
        self._chat_view.begin_stream()
        self._pending_text = ""
        self._begin_turn(truncate_from=last, save_user_message=False)

    def edit_last(self) -> None:
        for index in range(len(self.history) - 1, -1, -1):
            if self.history[index].role == "user":
                self.edit_message(index)
                return

    def edit_message(self, index: int) -> None:
        if not self.can_send() or not (0 <= index < len(self.history)):
            return
        self.editing_from = index
        self._composer.set_text(self.history[index].content)
        self._composer.focus_input()
        self.draft_changed.emit()
        self.status.emit(
            self.tr("Editing your message: sending replaces it and the reply after it."))

    def stop(self) -> None:
        if self._thread is not None and self.busy():
            self._thread.cancel()

    def copy_last_reply(self) -> None:
        for m in reversed(self.history):
            if m.role == "assistant" and m.content:
                QApplication.clipboard().setText(m.content)
                self.status.emit(self.tr("Reply copied."))
                return

    def _open_citation(self, index: int, number: int, which: int = -1) -> None:
        if not (0 <= index < len(self.history)):
            data = self._chat_view.messages()[index] if index >= 0 else None
        else:
            data = self.history[index]
        if data is None:
            return
        citation = data.citations[which] if 0 <= which < len(data.citations) else None
        self._knowledge.open_citation(data.sources, number, citation)

    # ------------------------------------------------------- events from the model thread

    def _on_turn_started(self, started: TurnStarted) -> None:
        self.last_started = started
        if self._streaming_new:
            self._streaming_new = False
            self.streaming_cid = started.conversation_id
            if self.conversation_id is None and self._view == self._sent_from_view:
                self.conversation_id = started.conversation_id  # the chat it was sent from
            self.conversations_changed.emit()
        self.turn_started.emit(started)
        if started.dropped:
            self.status.emit(self.tr("%n oldest message(s) left out to fit the context window.",
                                     "", len(started.dropped)))
        else:
            self.status.emit(self.tr("Generating… (Esc to stop)"))

    def _on_piece(self, conversation_id: int, text: str) -> None:
        if conversation_id == self.streaming_cid:
            if not self._live_parts:  # the reply has begun: the prompt is read
                self.prompt_progress.emit(None)
                if self._chat_view.is_streaming():
                    self._chat_view.set_stream_note("")
            self._live_parts.append(text)
        if conversation_id == self.conversation_id and self._chat_view.is_streaming():
            self._chat_view.append_stream(text)

    def _on_token(self, conversation_id: int, step: TokenStep) -> None:
        if conversation_id == self.streaming_cid:
            self.step.emit(step)

    def _on_prompt_progress(self, conversation_id: int, progress: PromptProgress) -> None:
        """Reading a long prompt (a knowledge-base question: seconds on a CPU): how far, how
        fast, how long yet, on the reply, in the status bar and in the context bar."""
        if conversation_id != self.streaming_cid:
            return
        text = prompt_progress_text(progress)
        if conversation_id == self.conversation_id and self._chat_view.is_streaming():
            self._chat_view.set_stream_note(text)
        self.status.emit(text + " " + self.tr("(Esc to stop)"))
        self.prompt_progress.emit(progress)

    def _on_turn_finished(self, finished: TurnFinished) -> None:
        self.prompt_progress.emit(None)
        chat_view = self._chat_view
        was_current = finished.conversation_id == self.conversation_id or (
            self._streaming_new and self._view == self._sent_from_view)
        self.streaming_cid = None
        self._streaming_new = False
        self._live_parts = []
        if finished.rejected:
            # Nothing was stored: take the bubbles back and return the text to the input box
            # (only in the chat it was sent from; another chat on screen is left alone).
            if was_current:
                if chat_view.is_streaming():
                    chat_view.end_stream("", "error")
                if self._pending_text and self.history and self.history[-1].role == "user":
                    self.history.pop()
                    self._composer.set_text(self._pending_text)
                chat_view.set_messages(self.history)
            self.status.emit(self.tr("Not sent."))
            self.update_send_state()
            self.turn_done.emit(finished)
            QMessageBox.warning(self._window, self.tr("Could not send"), finished.error)
            return
        stats = finished.stats.to_dict() if finished.stats else None
        info = finished.error or stats_line(stats)
        sources = list(finished.sources)
        if was_current and chat_view.is_streaming():
            chat_view.end_stream(finished.text, finished.status, info, finished.citations)
            self.history.append(
                MessageData("assistant", finished.text, finished.status, info, sources,
                            kb_no_answer=finished.no_answer,
                            citations=list(finished.citations))
            )
        if finished.stats:
            s = finished.stats
            self._stats_label.setText(
                self.tr("%.1f tok/s · first token %.2f s · reused %d/%d prompt tokens")
                % (s.decode_tok_s, s.time_to_first_token_s, s.reused_prompt_tokens,
                   s.prompt_tokens)
            )
        self.status.emit(finished.error if finished.status == "error" else self.tr("Ready."))
        self.update_send_state()
        self.conversations_changed.emit()
        self.turn_done.emit(finished)
