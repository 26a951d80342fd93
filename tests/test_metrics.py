"""`/metrics`: what the app counts, read back the way Prometheus reads it.

The counters are module-level and shared by every app in the test process, so each test reads the
values before and after its own requests and checks the difference. The run observer and the
request middleware record just after the response has gone out, so readings are retried briefly
(`settled`) instead of expected on the first scrape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from assistant.metrics import (
    REGISTRY,
    channel_label,
    dropped_reason,
    exposition,
    observe_run,
    triage_labels,
)
from assistant.observe import (
    Dropped,
    FeedbackEvent,
    LLMCall,
    RunRecord,
    Stage,
    feedback_hooks_for,
    observers_for,
    tell_feedback,
)
from assistant.pipeline import Pipeline
from assistant.settings import PROJECT_ROOT, Settings
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import LiveServer, make_settings, parse_sse

ORDINARY = "What did the Goebel 2021 study find when patient antibodies were given to mice?"
CRISIS = "I want to kill myself"

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]


# ---- reading /metrics ---------------------------------------------------------------------------


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, keyed by (sample name, labels)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def settled(
    read: Callable[[], Samples], check: Callable[[Samples], None], seconds: float = 10.0
) -> Samples:
    """Read until `check` passes (observers count just after the response is sent)."""
    deadline = time.monotonic() + seconds
    while True:
        samples = read()
        try:
            check(samples)
            return samples
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def in_registry(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- over HTTP, the extractive composer ---------------------------------------------------------


@pytest.fixture(scope="module")
def client(live_app: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_app.url, timeout=60.0) as c:
        yield c


@pytest.mark.slow
def test_requests_answers_triage_and_stages_are_counted(client: httpx.Client) -> None:
    before = scrape(client)

    ordinary = client.post("/v1/answer", json={"question": ORDINARY})
    crisis = client.post("/v1/answer", json={"question": CRISIS})
    too_long = client.post("/v1/answer", json={"question": "x" * 2001})
    stream = client.post("/v1/answer/stream", json={"question": ORDINARY})
    missing = client.get("/v1/chunks/no-such-chunk")
    unrouted = client.get("/no/such/path/42")
    assert (ordinary.status_code, crisis.status_code, too_long.status_code) == (200, 200, 413)
    assert (stream.status_code, missing.status_code, unrouted.status_code) == (200, 404, 404)
    answer, fixed = ordinary.json(), crisis.json()
    streamed = dict(parse_sse(stream.text))["done"]
    assert answer["route"] == streamed["route"] == "answer"
    assert (fixed["route"], fixed["mode"]) == ("crisis", "fixed")

    def delta(after: Samples, name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    def check(after: Samples) -> None:
        requests = "fibro_http_requests_total"
        answer_post = {"method": "POST", "endpoint": "/v1/answer"}
        assert delta(after, requests, **answer_post, status="200") == 2
        assert delta(after, requests, **answer_post, status="413") == 1
        assert delta(after, requests, endpoint="/v1/answer/stream", status="200") == 1
        # Route templates, not raw paths: a path no route serves is one series, whatever it is.
        assert delta(after, requests, endpoint="/v1/chunks/{chunk_id}", status="404") == 1
        assert delta(after, requests, endpoint="<unmatched>", status="404") == 1
        assert not any("no-such" in dict(ls).get("endpoint", "") for _, ls in after)
        assert delta(after, "fibro_http_request_duration_seconds_count", **answer_post) == 3
        # Scrapes are not counted.
        assert total(after, requests, endpoint="/metrics") == 0

        answers = "fibro_answers_total"
        assert delta(after, answers, route="answer", mode=answer["mode"], channel="api") == 1
        assert delta(after, answers, route="crisis", mode="fixed", channel="api") == 1
        assert delta(after, answers, route="answer", mode=streamed["mode"], channel="stream") == 1
        assert delta(after, answers) == 3  # the 413 never reached the pipeline

        assert delta(after, "fibro_triage_decisions_total") == 3
        assert delta(after, "fibro_triage_decisions_total", **{"class": "crisis"}) == 1
        stages = "fibro_stage_duration_seconds_count"
        assert delta(after, stages, stage="triage") == 3
        for stage in ("retrieve", "compose", "verify", "hedge"):  # not run for a crisis
            assert delta(after, stages, stage=stage) == 2, stage
        assert delta(after, "fibro_stage_duration_seconds_sum", stage="retrieve") > 0
        assert delta(after, "fibro_llm_fallbacks_total") == 0

    settled(lambda: scrape(client), check)


# ---- over HTTP, a model that fails --------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def llm_client(
    corpus_settings: Settings, corpus_pipeline: Pipeline, fake: FakeOpenAI
) -> Iterator[httpx.Client]:
    from assistant.api.app import create_app

    settings = fake.settings_for(corpus_settings, llm_timeout_seconds=30.0)
    pipeline = Pipeline(
        settings, corpus_pipeline.store, corpus_pipeline.embedder, observers_for(settings)
    )
    with (
        LiveServer(create_app(settings, pipeline)) as server,
        httpx.Client(base_url=server.url, timeout=60.0) as c,
    ):
        yield c


@pytest.mark.slow
def test_dropped_sentences_and_fallbacks_are_counted(
    llm_client: httpx.Client, fake: FakeOpenAI
) -> None:
    fake.reset()  # unscripted requests get a 500: the model fails
    # Only claims verification must drop: a number no passage has, and an uncited claim.
    fake.script(
        Reply(
            text="IVIG cured 80% of patients in a large trial [1]. "
            "Fibromyalgia is caused by a virus that lives in the spinal cord."
        )
    )
    before = scrape(llm_client)
    bad_claims = llm_client.post("/v1/answer", json={"question": ORDINARY})
    failing = llm_client.post("/v1/answer/stream", json={"question": ORDINARY})
    assert bad_claims.status_code == failing.status_code == 200
    assert (
        bad_claims.json()["mode"] == dict(parse_sse(failing.text))["done"]["mode"] == "extractive"
    )

    def delta(after: Samples, name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    def check(after: Samples) -> None:
        assert delta(after, "fibro_llm_fallbacks_total", channel="api") == 1
        assert delta(after, "fibro_llm_fallbacks_total", channel="stream") == 1
        assert delta(after, "fibro_llm_calls_total", outcome="ok") == 1
        assert delta(after, "fibro_llm_calls_total", outcome="error") >= 1
        dropped = "fibro_sentences_dropped_total"
        assert delta(after, dropped, reason="unsupported") >= 1
        assert delta(after, dropped, reason="no_valid_citation") >= 1
        assert delta(after, "fibro_answers_total", mode="extractive") == 2

    settled(lambda: scrape(llm_client), check)


# ---- the observer and the feedback hook, called directly ---------------------------------------


def test_a_run_record_is_counted_by_class() -> None:
    """A client that left mid-answer: no answer, but its stages, drops and model call count."""
    record = RunRecord("t1", "slack", None, "q", started=100.0, reason="advice:dosing")
    record.stages = [
        Stage("triage", 100.0, 100.002),
        Stage("compose", 100.01, 100.51),
        Stage("verify", 100.1, 100.2),
        Stage("verify", 100.3, 100.4),  # entered twice: one observation of the sum
    ]
    record.dropped = [
        Dropped("a", "unsupported (support 0.41)"),
        Dropped("b", "no valid citation"),
        Dropped("c", "dose figure out of place"),
    ]
    record.llm_calls = [LLMCall("openai/m", [], error="timeout")]
    record.fallback = True
    names = [
        ("fibro_answers_abandoned_total", {"channel": "slack"}),
        ("fibro_triage_decisions_total", {"class": "advice", "reason": "advice:dosing"}),
        ("fibro_stage_duration_seconds_count", {"stage": "verify"}),
        ("fibro_stage_duration_seconds_sum", {"stage": "verify"}),
        ("fibro_stage_duration_seconds_count", {"stage": "retrieve"}),
        ("fibro_sentences_dropped_total", {"reason": "unsupported"}),
        ("fibro_sentences_dropped_total", {"reason": "no_valid_citation"}),
        ("fibro_sentences_dropped_total", {"reason": "dose"}),
        ("fibro_llm_calls_total", {"outcome": "error"}),
        ("fibro_llm_fallbacks_total", {"channel": "slack"}),
    ]
    before = [in_registry(n, **ls) for n, ls in names]
    answers_before = sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "fibro_answers"
        for s in m.samples
        if s.name.endswith("_total")
    )

    observe_run(record)

    deltas = [in_registry(n, **ls) - b for (n, ls), b in zip(names, before, strict=True)]
    assert deltas[:3] == [1, 1, 1]
    assert deltas[3] == pytest.approx(0.2)
    assert deltas[4:] == [0, 1, 1, 1, 1, 1]
    answers_after = sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "fibro_answers"
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert answers_after == answers_before


def test_labels_stay_bounded() -> None:
    assert channel_label("widget") == "widget"
    assert channel_label("my-own-client-123") == "other"
    assert dropped_reason("unsupported (support 0.12)") == "unsupported"
    assert dropped_reason("something new") == "other"
    assert triage_labels("crisis:classifier:third_party_crisis") == (
        "crisis",
        "crisis:classifier:third_party_crisis",
    )
    assert triage_labels("") == ("none", "none")
    assert triage_labels("Weird Reason!" * 20)[1] == ("weird_reason_" * 5)[:64]


def test_feedback_hook_counts_ratings_by_channel(tmp_path: Path) -> None:
    """The hook the app hands to the feedback route, told about accepted feedback."""
    hooks = feedback_hooks_for(make_settings(tmp_path))
    before = parse(exposition()[0].decode())
    events = [
        FeedbackEvent("t1", "up", "widget"),
        FeedbackEvent("t2", "down", "widget", comment="wrong"),
        FeedbackEvent("t3", "down", "slack"),
        FeedbackEvent("t4", "meh", "somewhere"),
    ]
    for event in events:
        tell_feedback(hooks, event)
    after = parse(exposition()[0].decode())

    def delta(**labels: str) -> float:
        return total(after, "fibro_feedback_total", **labels) - total(
            before, "fibro_feedback_total", **labels
        )

    assert delta(rating="up", channel="widget") == 1
    assert delta(rating="down", channel="widget") == 1
    assert delta(rating="down", channel="slack") == 1
    assert delta(rating="other", channel="other") == 1


# ---- several worker processes -------------------------------------------------------------------

# A worker: the real app (no pipeline is loaded: the ASGI transport sends no lifespan events)
# answers some requests and hears of some feedback, in a process of its own.
_WORKER = """
import asyncio, json, sys
from pathlib import Path
import httpx
from assistant.api.app import create_app
from assistant.observe import FeedbackEvent, tell_feedback
from tests.support import make_settings

requests, ratings, data = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
app = create_app(make_settings(data))

async def main():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
        for _ in range(requests):
            assert (await client.get("/healthz")).status_code == 200
        for letter in ratings:  # "u" up, "d" down
            rating = {"u": "up", "d": "down"}[letter]
            tell_feedback(app.state.feedback_hooks, FeedbackEvent("t", rating, "widget"))
        if sys.argv[4:] == ["scrape"]:
            response = await client.get("/metrics")
            print(json.dumps({"type": response.headers["content-type"], "text": response.text}))

asyncio.run(main())
"""


def _worker(
    data: Path, shared: Path, requests: int, ratings: str, *extra: str
) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(requests), ratings, str(data), *extra],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_metrics_add_up_across_worker_processes(tmp_path: Path) -> None:
    shared = tmp_path / "prom"
    shared.mkdir()
    workers = [
        _worker(tmp_path / "a", shared, 3, "uu"),
        _worker(tmp_path / "b", shared, 4, "d"),
    ]
    for proc in workers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    pids = {f.stem.rsplit("_", 1)[-1] for f in shared.glob("counter_*.db")}
    assert len(pids) == 2, "each worker wrote its own file"

    # A third worker serves /metrics: what the two others counted, plus its own one request.
    scraper = _worker(tmp_path / "c", shared, 1, "", "scrape")
    out, err = scraper.communicate(timeout=120)
    assert scraper.returncode == 0, err
    page = json.loads(out)
    assert page["type"].startswith("text/plain; version=0.0.4")
    samples = parse(page["text"])
    healthz = {"method": "GET", "endpoint": "/healthz", "status": "200"}
    assert total(samples, "fibro_http_requests_total", **healthz) == 8
    assert total(samples, "fibro_http_request_duration_seconds_count", **healthz) == 8
    assert total(samples, "fibro_http_request_duration_seconds_bucket", **healthz, le="+Inf") == 8
    assert total(samples, "fibro_feedback_total", rating="up", channel="widget") == 2
    assert total(samples, "fibro_feedback_total", rating="down", channel="widget") == 1
