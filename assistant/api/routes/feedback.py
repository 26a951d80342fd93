"""`POST /v1/feedback`: a thumbs up or down (and a comment) on one answer, by its trace id.

Idempotent per trace and client: the first rating is a 201, the same client rating the same
trace again updates its row and gets a 200 with the same body shape. The client is the
`X-Client-Id` header when sent (a widget or Slack bot knows its user better than an address
does), else the remote address. Each client may post `FIBRO_FEEDBACK_RATE_PER_MINUTE` times a
minute; beyond that a 429 with `Retry-After`.

The comment is masked before it is stored or handed on. A comment on a crisis or emergency
reply is not stored at all (only the rating): those exchanges keep no words of the person.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.api.deps import SettingsDep
from assistant.api.origins import check_origin
from assistant.api.ratelimit import client_key, limits_of, too_many
from assistant.api.responses import FEEDBACK_ERRORS
from assistant.errors import FeedbackStoreError
from assistant.feedback.observer import UNSTORED_TEXT_ROUTES
from assistant.feedback.store import get_store
from assistant.observe import FeedbackEvent, tell_feedback
from assistant.privacy import mask_text

# A page on a disallowed origin may not post ratings either (CORS alone would not stop it).
router = APIRouter(tags=["feedback"], dependencies=[Depends(check_origin)])
log = logging.getLogger("fibro.feedback")

# What the pipeline makes with uuid4().hex.
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_COMMENT_CHARS = 2000
MAX_CLIENT_ID_CHARS = 200

# The same names as assistant.observe.CHANNELS (a test holds them equal), spelled out so the
# OpenAPI schema lists them.
Channel = Literal["api", "stream", "openai", "widget", "slack", "eval", "cli"]


class FeedbackRequest(BaseModel):
    """Body of POST /v1/feedback."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(description="The answer's trace_id (32 hex characters).")
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)
    channel: Channel

    @field_validator("trace_id")
    @classmethod
    def _trace_shape(cls, value: str) -> str:
        value = value.strip().lower()
        if not _TRACE_ID.match(value):
            raise ValueError("trace_id must be the 32 hex characters an answer's trace_id has")
        return value

    @field_validator("comment")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class FeedbackResponse(BaseModel):
    """The rating as stored (the comment masked)."""

    id: int
    trace_id: str
    rating: Literal["up", "down"]
    comment: str | None
    channel: str
    created: datetime
    updated: datetime


async def client_id(
    request: Request,
    settings: SettingsDep,
    x_client_id: Annotated[str | None, Header(max_length=MAX_CLIENT_ID_CHARS)] = None,
) -> str:
    """Who is rating (`client_key`); the header is declared here so an overlong one is a 422."""
    return client_key(request, settings)


ClientDep = Annotated[str, Depends(client_id)]


async def rate_limited(request: Request, settings: SettingsDep, client: ClientDep) -> None:
    """A 429 with Retry-After once a client has posted its quota (ratelimit.py's buckets)."""
    wait = limits_of(request, settings).feedback_wait(client)
    if wait > 0:
        raise too_many(wait, "feedback posts")


@router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    status_code=201,
    summary="Rate an answer (201 stored, 200 when this client had rated it already)",
    dependencies=[Depends(rate_limited)],
    responses={
        200: {"model": FeedbackResponse, "description": "Rated before: the rating updated."},
        **FEEDBACK_ERRORS,
    },
)
def post_feedback(
    body: FeedbackRequest,
    request: Request,
    response: Response,
    settings: SettingsDep,
    client: ClientDep,
) -> FeedbackResponse:
    try:
        store = get_store(settings)
        route = store.answer_route(body.trace_id)
        private = route is not None and route in UNSTORED_TEXT_ROUTES
        comment = None if private or body.comment is None else mask_text(body.comment)
        result = store.rate(
            trace_id=body.trace_id,
            client=client,
            rating=body.rating,
            comment=comment,
            channel=body.channel,
        )
    except FeedbackStoreError as exc:
        log.warning("feedback not stored for trace %s: %s", body.trace_id, exc)
        raise HTTPException(
            503,
            "feedback could not be stored right now; please retry shortly",
            headers={"Retry-After": "5"},
        ) from exc
    if not result.created:
        response.status_code = 200
    if result.changed:
        # A repeat of the same rating is not news to metrics or the trace.
        tell_feedback(
            request.app.state.feedback_hooks,
            FeedbackEvent(body.trace_id, body.rating, body.channel, comment),
        )
    fb = result.feedback
    return FeedbackResponse(
        id=fb.id,
        trace_id=fb.trace_id,
        rating=fb.rating,  # type: ignore[arg-type]
        comment=fb.comment,
        channel=fb.channel,
        # Stored as naive UTC; said so on the way out.
        created=fb.created.replace(tzinfo=UTC),
        updated=fb.updated.replace(tzinfo=UTC),
    )
