"""The OpenAI chat-completions wire format, for `/v1/chat/completions` over the same pipeline.

Any OpenAI client or chat UI can talk to the assistant. Citations travel in an extra
`citations` field and as a numbered source list in the message text, followed by the
disclaimer: chat UIs show only the text, never the extra fields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.models import Answer, Turn

MODEL_ID = "fibro-assistant"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return ""


class ChatRequest(BaseModel):
    """The fields we use of an OpenAI chat request; others (temperature...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=60,
        description="The conversation, oldest first; the last message has role `user` and some "
        "text. Each message is at most FIBRO_MAX_QUESTION_CHARS characters (a longer one is a "
        "413). `system`, `developer` and `tool` messages are accepted and ignored.",
    )
    stream: bool = False

    @field_validator("messages")
    @classmethod
    def _last_is_user(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        if value[-1].role != "user":
            raise ValueError("the last message must have role 'user'")
        if not value[-1].text().strip():
            raise ValueError("the last user message must contain text")
        return value

    def question(self) -> str:
        return self.messages[-1].text().strip()

    def history(self) -> list[Turn]:
        # System and developer messages are ignored: they cannot change the assistant's rules.
        return [
            Turn(role=m.role, content=m.text()[:8000])  # type: ignore[arg-type]
            for m in self.messages[:-1]
            if m.role in ("user", "assistant") and m.text().strip()
        ]


def message_text(answer: Answer) -> str:
    """Answer text, its numbered sources, then the disclaimer, for clients that show only text.

    The streamed reply sends `answer.answer` as deltas and the rest of this text as its last
    content chunk, so streamed and whole replies read exactly the same.
    """
    lines = [answer.answer]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            lines.append(f"[{c.n}] {c.title}" + (f" {c.url}" if c.url else ""))
    disclaimer = answer.disclaimer.strip()
    if disclaimer and disclaimer not in answer.answer:
        lines += ["", disclaimer]
    return "\n".join(lines)


def completion(answer: Answer) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{answer.trace_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": message_text(answer)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": [c.model_dump(mode="json") for c in answer.citations],
        "fibro": answer.model_dump(mode="json"),
    }


DONE = "[DONE]"


def stream_chunks(events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[str]:
    """The data of each OpenAI `chat.completion.chunk` event, from pipeline events, then [DONE]."""
    created = int(time.time())
    chunk_id = "chatcmpl-pending"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return json.dumps(body)

    # Deltas are joined by one space, as `Answer.answer` joins them; the first has none.
    started = False
    for name, data in events:
        if name == "meta":
            chunk_id = f"chatcmpl-{data['trace_id']}"
            yield chunk({"role": "assistant", "content": ""})
        elif name == "delta":
            text = data["text"] if not started else " " + data["text"]
            started = True
            yield chunk({"content": text})
        elif name == "done":
            answer = Answer.model_validate(data)
            # The numbered sources and the disclaimer, exactly as the whole reply ends.
            tail = message_text(answer)[len(answer.answer) :]
            if tail:
                yield chunk({"content": tail})
            yield chunk(
                {},
                "stop",
                citations=[c.model_dump(mode="json") for c in answer.citations],
                fibro=data,
            )
        elif name == "error":
            yield json.dumps({"error": data})
    yield DONE
