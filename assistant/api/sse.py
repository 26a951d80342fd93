"""Server-Sent Events framing, by `sse-starlette`, with keep-alive pings.

A ping every 15 seconds keeps proxies and load balancers from closing a stream while a slow model
thinks. Lines end with a bare newline, which every SSE client accepts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, Iterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

log = logging.getLogger("fibro.api")

PING_SECONDS = 15


def event(name: str, data: dict[str, Any]) -> ServerSentEvent:
    """A named event whose data is one line of JSON."""
    return ServerSentEvent(json.dumps(data), event=name, sep="\n")


def data_only(data: str) -> ServerSentEvent:
    """An unnamed event (the OpenAI stream format): `data: ...`."""
    return ServerSentEvent(data, sep="\n")


def event_stream(events: AsyncIterable[ServerSentEvent]) -> EventSourceResponse:
    """The response for a stream of events."""
    return EventSourceResponse(events, ping=PING_SECONDS, sep="\n")


FAILED_MESSAGE = "the answer could not be completed; please try again"


def guarded(events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Turn a failure mid-stream into an `error` event instead of a broken connection."""
    try:
        yield from events
    except Exception:
        log.exception("stream failed")
        yield "error", {"message": FAILED_MESSAGE}
