"""`/v1/chat/completions` and `/v1/models`: any OpenAI client or chat UI can talk to us."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import ServerSentEvent

from assistant.api import sse
from assistant.api.deps import GateDep, LaneDep, PipelineDep, SettingsDep
from assistant.api.gate import BUSY_MESSAGE, collect
from assistant.api.openai_compat import DONE, MODEL_ID, ChatRequest, completion, stream_chunks
from assistant.api.responses import CHAT_ERRORS, CHAT_OK, KEY_ERRORS
from assistant.limits import check_question
from assistant.models import Answer

router = APIRouter(tags=["openai"])


@router.post(
    "/v1/chat/completions",
    summary="OpenAI-compatible chat",
    responses={**CHAT_OK, **CHAT_ERRORS},
)
async def chat_completions(
    body: ChatRequest,
    request: Request,
    pipe: PipelineDep,
    settings: SettingsDep,
    gate: GateDep,
    lane: LaneDep,
) -> Any:
    question = check_question(body.question(), settings)
    history = body.history()
    verdict = await lane.admit(request, settings, pipe, question, history)
    if body.stream:
        chunks = (
            sse.data_only(chunk)
            for chunk in stream_chunks(
                sse.guarded(pipe.events(question, history, verdict, channel="openai"))
            )
        )
        busy = [
            sse.data_only(json.dumps({"error": {"message": BUSY_MESSAGE, "type": "busy"}})),
            sse.data_only(DONE),
        ]
        stream: AsyncIterator[ServerSentEvent] = (
            lane.stream(chunks) if verdict.fixed else gate.stream(chunks, busy)
        )
        return sse.event_stream(stream)

    events = pipe.events(question, history, verdict, channel="openai")
    if verdict.fixed:  # a crisis reply never waits for a slot
        return completion(
            Answer.model_validate(await lane.collect(events, request.is_disconnected))
        )
    # Waits on the event loop (a full queue: a 503 at once); only the answering takes a thread.
    async with gate.async_slot(request.is_disconnected):
        done = await collect(events, request.is_disconnected, gate.threads)
    return completion(Answer.model_validate(done))


@router.get("/v1/models", summary="OpenAI-compatible model list", responses=KEY_ERRORS)
def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "owned_by": "fibro"}],
    }
