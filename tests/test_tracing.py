"""Langfuse tracing, end to end: the real app and the real Langfuse SDK exporting over HTTP to a
local capture server (tests/fakes/langfuse_server.py) that speaks Langfuse's endpoints.

Each test waits for the export with the SDK's own flush (`LangfuseTracer.flush`), never a sleep.
Every capture server has its own keys: the SDK keeps one client per public key per process.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from assistant.models import Route
from assistant.observe import (
    FeedbackEvent,
    LLMCall,
    RunRecord,
    Stage,
    feedback_hooks_for,
    observers_for,
    tell_feedback,
)
from assistant.settings import Settings
from assistant.tracing import tracer_for
from assistant.tracing.langfuse import LangfuseTracer
from tests.fakes.langfuse_server import FakeLangfuse, ReceivedSpan
from tests.fakes.openai_server import FakeOpenAI, Reply, well_cited_text
from tests.support import LiveServer, free_port, parse_sse

pytestmark = pytest.mark.slow

ORDINARY = "Did the mice in the antibody study recover?"
EMAIL, PHONE = "jane.doe@example.com", "+44 20 7946 0958"
PII_QUESTION = f"Is there a blood test for fibromyalgia? Write to {EMAIL} or call {PHONE}."
CRISIS = "i cant take this pain anymore. ive been thinking about ending it all tonight"
STAGES = {"triage", "retrieve", "compose", "verify"}


# ---- fixtures ----------------------------------------------------------------------------------


def traced(base: Settings, fake: FakeLangfuse, **overrides: Any) -> Settings:
    return base.model_copy(update={**fake.settings_overrides(), **overrides})


def app_for(settings: Settings, corpus_pipeline: Any) -> LiveServer:
    from assistant.api.app import create_app
    from assistant.pipeline import Pipeline

    pipeline = Pipeline(
        settings,
        corpus_pipeline.store,
        corpus_pipeline.embedder,
        observers=observers_for(settings),
    )
    return LiveServer(create_app(settings, pipeline))


@pytest.fixture(scope="module")
def lf() -> Iterator[FakeLangfuse]:
    """Capture server for the app with trace content off (the default)."""
    with FakeLangfuse() as server:
        yield server


@pytest.fixture(scope="module")
def lf_content() -> Iterator[FakeLangfuse]:
    """Capture server for the app with FIBRO_TRACE_CONTENT=true."""
    with FakeLangfuse() as server:
        yield server


@pytest.fixture(scope="module")
def settings(corpus_settings: Settings, lf: FakeLangfuse) -> Settings:
    return traced(corpus_settings, lf)


@pytest.fixture(scope="module")
def content_settings(corpus_settings: Settings, lf_content: FakeLangfuse) -> Settings:
    return traced(corpus_settings, lf_content, trace_content=True)


@pytest.fixture(scope="module")
def client(settings: Settings, corpus_pipeline: Any) -> Iterator[httpx.Client]:
    with (
        app_for(settings, corpus_pipeline) as server,
        httpx.Client(base_url=server.url, timeout=60.0) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def content_client(content_settings: Settings, corpus_pipeline: Any) -> Iterator[httpx.Client]:
    with (
        app_for(content_settings, corpus_pipeline) as server,
        httpx.Client(base_url=server.url, timeout=60.0) as c,
    ):
        yield c


def tracer(settings: Settings) -> LangfuseTracer:
    found = tracer_for(settings)
    assert found is not None
    return found


def ask(client: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/answer", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def exported(settings: Settings, fake: FakeLangfuse, trace_id: str) -> dict[str, ReceivedSpan]:
    """The trace's spans by name, after the SDK has flushed."""
    tracer(settings).flush()
    spans = fake.trace(trace_id)
    assert spans, f"no spans for trace {trace_id}"
    by_name = {s.name: s for s in spans if s.type != "generation"}
    assert len(by_name) == len([s for s in spans if s.type != "generation"]), "one span per stage"
    return by_name


def all_text(spans: list[ReceivedSpan]) -> str:
    return " ".join(f"{k}={v}" for s in spans for k, v in s.attributes.items())


# ---- one trace per answer ----------------------------------------------------------------------


def test_json_answer_is_one_trace_with_a_span_per_stage(
    client: httpx.Client, settings: Settings, lf: FakeLangfuse
) -> None:
    body = ask(client, ORDINARY, session_id="session-42")
    spans = exported(settings, lf, body["trace_id"])
    root = spans["answer"]
    assert set(spans) >= STAGES
    assert root.trace_id == body["trace_id"]  # the answer's trace_id is the Langfuse trace id
    assert root.attr("langfuse.internal.as_root") is True
    for name in STAGES:
        child = spans[name]
        assert child.parent_id == root.span_id
        assert root.start_ns <= child.start_ns <= child.end_ns <= root.end_ns
    # The stages' own times, not the time of the export.
    assert abs(spans["retrieve"].duration_ms - body["timings_ms"]["retrieve"]) < 5
    assert spans["triage"].type == "guardrail" and spans["retrieve"].type == "retriever"
    for span in spans.values():
        assert span.attr("langfuse.trace.tags") == ["channel:api", f"route:{body['route']}"]
        assert span.attr("session.id") == "session-42"
        assert span.attr("langfuse.trace.name") == "answer"
    retrieved = spans["retrieve"].output["passages"]
    assert [p["chunk_id"] for p in retrieved] == [r["chunk_id"] for r in body["retrieved"]]
    assert [p["score"] for p in retrieved] == [r["score"] for r in body["retrieved"]]
    assert spans["triage"].output["route"] == body["route"]
    kept = spans["verify"].output["kept"]
    assert kept and all(set(k) == {"cites", "support"} for k in kept)
    # Trace content is off: neither the question nor the answer left the process.
    text = all_text(lf.trace(body["trace_id"]))
    assert "mice in the antibody" not in text
    assert body["answer"][:40] not in text
    assert root.input is None and root.output is None


def test_streamed_answer_is_traced_with_the_stream_channel(
    client: httpx.Client, settings: Settings, lf: FakeLangfuse
) -> None:
    response = client.post("/v1/answer/stream", json={"question": ORDINARY})
    assert response.status_code == 200
    events = parse_sse(response.text)
    trace_id = events[0][1]["trace_id"]
    spans = exported(settings, lf, trace_id)
    assert set(spans) >= STAGES
    assert spans["answer"].attr("langfuse.trace.tags") == ["channel:stream", "route:answer"]
    assert spans["answer"].metadata["finished"] is True


def test_crisis_trace_carries_the_route_and_no_words(
    content_client: httpx.Client, content_settings: Settings, lf_content: FakeLangfuse
) -> None:
    body = ask(content_client, CRISIS, session_id="session-crisis")
    assert body["route"] == "crisis"
    spans = exported(content_settings, lf_content, body["trace_id"])
    raw = lf_content.trace(body["trace_id"])
    assert all(s.input is None and s.output is None for s in raw)
    assert spans["answer"].attr("langfuse.trace.tags") == ["channel:api", "route:crisis"]
    assert spans["answer"].metadata["route"] == "crisis"
    text = all_text(raw)
    for word in ("pain anymore", "ending it all", "tonight", "session-crisis", "116 123"):
        assert word not in text
    assert "reason" not in spans["answer"].metadata


def test_question_is_masked_when_trace_content_is_on(
    content_client: httpx.Client, content_settings: Settings, lf_content: FakeLangfuse
) -> None:
    body = ask(content_client, PII_QUESTION)
    assert body["route"] not in (Route.crisis, Route.emergency)
    spans = exported(content_settings, lf_content, body["trace_id"])
    question = spans["answer"].input["question"]
    assert "blood test" in question and "[email]" in question and "[phone]" in question
    assert spans["answer"].output["answer"]
    text = all_text(lf_content.trace(body["trace_id"]))
    assert EMAIL not in text and "jane.doe" not in text and "7946" not in text


# ---- the LLM composer: one generation per model call -------------------------------------------


def test_llm_answer_has_a_generation_per_model_call(
    content_settings: Settings, corpus_pipeline: Any, lf_content: FakeLangfuse
) -> None:
    from assistant.pipeline import Pipeline

    records: list[RunRecord] = []
    with FakeOpenAI(default=Reply(text=lambda r: well_cited_text(r, 3))) as provider:
        llm_settings = provider.settings_for(content_settings)
        observers = [records.append, *observers_for(llm_settings)]
        pipeline = Pipeline(
            llm_settings, corpus_pipeline.store, corpus_pipeline.embedder, observers
        )
        answer = pipeline.answer("What did the mice show after the antibody transfer?")
    assert answer.mode == "llm"
    tracer(llm_settings).flush()
    spans = lf_content.trace(answer.trace_id)
    generations = [s for s in spans if s.type == "generation"]
    compose = next(s for s in spans if s.name == "compose")
    calls = records[0].llm_calls
    assert len(generations) == len(calls) == 1
    gen, call = generations[0], calls[0]
    assert gen.parent_id == compose.span_id
    assert gen.attr("langfuse.observation.model.name") == "openai/fake-model"
    assert gen.start_ns == int(call.start * 1e9) and gen.end_ns == int(call.end * 1e9)
    assert [m["role"] for m in gen.input] == [m["role"] for m in call.messages]
    assert gen.output == call.output and "[1]" in gen.output
    usage = gen.attr_json("langfuse.observation.usage_details")
    if call.usage:  # the composer records usage when the provider reports it
        assert usage["total"] == call.usage["total_tokens"]
    assert compose.metadata["composer"] == "llm"


def test_usage_cost_and_errors_of_model_calls() -> None:
    """What a generation carries when the composer recorded usage, cost and a failed call."""
    with FakeLangfuse() as fake:
        t = LangfuseTracer(host=fake.url, public_key=fake.public_key, secret_key=fake.secret_key)
        now = time.time()
        record = RunRecord(uuid.uuid4().hex, "cli", None, f"mail {EMAIL}", now - 2)
        record.stages = [
            Stage("triage", now - 2, now - 1.9),
            Stage("compose", now - 1.5, now - 0.5),
        ]
        messages = [{"role": "system", "content": "cite"}, {"role": "user", "content": EMAIL}]
        record.llm_calls = [
            LLMCall("openai/a", messages, "", now - 1.5, now - 1.4, error="Timeout: 1 s"),
            LLMCall(
                "openai/b",
                messages,
                "An answer [1].",
                now - 1.4,
                now - 0.6,
                usage={"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                cost=0.0021,
            ),
        ]
        record.ended = now
        t.observe(record)
        t.flush()
        spans = fake.trace(record.trace_id)
        t.close()
    failed, answered = [s for s in spans if s.type == "generation"]
    assert failed.attr("langfuse.observation.level") == "ERROR"
    assert failed.attr("langfuse.observation.status_message") == "Timeout: 1 s"
    assert answered.attr_json("langfuse.observation.usage_details") == {
        "input": 120,
        "output": 30,
        "total": 150,
    }
    assert answered.attr_json("langfuse.observation.cost_details") == {"total": 0.0021}
    assert abs(answered.duration_ms - 800) < 1
    # Content off: sizes of the messages, not their words.
    assert answered.input == [{"role": "system", "chars": 4}, {"role": "user", "chars": len(EMAIL)}]
    assert answered.output is None
    assert EMAIL not in all_text(spans)


def test_index_identifiers_are_not_masked() -> None:
    """Masking runs over everything exported, but our own chunk and source ids are kept whole:
    a PubMed id reads like a phone number to the masker."""
    from assistant.tracing.langfuse import scrub

    passage = {"chunk_id": "pmid-33571135:0001:1234567890ab", "source_id": "pmid-33571135"}
    assert scrub({"passages": [passage], "note": "call 020 7946 0958"}) == {
        "passages": [passage],
        "note": "call [phone]",
    }


# ---- feedback becomes a score ------------------------------------------------------------------


def test_feedback_becomes_a_score_on_the_trace(
    content_client: httpx.Client, content_settings: Settings, lf_content: FakeLangfuse
) -> None:
    body = ask(content_client, ORDINARY)
    response = content_client.post(
        "/v1/feedback",
        json={
            "trace_id": body["trace_id"],
            "rating": "down",
            "comment": f"wrong, mail me at {EMAIL}",
            "channel": "api",
        },
    )
    if response.status_code == 404:  # the feedback route is not there: call the hooks
        tell_feedback(
            feedback_hooks_for(content_settings),
            FeedbackEvent(body["trace_id"], "down", "api", f"wrong, mail me at {EMAIL}"),
        )
    else:
        assert response.status_code in (200, 201), response.text
    tracer(content_settings).flush()
    (score,) = lf_content.scores_for(body["trace_id"])
    assert score["name"] == "user_feedback" and score["value"] == 0.0
    assert score["dataType"] == "BOOLEAN"
    assert score["comment"] == "wrong, mail me at [email]"
    assert score["metadata"] == {"rating": "down", "channel": "api"}


def test_feedback_on_a_crisis_trace_sends_no_comment(
    content_client: httpx.Client, content_settings: Settings, lf_content: FakeLangfuse
) -> None:
    body = ask(content_client, CRISIS)
    hook = tracer(content_settings).feedback
    hook(FeedbackEvent(body["trace_id"], "up", "api", "thank you, I called them"))
    tracer(content_settings).flush()
    (score,) = lf_content.scores_for(body["trace_id"])
    assert score["value"] == 1.0 and "comment" not in score


def test_feedback_comment_stays_home_without_trace_content(
    settings: Settings, lf: FakeLangfuse
) -> None:
    trace_id = "cd" * 16
    tell_feedback(feedback_hooks_for(settings), FeedbackEvent(trace_id, "up", "widget", "great"))
    tracer(settings).flush()
    (score,) = lf.scores_for(trace_id)
    assert score["value"] == 1.0 and "comment" not in score


# ---- off, and down -----------------------------------------------------------------------------


def test_without_keys_nothing_is_registered(corpus_settings: Settings) -> None:
    assert corpus_settings.langfuse_public_key is None
    assert tracer_for(corpus_settings) is None
    observers = observers_for(corpus_settings)
    hooks = feedback_hooks_for(corpus_settings)
    assert not any(isinstance(getattr(o, "__self__", None), LangfuseTracer) for o in observers)
    assert not any(isinstance(getattr(h, "__self__", None), LangfuseTracer) for h in hooks)


def test_only_one_key_is_no_tracing(corpus_settings: Settings) -> None:
    half = corpus_settings.model_copy(update={"langfuse_public_key": "pk-lf-only"})
    assert tracer_for(half) is None


@pytest.fixture
def hanging_langfuse() -> Iterator[str]:
    """A port that accepts connections and never answers: Langfuse stuck, not just down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("outage", ["closed", "hanging"])
def test_langfuse_down_never_slows_an_answer(
    outage: str,
    corpus_settings: Settings,
    corpus_pipeline: Any,
    hanging_langfuse: str,
) -> None:
    from assistant.pipeline import Pipeline

    host = f"http://127.0.0.1:{free_port()}" if outage == "closed" else hanging_langfuse
    down = FakeLangfuse()  # never started: only its fresh keys are used
    settings = corpus_settings.model_copy(
        update={**down.settings_overrides(), "langfuse_host": host, "trace_content": True}
    )
    t = tracer(settings)
    plain = Pipeline(
        settings.model_copy(update={"langfuse_public_key": None}),
        corpus_pipeline.store,
        corpus_pipeline.embedder,
        [],
    )
    traced_pipeline = Pipeline(
        settings, corpus_pipeline.store, corpus_pipeline.embedder, [t.observe]
    )
    plain.answer(ORDINARY)  # warm
    try:
        for _ in range(3):
            started = time.perf_counter()
            answer = traced_pipeline.answer(ORDINARY)
            traced_s = time.perf_counter() - started
            started = time.perf_counter()
            plain.answer(ORDINARY)
            plain_s = time.perf_counter() - started
            assert answer.route == Route.answer and answer.citations
            # The SDK's request timeout is 5 s: a synchronous export would show here.
            assert traced_s < plain_s + 1.0, (traced_s, plain_s)
        started = time.perf_counter()
        t.feedback(FeedbackEvent(answer.trace_id, "up", "api"))
        assert time.perf_counter() - started < 0.5
    finally:
        started = time.perf_counter()
        t.close(timeout=3.0)
        assert time.perf_counter() - started < 5.0  # shutdown is bounded too
