"""What one answer did, handed to observers when it ends: where tracing, metrics and the
feedback store plug in.

The pipeline builds a `RunRecord` as it answers and gives it to every observer once the run is
over: when the answer is complete, and also when a streaming client goes away mid-answer
(`completed` is then False). Observers run after the last event has been sent, so an observer
never delays what the user reads; one that fails is logged and ignored, so it never fails an
answer either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.models import Answer, Retrieved, Route
from assistant.settings import Settings

log = logging.getLogger("fibro.observe")

# Where an answer was asked: a trace tag, and a label on metrics and feedback.
CHANNELS = ("api", "stream", "openai", "widget", "slack", "eval", "cli")


@dataclass(frozen=True)
class Stage:
    """One stage of a run (triage, retrieve, compose, verify, hedge), in epoch seconds."""

    name: str
    start: float
    end: float


@dataclass
class LLMCall:
    """One call to a model: what it was asked and what it said (usage when the provider says)."""

    model: str | None
    messages: list[dict[str, Any]]
    output: str = ""
    start: float = 0.0
    end: float = 0.0
    usage: dict[str, int] | None = None
    cost: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Dropped:
    """A sentence verification left out, and why."""

    text: str
    reason: str


@dataclass(frozen=True)
class Kept:
    """A sentence that passed verification, with its passage numbers and support score."""

    text: str
    cites: list[int]
    support: float


@dataclass
class RunRecord:
    """Everything observers may want about one run. Text fields hold the user's words: an
    observer that exports or stores them must mask them first (and never for crisis routes)."""

    trace_id: str
    channel: str
    session_id: str | None
    question: str
    started: float
    ended: float = 0.0
    route: Route = Route.answer
    reason: str = ""
    mode: str = "extractive"
    model: str | None = None
    stages: list[Stage] = field(default_factory=list)
    retrieved: list[Retrieved] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    hedges: list[str] = field(default_factory=list)
    llm_calls: list[LLMCall] = field(default_factory=list)
    fallback: bool = False  # the model failed and the extractive composer answered
    # Why: model_error, unverified (too few sentences passed), breaker_open (not asked).
    fallback_reason: str | None = None
    answer: Answer | None = None  # None when the client left before the end
    completed: bool = False


Observer = Callable[[RunRecord], None]


def notify(observers: Iterable[Observer], record: RunRecord) -> None:
    """Give the record to every observer; a failing observer is logged, never raised."""
    _tell_each(observers, record, record.trace_id)


def _tell_each(listeners: Iterable[Callable[[Any], None]], item: Any, trace_id: str) -> None:
    # Observability must never fail what it observes.
    for listener in listeners:
        try:
            listener(item)
        except Exception:
            log.exception("%r failed for trace %s", listener, trace_id)


@dataclass(frozen=True)
class FeedbackEvent:
    """A rating of one answer, after the feedback store has accepted it."""

    trace_id: str
    rating: str  # "up" or "down"
    channel: str
    comment: str | None = None


FeedbackHook = Callable[[FeedbackEvent], None]


def observers_for(settings: Settings) -> list[Observer]:
    """The run observers the settings turn on (each module adds itself here, lazily imported)."""
    observers: list[Observer] = []
    from assistant.metrics import observe_run  # always on: counting costs next to nothing

    observers.append(observe_run)
    from assistant.tracing import tracer_for  # Langfuse; None (nothing registered) without keys

    tracer = tracer_for(settings)
    if tracer is not None:
        observers.append(tracer.observe)
    from assistant.feedback.observer import answer_recorder  # answers, masked, for ratings

    recorder = answer_recorder(settings)
    if recorder is not None:
        observers.append(recorder)
    return observers


def feedback_hooks_for(settings: Settings) -> list[FeedbackHook]:
    """What else hears of accepted feedback (metrics, a score on the trace)."""
    hooks: list[FeedbackHook] = []
    from assistant.metrics import observe_feedback

    hooks.append(observe_feedback)
    from assistant.tracing import tracer_for

    tracer = tracer_for(settings)
    if tracer is not None:
        hooks.append(tracer.feedback)
    return hooks


def tell_feedback(hooks: Iterable[FeedbackHook], event: FeedbackEvent) -> None:
    """Give accepted feedback to every hook; a failing hook is logged, never raised."""
    _tell_each(hooks, event, event.trace_id)
