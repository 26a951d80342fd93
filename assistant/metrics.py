"""Prometheus metrics: HTTP requests, answers, triage, verification, stages and feedback.

Metrics are always on: a counter increment costs well under a microsecond, far below an answer.
Three things feed them:

- `MetricsMiddleware`, a plain ASGI middleware, counts requests and their latency by the route
  template (`/v1/chunks/{chunk_id}`, never the raw path, so a scan of random URLs cannot blow up
  the number of series) and by status;
- `observe_run`, a run observer (`assistant.observe.observers_for`), counts what each answer did
  from its `RunRecord` once the run is over, so it never delays what the user reads;
- `observe_feedback`, a feedback hook (`assistant.observe.feedback_hooks_for`), counts ratings.

Every label value comes from a small fixed set or from our own code (route names, triage reasons),
never from user text, so the number of series stays bounded.

**One process.** The metrics live in `REGISTRY`, a registry of this module rather than
prometheus_client's global default, so nothing another library registers leaks into `/metrics`
and building several apps in one test process registers nothing twice. The metric objects are
module-level, so every app in the process shares one set of counters: tests compare a value
before and after their requests instead of expecting fresh zeros.

**Several worker processes** (`uvicorn --workers N`, gunicorn). Each worker counts on its own,
and a scrape reaches just one of them. With `PROMETHEUS_MULTIPROC_DIR` set in the environment
*before the service starts* (prometheus_client reads it when it is first imported), every worker
writes its values to memory-mapped files in that folder and `/metrics` adds up the files of all
workers (`MultiProcessCollector`). The folder must exist and should be emptied before each start
(values of a previous run would otherwise count again).
"""

from __future__ import annotations

import atexit
import os
import re
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from assistant.observe import CHANNELS, FeedbackEvent, RunRecord

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The text format every Prometheus server reads. prometheus_client 0.26 calls the 1.0.0 format
# "latest", but `generate_latest` with its default escaping writes the 0.0.4 format, and our
# metric names need nothing newer.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Paths not counted as requests: a scrape every few seconds would only add noise.
EXCLUDED_ENDPOINTS = frozenset({"/metrics"})
UNMATCHED = "<unmatched>"  # any path no route serves (404s), as one label value
OTHER = "other"

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_RATINGS = frozenset({"up", "down"})
_STAGES = ("triage", "retrieve", "compose", "verify", "hedge")
_FALLBACK_REASONS = frozenset({"model_error", "unverified", "breaker_open"})
_REASON_CHARS = re.compile(r"[^a-z0-9_:]")

# Whole requests: a JSON answer takes tens of milliseconds to seconds, a stream with a model
# up to a minute or more.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# One stage: triage and hedge take a millisecond or so, a model's compose tens of seconds.
_STAGE_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "fibro_http_requests",
    "HTTP requests by method, route template and status.",
    ["method", "endpoint", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "fibro_http_request_duration_seconds",
    "Time from a request's arrival to its last byte sent (a stream: its whole length).",
    ["method", "endpoint", "status"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
ANSWERS = Counter(
    "fibro_answers",
    "Answers produced, by route, mode (llm, extractive, fixed) and channel.",
    ["route", "mode", "channel"],
    registry=REGISTRY,
)
ABANDONED = Counter(
    "fibro_answers_abandoned",
    "Runs that ended before an answer was built (a streaming client went away).",
    ["channel"],
    registry=REGISTRY,
)
FALLBACKS = Counter(
    "fibro_llm_fallbacks",
    "Runs in which the model failed and the extractive composer answered.",
    ["channel"],
    registry=REGISTRY,
)
FALLBACK_REASONS = Counter(
    "fibro_llm_fallback_reasons",
    "Runs answered extractively instead of by the model, by why: model_error, unverified "
    "(too few model sentences passed verification), breaker_open (the model was not asked).",
    ["reason"],
    registry=REGISTRY,
)
LLM_CALLS = Counter(
    "fibro_llm_calls",
    "Calls to a model, by outcome (ok, error).",
    ["outcome"],
    registry=REGISTRY,
)
DROPPED = Counter(
    "fibro_sentences_dropped",
    "Sentences verification left out, by reason (unsupported, no_valid_citation, dose, other).",
    ["reason"],
    registry=REGISTRY,
)
TRIAGE = Counter(
    "fibro_triage_decisions",
    "Triage decisions by class (crisis, emergency, advice, scope, injection, answer) and reason.",
    ["class", "reason"],
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "fibro_stage_duration_seconds",
    "Time one run spent in a stage (a stage entered several times is added up).",
    ["stage"],
    buckets=_STAGE_BUCKETS,
    registry=REGISTRY,
)
FEEDBACK = Counter(
    "fibro_feedback",
    "Accepted ratings of answers, by rating (up, down) and channel.",
    ["rating", "channel"],
    registry=REGISTRY,
)


def multiprocess_dir() -> str | None:
    """The folder shared by worker processes, or None in single-process mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """The text `/metrics` returns, and its content type.

    In multiprocess mode the values are read from the files of every worker, through a registry
    built for this scrape (as prometheus_client documents: a collector on a long-lived registry
    would also export this process's in-memory values a second time).
    """
    path = multiprocess_dir()
    if path:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(REGISTRY), CONTENT_TYPE


def _mark_dead() -> None:
    """Tell the shared folder this worker is gone (drops its `livesum`/`liveall` gauge files).

    Only gauges in those modes care, and we define none today; doing it at exit means one added
    later is right from the start. Under gunicorn, call `multiprocess.mark_process_dead` from the
    `child_exit` hook as well: a worker that is killed runs no exit handlers.
    """
    path = multiprocess_dir()
    if path and os.path.isdir(path):
        multiprocess.mark_process_dead(os.getpid(), path)


atexit.register(_mark_dead)


# ---- labels -------------------------------------------------------------------------------


def channel_label(channel: str) -> str:
    """A known channel, or "other": a caller-supplied value must not create new series."""
    return channel if channel in CHANNELS else OTHER


def dropped_reason(reason: str) -> str:
    """The class of a verification reason: its free part (a support score) would be a new
    series for every value."""
    if reason.startswith("unsupported"):
        return "unsupported"
    if reason.startswith("no valid citation"):
        return "no_valid_citation"
    if "dose" in reason:
        return "dose"
    return OTHER


def triage_labels(reason: str) -> tuple[str, str]:
    """(class, reason) of a triage reason such as "crisis:classifier:third_party_crisis".

    Reasons are written by our triage code, a bounded set; the clean-up and length cap are a
    guard in case one ever carries something else.
    """
    cleaned = _REASON_CHARS.sub("_", reason.strip().lower())[:64] or "none"
    return cleaned.split(":", 1)[0], cleaned


def route_template(scope: Scope) -> str:
    """The path template of the route that served the request (set by the router in `scope`)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


# ---- the three feeds ----------------------------------------------------------------------


def observe_run(record: RunRecord) -> None:
    """Run observer: count what one answer did. Runs once per run, after the last event."""
    channel = channel_label(record.channel)
    if record.answer is not None:
        ANSWERS.labels(record.answer.route.value, record.answer.mode, channel).inc()
    else:
        ABANDONED.labels(channel).inc()
    spent: dict[str, float] = {}
    for stage in record.stages:
        spent[stage.name] = spent.get(stage.name, 0.0) + max(0.0, stage.end - stage.start)
    if "triage" in spent:  # triage ran (a client may leave before it ends)
        TRIAGE.labels(*triage_labels(record.reason)).inc()
    for name, seconds in spent.items():
        STAGE_SECONDS.labels(name if name in _STAGES else OTHER).observe(seconds)
    for dropped in record.dropped:
        DROPPED.labels(dropped_reason(dropped.reason)).inc()
    for call in record.llm_calls:
        LLM_CALLS.labels("error" if call.error else "ok").inc()
    if record.fallback:
        FALLBACKS.labels(channel).inc()
        reason = record.fallback_reason
        FALLBACK_REASONS.labels(reason if reason in _FALLBACK_REASONS else OTHER).inc()


def observe_feedback(event: FeedbackEvent) -> None:
    """Feedback hook: count an accepted rating."""
    rating = event.rating if event.rating in _RATINGS else OTHER
    FEEDBACK.labels(rating, channel_label(event.channel)).inc()


class MetricsMiddleware:
    """Counts every HTTP request and times it to the last byte sent.

    Plain ASGI rather than `BaseHTTPMiddleware`: that one returns as soon as a response starts,
    so a stream (Server-Sent Events) would be timed to its first byte, not to its end. The route
    template is read after the app has run, when the router has put the matched route in the
    scope; a request that raised is counted as a 500 unless its response had already started.
    """

    def __init__(self, app: ASGIApp, exclude: Collection[str] = EXCLUDED_ENDPOINTS) -> None:
        self.app = app
        self.exclude = frozenset(exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            endpoint = route_template(scope)
            if endpoint not in self.exclude:
                method = scope.get("method", "")
                labels = (method if method in _METHODS else OTHER, endpoint, str(status))
                HTTP_REQUESTS.labels(*labels).inc()
                HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - start)
