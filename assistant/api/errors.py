"""Every error leaves the API as JSON `{"error": {"type", "message"}}`, never a stack trace.

No request text reaches a log line or a traceback: a question may hold health details and
names. An unexpected error is logged as its type and the code locations it passed through, never
its message (an exception's message can quote the input), and it stops here instead of going on
to the server, which would log the whole traceback with the message again.
"""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.errors import InputError, InputTooLongError, StoreError

log = logging.getLogger("fibro.api")

# The error `type` of a plain HTTP status, so a client can branch on it without parsing prose.
_HTTP_KINDS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
    503: "unavailable",
}
# Longest piece of a client-chosen name (an unknown field's key) repeated in a 422 message.
_MAX_ECHO = 60
INTERNAL_MESSAGE = "something went wrong on our side"


def error_body(kind: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"type": kind, "message": message}}


def _printable(text: str) -> str:
    """Text that can always be encoded: a lone surrogate in a field name must not turn a 422
    into a 500 when the body is written."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe_validation(exc: RequestValidationError) -> str:
    """The fields and rules a request broke, never the values sent (`input` is not repeated)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        where = _printable(where)[:_MAX_ECHO]
        problems.append(f"{where}: {_printable(str(error.get('msg', 'invalid')))}")
    return "; ".join(problems)


def log_unexpected(exc: BaseException) -> None:
    """Log an unexpected error by type and code locations only: its message may quote input."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename}:{f.lineno} {f.name}" for f in reversed(frames[-8:]))
    log.error("unhandled %s at %s", type(exc).__name__, where or "?")


def install_error_handlers(app: FastAPI) -> None:
    """Map request, input, index and unexpected errors to their status codes."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", describe_validation(exc)), 422)

    @app.exception_handler(InputTooLongError)
    async def too_long(request: Request, exc: InputTooLongError) -> JSONResponse:
        return JSONResponse(error_body("payload_too_large", str(exc)), status_code=413)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", str(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(_HTTP_KINDS.get(exc.status_code, "http_error"), str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StoreError)
    async def index_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        log.error("index unavailable: %s", exc)
        return JSONResponse(
            error_body(
                "index_unavailable",
                "the source index is unavailable right now; please retry shortly",
            ),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only if an error escapes `ContainErrors` (it sits inside this handler).
        log_unexpected(exc)
        return JSONResponse(error_body("internal_error", INTERNAL_MESSAGE), status_code=500)

    app.add_middleware(ContainErrors)


class WatchedSend:
    """`send` that remembers whether the response has started (its status line is gone).

    A middleware that catches an error needs to know: before the start it can still answer with
    its own status; after it, the status is sent and only the connection can be closed.
    """

    def __init__(self, send: Send) -> None:
        self.started = False
        self._send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class ContainErrors:
    """Answer an unhandled error with the JSON 500 and stop it there.

    Starlette's outermost layer answers a 500 too, but then re-raises the error so the server
    logs it with a full traceback, whose last line is the exception's message: for a bad
    question that message can quote the question. Installed inside the other middleware, so
    metrics and CORS still see the 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watched = WatchedSend(send)
        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            log_unexpected(exc)
            if watched.started:
                # Mid-stream: the status is gone; ending here closes the connection, which
                # tells the client the response is incomplete.
                return
            response = JSONResponse(error_body("internal_error", INTERNAL_MESSAGE), 500)
            await response(scope, receive, send)
