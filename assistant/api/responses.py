"""What the OpenAPI document says each route can answer, and the limits a request must meet.

Schema-based clients and fuzzers trust the document: a status a route can return but does not
list, or a limit the server enforces but the schema does not state, makes them disagree with the
server. So every route lists its error statuses with the one error shape, and the message length
limit (a setting) is written into the request schemas when the document is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from assistant.limits import turn_limit
from assistant.settings import Settings


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API returns: `{"error": {"type", "message"}}`."""

    error: ErrorDetail


ResponsesDoc = dict[int | str, dict[str, Any]]

_DESCRIPTIONS = {
    400: "The body could not be read (not JSON, or not in the declared encoding).",
    401: "FIBRO_API_KEYS is set and the request has no valid `Authorization: Bearer` key.",
    403: "A browser page on an origin that is not allowed (FIBRO_WIDGET_ORIGINS).",
    404: "Nothing with that id.",
    413: "The body is larger than FIBRO_MAX_BODY_BYTES, or a message is longer than "
    "FIBRO_MAX_QUESTION_CHARS.",
    422: "The request does not match the schema (a blank question, text that is not valid "
    "Unicode, a missing or unknown field).",
    429: "Too many requests from this client; retry after `Retry-After` seconds.",
    503: "The service is loading, the index is unreachable or every answer slot is busy; "
    "retry after `Retry-After` seconds.",
}


def errors(*statuses: int) -> ResponsesDoc:
    """`responses=` entries for the given error statuses, each with the error shape."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }


# What a route that reads a JSON body can answer beyond its own success.
BODY_ERRORS = (400, 413, 422)
# Answering routes also wait for a slot (503) and count a client's questions (429).
ANSWER_ERRORS = errors(*BODY_ERRORS, 401, 403, 429, 503)
CHAT_ERRORS = errors(*BODY_ERRORS, 401, 429, 503)
FEEDBACK_ERRORS = errors(*BODY_ERRORS, 403, 429, 503)
CHUNK_ERRORS = errors(401, 404, 503)
KEY_ERRORS = errors(401)

# One Server-Sent Event as a client parses it; `data` is JSON text (or `[DONE]` in a chat stream).
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
SSE = {"text/event-stream": {"schema": SSE_EVENT}}
STREAM_OK: ResponsesDoc = {200: {"description": "Server-Sent Events", "content": SSE}}
CHAT_OK: ResponsesDoc = {
    200: {
        "description": "A `chat.completion`, or with `stream: true` its chunks as "
        "Server-Sent Events ending in `data: [DONE]`.",
        "content": {"application/json": {"schema": {"type": "object"}}, **SSE},
    }
}
READY: ResponsesDoc = {
    200: {"description": "Ready: the index has passages and the model is loaded."},
    503: {"description": "Not ready: starting, an empty index or an unreachable index."},
}


def _set_max_length(schema: dict[str, Any], limit: int) -> None:
    """`maxLength` on a string schema, on the string branch of an `anyOf`, and on the `text` of
    the parts of an array branch (an OpenAI message's content parts)."""
    if schema.get("type") == "string":
        schema["maxLength"] = limit
    for branch in schema.get("anyOf", ()):
        if branch.get("type") == "string":
            branch["maxLength"] = limit
        elif branch.get("type") == "array" and isinstance(branch.get("items"), dict):
            text = {"type": "string", "maxLength": limit}
            branch["items"].setdefault("properties", {})["text"] = text


def document_limits(app: FastAPI, settings: Settings) -> None:
    """Write `max_question_chars` into the request schemas of the app's OpenAPI document.

    The limit is a setting, so the static models cannot carry it; it is added once, when the
    document is first built. Every message (question, history turn, chat message) has one.
    """
    build: Callable[[], dict[str, Any]] = app.openapi
    limit = settings.max_question_chars

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        models = schema.get("components", {}).get("schemas", {})
        # A turn may be the assistant's own earlier answer, which has more room (limits.py);
        # a user turn over `limit` is still refused with a 413, a documented status.
        for model, field, most in (
            ("AnswerRequest", "question", limit),
            ("Turn", "content", turn_limit("assistant", settings)),
            ("ChatMessage", "content", turn_limit("assistant", settings)),
        ):
            prop = models.get(model, {}).get("properties", {}).get(field)
            if prop is not None:
                _set_max_length(prop, most)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
