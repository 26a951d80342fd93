"""The request body size limit (`FIBRO_MAX_BODY_BYTES`), enforced before anything parses a body.

Plain ASGI, so nothing is buffered on the way: a declared `Content-Length` over the limit is
answered with a 413 before a byte of the body is read, and a body without one (chunked) is
counted as it arrives and refused as soon as the count passes the limit. Without this a client
could make the process hold a body of any size in memory (a 103 MB body used to be read whole).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.deps import SettingsDep
from assistant.api.errors import WatchedSend, error_body
from assistant.api.responses import document_limits
from assistant.limits import check_turns, has_lone_surrogate, invalid_text
from assistant.settings import Settings

KIND = "payload_too_large"


def too_large_message(limit: int) -> str:
    """What a client is told: the limit and the setting that holds it."""
    return f"the request body is larger than {limit} bytes (FIBRO_MAX_BODY_BYTES); send less"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit.

    An `HTTPException`, so FastAPI's body reader lets it through unchanged (it turns any other
    exception into a 400) and the app's handler answers it as JSON.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


class BodyLimitMiddleware:
    """Answer 413 to any HTTP request whose body is larger than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            # Refused before reading: the server discards (or drops) the unread body.
            await self._reject(scope, receive, send)
            return

        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        watched = WatchedSend(send)
        try:
            await self.app(scope, counted_receive, watched)
        except BodyTooLarge:
            # Normally the app's handler has answered already; this covers a reader outside
            # FastAPI's routing (an ASGI sub-app) that let it escape.
            if watched.started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            error_body(KIND, too_large_message(self.max_bytes)),
            status_code=413,
            # The unread rest of the body would otherwise be taken as the next request.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length itself
    return None


# ---- each message in the body ------------------------------------------------------------------

_JSON_WRITES = frozenset({"POST", "PUT", "PATCH"})


def message_texts(data: object) -> Iterator[tuple[str, str, str]]:
    """`(where, text, role)` of every message a request body carries, in any surface's shape.

    `question` and `history[i].content` (/v1/answer), `messages[i].content` (OpenAI chat, a
    string or a list of text parts). Values of other types are left to the request model.
    """
    if not isinstance(data, dict):
        return
    question = data.get("question")
    if isinstance(question, str):
        yield "question", question, "user"
    for field in ("history", "messages"):
        turns = data.get(field)
        if not isinstance(turns, list):
            continue
        for i, turn in enumerate(turns):
            content = turn.get("content") if isinstance(turn, dict) else None
            role = str(turn.get("role", "user")) if isinstance(turn, dict) else "user"
            if isinstance(content, str):
                yield f"{field}.{i}.content", content, role
            elif isinstance(content, list):
                for j, part in enumerate(content):
                    text = part.get("text") if isinstance(part, dict) else None
                    if isinstance(text, str):
                        yield f"{field}.{i}.content.{j}.text", text, role


def _invalid_text(data: object) -> str | None:
    """Where in the parsed body a key or value is not valid Unicode, or None.

    Iterative, so a deeply nested body cannot exhaust the stack.
    """
    stack: list[tuple[str, object]] = [("body", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if has_lone_surrogate(value):
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                safe_key = key if key.isidentifier() and key.isascii() else "?"
                if has_lone_surrogate(key):
                    return f"{where}.{safe_key}"
                stack.append((f"{where}.{safe_key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}", item) for i, item in enumerate(value))
    return None


async def check_messages(request: Request, settings: SettingsDep) -> None:
    """Refuse a JSON body with text that is not valid Unicode (422) or a message over the
    length limit (413), the same way on every endpoint.

    An app-wide dependency, so it runs before a route's own body model: a lone surrogate is
    refused before anything can try to encode it, and a long history turn is refused like a
    long question. The body was parsed already by FastAPI; `request.json()` returns that parse.
    """
    if request.method not in _JSON_WRITES:
        return
    if "json" not in request.headers.get("content-type", "json").lower():
        return
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return  # not JSON: the route's own body handling answers that
    where = _invalid_text(data)
    if where is not None:
        raise invalid_text(where)
    check_turns(message_texts(data), settings)


def install_limits(app: FastAPI, settings: Settings) -> None:
    """The body size limit, the per-message checks for every route, and their OpenAPI entries.

    Call before the routers are included: the dependency applies to routes added afterwards.
    """
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.router.dependencies.append(Depends(check_messages))
    document_limits(app, settings)
