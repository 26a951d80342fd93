"""The run observer that records finished answers in the feedback store.

A rating is only useful beside what it rated, so every finished answer is written (masked) when
its run ends. Crisis and emergency exchanges are recorded by route and channel only: the words
of someone in crisis are never stored, not even masked, and neither is the session that would
tie them to a person.

"Finished" means an `Answer` was built (`record.answer` is set). `record.completed` is not the
test: `Pipeline.answer()` stops reading the run at its `done` event, so its runs end with
`completed` False although the answer was whole; a stream a client left mid-answer has no
`Answer` and is skipped.

The write is one small INSERT after the last event has been sent; a failure raises to `notify`,
which logs it and goes on, so it never fails or delays an answer the user reads.
"""

from __future__ import annotations

import logging

from assistant.errors import FeedbackStoreError
from assistant.feedback.store import FeedbackStore, get_store
from assistant.models import Route
from assistant.observe import Observer, RunRecord
from assistant.privacy import mask_text
from assistant.settings import Settings

log = logging.getLogger("fibro.feedback")

# Routes whose text is never stored.
UNSTORED_TEXT_ROUTES = frozenset({Route.crisis, Route.emergency})


class AnswerRecorder:
    """Observer: write each finished run's answer, masked, to the store."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store

    def __call__(self, record: RunRecord) -> None:
        answer = record.answer
        if answer is None:
            return
        route = Route(answer.route)
        private = route in UNSTORED_TEXT_ROUTES or Route(record.route) in UNSTORED_TEXT_ROUTES
        self.store.record_answer(
            trace_id=record.trace_id,
            channel=record.channel,
            route=route.value,
            mode=answer.mode,
            question=None if private else mask_text(record.question),
            answer=None if private else mask_text(answer.answer),
            citations=[]
            if private
            else [
                {"n": c.n, "title": c.title, "source_id": c.source_id, "chunk_id": c.chunk_id}
                for c in answer.citations
            ],
            session_id=None
            if private or record.session_id is None
            else mask_text(record.session_id),
        )

    def __repr__(self) -> str:
        return f"AnswerRecorder({self.store.backend})"


def answer_recorder(settings: Settings) -> Observer | None:
    """The observer for these settings, its tables created now (at start-up).

    A database that cannot be reached at start-up must not stop the service from answering:
    the failure is logged, no observer is returned, and ratings still try the store per request.
    """
    try:
        store = get_store(settings)
        store.ensure_schema()
    except FeedbackStoreError as exc:
        log.warning("feedback store unavailable, answers are not recorded: %s", exc)
        return None
    return AnswerRecorder(store)
