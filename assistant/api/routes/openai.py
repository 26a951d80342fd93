"""`/v1/chat/completions` and `/v1/models`: any OpenAI client or chat UI can talk to us."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter
from sse_starlette import ServerSentEvent

from assistant.api import sse
from assistant.api.deps import GateDep, PipelineDep, SettingsDep
from assistant.api.gate import BUSY_MESSAGE, in_thread
from assistant.api.openai_compat import DONE, MODEL_ID, ChatRequest, completion, stream_chunks
from assistant.limits import check_question

router = APIRouter(tags=["openai"])


@router.post("/v1/chat/completions", summary="OpenAI-compatible chat")
async def chat_completions(
    body: ChatRequest, pipe: PipelineDep, settings: SettingsDep, gate: GateDep
) -> Any:
    question = check_question(body.question(), settings)
    history = body.history()
    verdict = await anyio.to_thread.run_sync(pipe.triage, question, history)
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
            in_thread(chunks) if verdict.fixed else gate.stream(chunks, busy)
        )
        return sse.event_stream(stream)

    def answer() -> dict[str, Any]:
        if verdict.fixed:  # a crisis reply never waits for a slot
            return completion(pipe.answer(question, history, verdict, channel="openai"))
        with gate.slot():
            return completion(pipe.answer(question, history, verdict, channel="openai"))

    return await anyio.to_thread.run_sync(answer)


@router.get("/v1/models", summary="OpenAI-compatible model list")
def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "owned_by": "fibro"}],
    }
