"""One loaded model, shared by everyone who asks: the window's model thread, the local API.

Turns run one at a time, in the order they arrive (a first-come turnstile). A bounded number
of requests may wait; one more is refused at once with ModelBusy (the API answers 429),
never left hanging. A waiting request gives up when its cancel event is set (Stop in the
window, a client that disconnected). A caller can take its place in line at once (`reserve`,
on the server's event loop as requests arrive) and wait for it later on its own thread, so
the order of arrival is the order served. Each turn carries a label ("window", "api") so a
waiting caller can say whom it waits for. Loading another model waits for the running turn,
then swaps the backend; a model that fails to load leaves the previous one loaded where it
can. The model is loaded, run and closed on one compute thread of the host's own, whichever
thread asks (app/compute_thread.py says why).

Plain Python, no Qt."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from app.compute_thread import ComputeBound, ComputeThread
from engine.backend import ModelBackend, ModelDescription
from engine.errors import EngineError
from engine.types import LoadParams
from models.refs import ModelRef

log = logging.getLogger(__name__)
DEFAULT_MAX_WAITING = 8
_POLL_S = 0.05


class ModelBusy(EngineError):
    """Too many requests are already waiting for the model."""


class NoModelLoaded(EngineError):
    """No model is loaded (yet, or any more)."""


class WaitCancelled(EngineError):
    """The request was cancelled while it waited for its turn."""


class Ticket:
    """A place in line for the model, taken by `reserve` or by `use` itself."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What to load: a model reference and how."""

    ref: ModelRef
    params: LoadParams = field(default_factory=LoadParams)
    template: str | None = None
    api_key: str | None = field(default=None, repr=False)  # a remote server's, only


class ModelHost:
    def __init__(self, models_dir: Path, *, max_waiting: int = DEFAULT_MAX_WAITING) -> None:
        self.models_dir = models_dir
        self.max_waiting = max_waiting
        self._backend: ModelBackend | None = None  # bound to the compute thread
        self._compute: ComputeThread | None = None  # started with the first load
        self._spec: LoadSpec | None = None
        self._description: ModelDescription | None = None
        self._cond = threading.Condition()
        self._queue: deque[Ticket] = deque()
        self._holder: Ticket | None = None

    # ------------------------------------------------------------------- state

    @property
    def spec(self) -> LoadSpec | None:
        """What is loaded now (None: nothing)."""
        return self._spec

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    @property
    def description(self) -> ModelDescription | None:
        """The loaded model's description, read without waiting for the running turn."""
        return self._description

    def holder(self) -> str | None:
        """The label of the turn that has the model now (None: nobody)."""
        with self._cond:
            return self._holder.label if self._holder is not None else None

    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    def busy(self) -> bool:
        with self._cond:
            return self._holder is not None

    # -------------------------------------------------------------- the turnstile

    def reserve(self, label: str = "") -> Ticket:
        """Take a place in line now, without waiting; pass it to `use(ticket=...)` (or give
        it back with `withdraw`). Raises ModelBusy when the line is full."""
        ticket = Ticket(label)
        with self._cond:
            self._enqueue(ticket)
        return ticket

    def withdraw(self, ticket: Ticket) -> None:
        """Give back a reserved place that will not be used."""
        with self._cond:
            if ticket in self._queue:
                self._queue.remove(ticket)
                self._cond.notify_all()

    def _enqueue(self, ticket: Ticket) -> None:
        if (self._holder is not None or self._queue) and \
                len(self._queue) >= self.max_waiting:
            raise ModelBusy(f"the model is busy: {len(self._queue)} requests are already "
                            "waiting; try again shortly")
        self._queue.append(ticket)

    @contextmanager
    def _turn(self, cancel: threading.Event | None, timeout: float | None,
              ticket: Ticket | None = None, label: str = "",
              on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        with self._cond:
            if ticket is None:
                ticket = Ticket(label)
                self._enqueue(ticket)
            elif ticket not in self._queue:
                raise WaitCancelled("this place in line was given back")
            deadline = None if timeout is None else time.monotonic() + timeout
            told = False
            try:
                while self._holder is not None or self._queue[0] is not ticket:
                    if cancel is not None and cancel.is_set():
                        raise WaitCancelled("cancelled while waiting for the model")
                    if deadline is not None and time.monotonic() >= deadline:
                        raise ModelBusy("the model stayed busy too long; try again shortly")
                    if on_wait is not None and not told and self._holder is not None:
                        told = True
                        on_wait(self._holder.label)
                    self._cond.wait(_POLL_S)
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._holder = ticket
        try:
            yield
        finally:
            with self._cond:
                self._holder = None
                self._cond.notify_all()

    @contextmanager
    def use(self, *, cancel: threading.Event | None = None, timeout: float | None = None,
            ticket: Ticket | None = None, label: str = "",
            on_wait: Callable[[str], None] | None = None) -> Iterator[ModelBackend]:
        """The loaded backend, for this caller alone until the block ends. `ticket`: a place
        taken earlier with `reserve` (else one is taken now, labelled `label`); `on_wait` is
        called once, with the label of the turn that has the model, when this caller has to
        wait for it. Raises ModelBusy (queue full or `timeout` passed), WaitCancelled,
        NoModelLoaded."""
        with self._turn(cancel, timeout, ticket, label, on_wait):
            if self._backend is None:
                raise NoModelLoaded("no model is loaded")
            yield self._backend

    # ------------------------------------------------------------------ loading

    def load(self, spec: LoadSpec, *, cancel: threading.Event | None = None) -> ModelBackend:
        """Load `spec` in place of the current model, once the running turn ends. A file
        that fails after the header check has already replaced the model: the previous one is
        opened again where it can be (`loaded` says whether a model is loaded after a
        failure). Raises EngineError subclasses with one-line reasons."""
        from models.open import check_model, open_backend

        check_model(spec.ref, self.models_dir)  # a broken file is refused before anything
        with self._turn(cancel, None, label="load"):
            previous = self._spec
            self._close_backend()
            try:
                backend = self._open(lambda: open_backend(spec.ref, self.models_dir,
                                                          spec.params,
                                                          template=spec.template,
                                                          api_key=spec.api_key))
            except BaseException:
                if previous is not None:
                    self._reopen(previous)
                raise
            self._backend, self._spec = backend, spec
            self._description = backend.description
            return backend

    def _reopen(self, previous: LoadSpec) -> None:
        from models.open import open_backend

        try:
            self._backend = self._open(lambda: open_backend(previous.ref, self.models_dir,
                                                            previous.params,
                                                            template=previous.template,
                                                            api_key=previous.api_key))
            self._spec = previous
            self._description = self._backend.description
        except EngineError as exc:
            log.warning("could not reopen %s after a failed load: %s", previous.ref, exc)

    def _open(self, opener: Callable[[], ModelBackend]) -> ModelBackend:
        if self._compute is None:
            self._compute = ComputeThread()
        return ComputeBound(self._compute.call(opener), self._compute)

    def _close_backend(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self._backend, self._spec, self._description = None, None, None

    def close(self) -> None:
        """Free the model (after the running turn)."""
        with self._turn(None, None, label="close"):
            self._close_backend()
