"""The endpoints: OpenAI's models, chat completions, completions and embeddings; llama-server's
health, props, tokenize and detokenize (so one Mingjing can count tokens for another)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from engine.types import PromptProgress
from server.errors import ApiError, bad_request, from_exception
from server.params import parse_chat, parse_completion
from server.responses import Began, Finished, Reply, Shaper, Step, progress_comment
from server.state import ApiState
from server.turns import End, RunningTurn

log = logging.getLogger(__name__)
MAX_EMBEDDING_INPUTS = 2048
OWNER = "mingjing"


def routes(state: ApiState, max_body: int) -> list[Route]:
    api = Endpoints(state, max_body)
    return [
        Route("/health", api.health, methods=["GET"]),
        Route("/v1/health", api.health, methods=["GET"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/props", api.props, methods=["GET"]),
        Route("/v1/chat/completions", api.chat, methods=["POST"]),
        Route("/v1/completions", api.completions, methods=["POST"]),
        Route("/v1/embeddings", api.embeddings, methods=["POST"]),
        Route("/tokenize", api.tokenize, methods=["POST"]),
        Route("/detokenize", api.detokenize, methods=["POST"]),
    ]


def model_id(state: ApiState) -> str | None:
    """The name the loaded model goes by: a built-in id, or the file's name without .gguf
    (never a path)."""
    spec = state.host.spec
    if spec is None:
        return None
    if spec.ref.kind == "builtin":
        return spec.ref.value
    return Path(spec.ref.value).stem


class Endpoints:
    def __init__(self, state: ApiState, max_body: int) -> None:
        self.state = state
        self.max_body = max_body

    # ----------------------------------------------------------------- reading

    async def body(self, request: Request) -> dict[str, Any]:
        """The JSON object of a request, within the size limit (413 beyond it)."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise _too_large(self.max_body)
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > self.max_body:
                raise _too_large(self.max_body)
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            raise bad_request("the request body is not valid JSON", code="invalid_json") \
                from None
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object", code="invalid_json")
        return body

    def _open(self) -> None:
        if self.state.closing:
            raise ApiError(503, "the server is shutting down", code="shutting_down")
        if not self.state.host.loaded:
            raise ApiError(503, "no model is loaded", code="no_model")

    # ------------------------------------------------------------ model status

    async def health(self, request: Request) -> Response:
        self._open()
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> Response:
        self._open()
        description = self.state.host.description
        meta: dict[str, Any] = {}
        created = 0
        if description is not None:
            meta = {"mode": description.mode, "n_ctx": description.n_ctx}
            info = description.info
            if info is not None:
                meta.update(n_ctx_train=info.context_length, n_vocab=info.vocab_size,
                            n_params=info.parameter_count, size=info.file_size,
                            architecture=info.architecture, quantization=info.quantization,
                            name=info.name)
                try:
                    created = int(Path(info.path).stat().st_mtime)
                except OSError:
                    pass
        return JSONResponse({"object": "list", "data": [{
            "id": model_id(self.state), "object": "model", "created": created,
            "owned_by": OWNER, "meta": meta}]})

    async def props(self, request: Request) -> Response:
        """llama-server's /props: the context size and sampling defaults, and (ours) how
        many requests wait for the model."""
        self._open()
        description = self.state.host.description
        info = description.info if description is not None else None
        defaults = self.state.defaults
        return JSONResponse({
            "default_generation_settings": {
                "n_ctx": description.n_ctx if description is not None else 0,
                "params": {"temperature": defaults.temperature, "top_p": defaults.top_p,
                           "top_k": defaults.top_k, "min_p": defaults.min_p,
                           "repeat_penalty": defaults.repeat_penalty,
                           "n_predict": defaults.max_tokens, "seed": defaults.seed},
            },
            "total_slots": 1,
            "model_alias": model_id(self.state),
            "model_path": Path(info.path).name if info is not None else "",
            "chat_template": info.chat_template or "" if info is not None else "",
            "mode": description.mode if description is not None else None,
            "is_processing": self.state.host.busy(),
            "n_waiting": self.state.host.waiting(),
            "build_info": OWNER,
        })

    # -------------------------------------------------------------- generation

    async def chat(self, request: Request) -> Response:
        body = await self.body(request)
        return await self._generate(request, parse_chat(body, self.state.defaults))

    async def completions(self, request: Request) -> Response:
        body = await self.body(request)
        return await self._generate(request, parse_completion(body, self.state.defaults))

    async def _generate(self, request: Request, gen: Any) -> Response:
        self._open()
        shaper = Shaper(gen, model_id(self.state) or "")
        try:
            turn = self.state.turns.start(shaper.id, gen)
        except Exception as exc:
            raise from_exception(exc) from None
        watcher = asyncio.create_task(_watch_disconnect(request.receive, turn))
        try:
            began = await _began(turn)
        except BaseException:
            watcher.cancel()
            turn.cancel.set()
            raise
        if gen.stream:
            return EventStream(self._events(turn, shaper, began), turn, watcher)
        try:
            return JSONResponse(shaper.whole(await self._gather(turn, began)))
        finally:
            watcher.cancel()
            turn.cancel.set()

    async def _gather(self, turn: RunningTurn, began: Began) -> Reply:
        reply = Reply(began)
        while True:
            for item in await turn.batch():
                if isinstance(item, Step):
                    reply.steps.append(item)
                elif isinstance(item, Finished):
                    reply.finished = item
                elif isinstance(item, Exception):
                    raise from_exception(item)
                elif isinstance(item, End):
                    if reply.finished is None:
                        raise ApiError(500, "the reply ended without finishing")
                    if reply.finished.stats.stop_reason == "cancelled" and self.state.closing:
                        raise ApiError(503, "the server is shutting down",
                                       code="shutting_down")
                    return reply

    async def _events(self, turn: RunningTurn, shaper: Shaper,
                      began: Began) -> AsyncIterator[bytes]:
        yield shaper.first_chunk()
        while True:
            out = bytearray()
            done = False
            for item in await turn.batch():
                if isinstance(item, Step):
                    out += shaper.step_chunk(item)
                elif isinstance(item, PromptProgress):
                    out += progress_comment(item)
                elif isinstance(item, Finished):
                    if item.stats.stop_reason == "cancelled" and self.state.closing:
                        out += ApiError(503, "the server is shutting down",
                                        code="shutting_down").sse()
                    else:
                        out += shaper.last_chunks(began, item)
                elif isinstance(item, Exception):
                    out += from_exception(item).sse()
                elif isinstance(item, End):
                    done = True
            if out:
                yield bytes(out)
            if done:
                return

    # -------------------------------------------------------------- embeddings

    async def embeddings(self, request: Request) -> Response:
        body = await self.body(request)
        if self.state.closing:
            raise ApiError(503, "the server is shutting down", code="shutting_down")
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or \
                not all(isinstance(t, str) and t for t in texts):
            raise bad_request("input must be a non-empty text or a list of them (token "
                              "arrays are not supported)", "input")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise bad_request(f"at most {MAX_EMBEDDING_INPUTS} inputs at once", "input")
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise bad_request("encoding_format must be float or base64", "encoding_format")
        return JSONResponse(await run_in_threadpool(_embed, texts, encoding,
                                                    body.get("dimensions")))

    # ----------------------------------------------------------- tokenizer

    async def tokenize(self, request: Request) -> Response:
        body = await self.body(request)
        self._open()
        content = body.get("content")
        if not isinstance(content, str):
            raise bad_request("content must be a text", "content")
        flags = {}
        for key, default in (("add_special", False), ("parse_special", True),
                             ("with_pieces", False)):
            value = body.get(key, default)
            if not isinstance(value, bool):
                raise bad_request(f"{key} must be true or false", key)
            flags[key] = value

        def run() -> dict[str, Any]:
            with self.state.tokenizer.use() as backend:
                tokens = backend.tokenize(content, add_bos=flags["add_special"],
                                          special=flags["parse_special"])
                if not flags["with_pieces"]:
                    return {"tokens": tokens}
                return {"tokens": [{"id": span.token_id, "piece": _piece(span.raw)}
                                   for span in backend.token_spans(tokens)]}

        return JSONResponse(await self._tokenizer(run))

    async def detokenize(self, request: Request) -> Response:
        body = await self.body(request)
        self._open()
        tokens = body.get("tokens")
        if not isinstance(tokens, list) or not all(
                isinstance(t, int) and not isinstance(t, bool) for t in tokens):
            raise bad_request("tokens must be a list of token ids", "tokens")

        def run() -> dict[str, Any]:
            with self.state.tokenizer.use() as backend:
                n_vocab = getattr(backend, "n_vocab", None)
                bad = [t for t in tokens if t < 0 or (n_vocab is not None and t >= n_vocab)]
                if bad:
                    raise bad_request(f"token id {bad[0]} is not in the vocabulary "
                                      f"(0 to {n_vocab - 1 if n_vocab else '?'})", "tokens")
                return {"content": backend.detokenize(tokens, special=True)}

        return JSONResponse(await self._tokenizer(run))

    async def _tokenizer(self, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return await run_in_threadpool(run)
        except Exception as exc:
            raise from_exception(exc) from None


def _piece(raw: bytes) -> str | list[int]:
    """llama-server's piece: the text when the bytes are whole UTF-8, else the bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return list(raw)


def _embed(texts: list[str], encoding: str, dimensions: object) -> dict[str, Any]:
    from kb.embedders import EmbedderError, load_embedder

    try:
        embedder = load_embedder(None)
        if dimensions is not None and dimensions != embedder.dim:
            raise bad_request(f"dimensions: this embedder ({embedder.id}) makes "
                              f"{embedder.dim}-dimensional vectors", "dimensions")
        vectors = embedder.encode(texts)
        tokens = sum(embedder.count_tokens(t) for t in texts)
    except EmbedderError as exc:
        raise ApiError(500, f"the embedder failed: {exc}", code="embedder_error") from None
    data = []
    for i, vector in enumerate(vectors):
        if encoding == "base64":
            value: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
        else:
            value = [float(x) for x in vector]
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {"object": "list", "data": data, "model": embedder.id,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


async def _began(turn: RunningTurn) -> Began:
    """Wait for the turn to start streaming (or fail: the error answers the request)."""
    while True:
        items = await turn.batch()
        for n, item in enumerate(items):
            if isinstance(item, Began):
                turn.keep(items[n + 1:])  # what came with it (a first token, progress)
                return item
            if isinstance(item, Exception):
                raise from_exception(item)
            if isinstance(item, End):
                raise ApiError(500, "the turn ended before it began")


async def _watch_disconnect(receive: Receive, turn: RunningTurn) -> None:
    """Cancel the turn when the client goes away (the body has been read already)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not turn.cancel.is_set():
                log.info("api turn %s: the client went away; cancelling", turn.id)
            turn.cancel.set()
            return


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit // (1024 * 1024)} MiB",
                    code="request_too_large")


class EventStream(StreamingResponse):
    """A server-sent event stream of one turn; the turn is cancelled when the stream ends
    early for any reason (the client went away, the server stopped)."""

    def __init__(self, events: AsyncIterator[bytes], turn: RunningTurn,
                 watcher: asyncio.Task[None]) -> None:
        super().__init__(events, 200, {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                         media_type="text/event-stream")
        self.events = events
        self.turn = turn
        self.watcher = watcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            async for chunk in self.events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.watcher.cancel()
            self.turn.cancel.set()
