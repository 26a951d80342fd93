"""`/v1/answer` (JSON) and `/v1/answer/stream` (Server-Sent Events)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from assistant.api import sse
from assistant.api.deps import GateDep, LaneDep, PipelineDep, SettingsDep
from assistant.api.gate import BUSY_MESSAGE, collect
from assistant.api.origins import channel_of, check_origin
from assistant.api.responses import ANSWER_ERRORS, STREAM_OK
from assistant.limits import check_question
from assistant.models import Answer, AnswerRequest

# Browser pages on origins that are neither ours nor FIBRO_WIDGET_ORIGINS get a 403 (origins.py).
router = APIRouter(tags=["answers"], dependencies=[Depends(check_origin)])


@router.post(
    "/v1/answer", response_model=Answer, summary="Answer a question", responses=ANSWER_ERRORS
)
async def answer(
    body: AnswerRequest,
    request: Request,
    pipe: PipelineDep,
    settings: SettingsDep,
    gate: GateDep,
    lane: LaneDep,
) -> Answer:
    question = check_question(body.question, settings)
    channel, session = channel_of(request, "api"), body.session_id
    # Triage runs before, and outside, the answer gate: a crisis reply never waits.
    verdict = await lane.admit(request, settings, pipe, question, body.history, session)
    events = pipe.events(question, body.history, verdict, channel=channel, session_id=session)
    if verdict.fixed:
        return Answer.model_validate(await lane.collect(events, request.is_disconnected))
    # Waits on the event loop (a full queue: a 503 at once); only the answering takes a thread,
    # and a client that leaves, while waiting or answering, stops the work.
    async with gate.async_slot(request.is_disconnected):
        done = await collect(events, request.is_disconnected, gate.threads)
    return Answer.model_validate(done)


@router.post(
    "/v1/answer/stream",
    summary="Answer as Server-Sent Events: meta, delta..., citations, done (or error)",
    response_class=EventSourceResponse,
    responses={**STREAM_OK, **ANSWER_ERRORS},
)
async def answer_stream(
    body: AnswerRequest,
    request: Request,
    pipe: PipelineDep,
    settings: SettingsDep,
    gate: GateDep,
    lane: LaneDep,
) -> EventSourceResponse:
    question = check_question(body.question, settings)
    verdict = await lane.admit(request, settings, pipe, question, body.history, body.session_id)
    events = (
        sse.event(name, data)
        for name, data in sse.guarded(
            pipe.events(
                question,
                body.history,
                verdict,
                channel=channel_of(request, "stream"),
                session_id=body.session_id,
            )
        )
    )
    busy = [sse.event("error", {"message": BUSY_MESSAGE})]
    stream: AsyncIterator[ServerSentEvent] = (
        lane.stream(events) if verdict.fixed else gate.stream(events, busy)
    )
    return sse.event_stream(stream)
