"""The OpenAI-compatible reply carries the disclaimer in its text, streamed or not."""

from __future__ import annotations

import json
from typing import Any

from assistant.api.openai_compat import DONE, completion, message_text, stream_chunks
from assistant.models import Answer, Citation

DISCLAIMER = "This is general information, not medical advice."


def _answer(citations: bool = True) -> Answer:
    cites = (
        [
            Citation(
                n=1,
                chunk_id="a:0000:x",
                source_id="a",
                title="Source A",
                url="https://example.org/a",
                source_type="review",
                evidence="none",
                quote="Mice recovered.",
            )
        ]
        if citations
        else []
    )
    return Answer(
        answer="Mice recovered [1].", citations=cites, trace_id="t1", disclaimer=DISCLAIMER
    )


def _streamed(answer: Answer) -> str:
    events: list[tuple[str, dict[str, Any]]] = [
        ("meta", {"trace_id": answer.trace_id}),
        ("delta", {"text": answer.answer}),
        ("done", answer.model_dump(mode="json")),
    ]
    text = ""
    for data in stream_chunks(iter(events)):
        if data == DONE:
            break
        text += json.loads(data)["choices"][0]["delta"].get("content") or ""
    return text


def test_reply_text_ends_with_the_disclaimer_after_the_sources() -> None:
    text = message_text(_answer())
    assert text == (
        "Mice recovered [1].\n\nSources:\n[1] Source A https://example.org/a\n\n" + DISCLAIMER
    )
    body = completion(_answer())
    assert body["choices"][0]["message"]["content"].endswith("\n\n" + DISCLAIMER)


def test_reply_without_sources_still_has_the_disclaimer() -> None:
    assert message_text(_answer(citations=False)) == "Mice recovered [1].\n\n" + DISCLAIMER


def test_streamed_text_equals_the_whole_reply() -> None:
    for answer in (_answer(), _answer(citations=False)):
        assert _streamed(answer) == message_text(answer)
        assert _streamed(answer).endswith(DISCLAIMER)
