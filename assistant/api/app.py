"""The FastAPI application. Every route is a thin adapter over `Pipeline`."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.api.openai_compat import MODEL_ID, ChatRequest, completion, stream_chunks
from assistant.index.store import StoreError
from assistant.models import Answer, AnswerRequest, ChunkView
from assistant.pipeline import Pipeline
from assistant.settings import Settings, get_settings

log = logging.getLogger("fibro.api")


def create_app(settings: Settings | None = None, pipeline: Pipeline | None = None) -> FastAPI:
    """Build the app; the pipeline (model and index) loads at start-up unless one is given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _configure_logging(settings)
        if getattr(app.state, "pipeline", None) is None:
            app.state.pipeline = Pipeline.from_settings(settings)
        # Warm the sentence cache off the event loop; requests are served meanwhile.
        threading.Thread(target=app.state.pipeline.warm, name="warm", daemon=True).start()
        yield

    app = FastAPI(
        title="Fibromyalgia research assistant",
        version="0.1.0",
        description=(
            "Grounded answers about fibromyalgia and the 2021 antibody-transfer study, with a "
            "citation for every claim. General information, not medical advice."
        ),
        lifespan=lifespan,
    )
    app.state.pipeline = pipeline
    app.state.settings = settings
    gate = AnswerGate(settings.max_concurrent_answers, settings.queue_timeout_seconds)
    _install_error_handlers(app)

    @app.get("/healthz", tags=["status"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["status"], summary="Index and embedding model are loaded")
    def readyz(request: Request) -> JSONResponse:
        pipe: Pipeline | None = getattr(request.app.state, "pipeline", None)
        if pipe is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            snapshot = pipe.store.snapshot()
        except Exception as exc:  # the index may be unreachable (Chroma server down)
            return JSONResponse({"status": "unavailable", "error": str(exc)[:300]}, status_code=503)
        body = {
            "status": "ready" if snapshot.chunks else "empty",
            "chunks": len(snapshot.chunks),
            "sources": len({c.source_id for c in snapshot.chunks}),
            "embedding_model": pipe.embedder.path.name,
            "composer": pipe.settings.model or "extractive",
        }
        return JSONResponse(body, status_code=200 if snapshot.chunks else 503)

    @app.post("/v1/answer", response_model=Answer, tags=["answers"], summary="Answer a question")
    def answer(body: AnswerRequest, pipe: Annotated[Pipeline, Depends(_pipeline)]) -> Answer:
        # Triage runs before, and outside, the answer gate: a crisis reply never waits.
        verdict = pipe.triage(body.question, body.history)
        if verdict.fixed:
            return pipe.answer(body.question, body.history, verdict)
        with gate.slot():
            return pipe.answer(body.question, body.history, verdict)

    @app.post(
        "/v1/answer/stream",
        tags=["answers"],
        summary="Answer as Server-Sent Events: meta, delta..., citations, done (or error)",
        response_class=StreamingResponse,
    )
    def answer_stream(
        body: AnswerRequest, pipe: Annotated[Pipeline, Depends(_pipeline)]
    ) -> StreamingResponse:
        verdict = pipe.triage(body.question, body.history)
        events = _sse(pipe.events(body.question, body.history, verdict))
        return StreamingResponse(
            iterate_in_threadpool(events) if verdict.fixed else gate.stream(events, _SSE_BUSY),
            media_type="text/event-stream",
        )

    @app.post("/v1/chat/completions", tags=["openai"], summary="OpenAI-compatible chat")
    def chat_completions(body: ChatRequest, pipe: Annotated[Pipeline, Depends(_pipeline)]) -> Any:
        question = body.question()
        if len(question) > settings.max_question_chars:
            raise HTTPException(
                413,
                f"question is {len(question)} characters; the limit is {settings.max_question_chars}",
            )
        history = body.history()
        verdict = pipe.triage(question, history)
        if body.stream:
            chunks = stream_chunks(_guarded(pipe.events(question, history, verdict)))
            return StreamingResponse(
                iterate_in_threadpool(chunks)
                if verdict.fixed
                else gate.stream(chunks, _OPENAI_BUSY),
                media_type="text/event-stream",
            )
        if verdict.fixed:
            return completion(pipe.answer(question, history, verdict))
        with gate.slot():
            return completion(pipe.answer(question, history, verdict))

    @app.get("/v1/models", tags=["openai"], summary="OpenAI-compatible model list")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "owned_by": "fibro"}],
        }

    @app.get("/v1/chunks/{chunk_id}", response_model=ChunkView, tags=["sources"])
    def chunk(chunk_id: str, pipe: Annotated[Pipeline, Depends(_pipeline)]) -> ChunkView:
        found = pipe.get_chunk(chunk_id)
        if found is None:
            raise HTTPException(404, f"no chunk {chunk_id!r} in the index")
        return found

    return app


class AnswerGate:
    """Bounds how many answers are computed at once; the rest queue, then are told it's busy.

    Answering is CPU-bound. On a small machine dozens of answers at once only slow every one
    of them down, so a few run and the others queue for up to `timeout` seconds. JSON requests
    then get a 503; streams get an error event.
    """

    def __init__(self, limit: int, timeout: float) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self._timeout = timeout

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._timeout):
            raise HTTPException(503, _BUSY_MESSAGE, headers={"Retry-After": "5"})
        try:
            yield
        finally:
            self._slots.release()

    async def stream(self, chunks: Iterator[str], busy: str) -> AsyncIterator[str]:
        """Stream chunks while holding a slot, producing each one off the event loop.

        An async generator, so that when a client disconnects the server closes it and the
        slot is released at once (a suspended sync generator would hold it until collected).
        """
        if not await anyio.to_thread.run_sync(self._acquire):
            yield busy
            return
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, None)
                if chunk is None:
                    return
                yield chunk
        finally:
            self._slots.release()
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _acquire(self) -> bool:
        return self._slots.acquire(timeout=self._timeout)


_BUSY_MESSAGE = "the assistant is busy answering other questions; please retry shortly"
_SSE_BUSY = f"event: error\ndata: {json.dumps({'message': _BUSY_MESSAGE})}\n\n"
_OPENAI_BUSY = (
    f"data: {json.dumps({'error': {'message': _BUSY_MESSAGE, 'type': 'busy'}})}\n\ndata: [DONE]\n\n"
)


def _pipeline(request: Request) -> Pipeline:
    pipe = getattr(request.app.state, "pipeline", None)
    if pipe is None:
        raise HTTPException(503, "the service is still loading; retry shortly")
    return pipe


def _guarded(events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Turn a failure mid-stream into an `error` event instead of a broken connection."""
    try:
        yield from events
    except Exception:
        log.exception("stream failed")
        yield "error", {"message": "the answer could not be completed; please try again"}


def _sse(events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[str]:
    for name, data in _guarded(events):
        yield f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse(
            {"error": {"type": "invalid_request", "message": "; ".join(problems)}}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": {"type": "http_error", "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StoreError)
    async def index_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        log.error("index unavailable: %s", exc)
        return JSONResponse(
            {
                "error": {
                    "type": "index_unavailable",
                    "message": "the source index is unavailable right now; please retry shortly",
                }
            },
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            {"error": {"type": "internal_error", "message": "something went wrong on our side"}},
            status_code=500,
        )


def _configure_logging(settings: Settings) -> None:
    """Structured JSON lines on stderr for the trace logger; the seam where tracing plugs in."""
    logger = logging.getLogger("fibro")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())
