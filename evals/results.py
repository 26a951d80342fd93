"""The per-case result of an eval run: one line of results.jsonl.

``CaseResult`` is what the runner produces and what the summary, the report and ``compare`` read.
Its JSON form is the on-disk format of ``results.jsonl``, so the field names are fixed: output
folders written before this model existed load as they are, and a changed name would orphan them.
``scores`` is keyed by the registered per-case metric names (evals/registry.py); an unknown name
is refused, so a typo in the runner cannot invent a metric no report shows.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from assistant.models import Turn

from .registry import BY_CASE_NAME, CASE_SCORE_NAMES

Scores = dict[str, float | None]


class SentenceDetail(BaseModel):
    """Citation support of one claim sentence (ALCE recall and precision)."""

    model_config = ConfigDict(extra="forbid")

    sentence: str
    cited: list[int]
    supported: bool
    citation_ok: dict[str, bool]  # citation number (as a JSON key) -> precise


class StatementDetail(BaseModel):
    """What one cited answer sentence states, read from the fact marks of its sources."""

    model_config = ConfigDict(extra="forbid")

    sentence: str
    facts: list[str]
    evidence: list[str]
    on_topic: bool


class CaseDetails(BaseModel):
    """Why a case scored as it did, for the report. Only the fields the scoring got to are set,
    and only those are written (``to_json``), as before this model existed."""

    model_config = ConfigDict(extra="forbid")

    first_relevant_rank: int | None = None
    citation_problems: list[str] = []
    sentences: list[SentenceDetail] = []
    verifier_error: str | None = None
    statements: list[StatementDetail] = []
    facts_missing: list[str] = []


class CaseResult(BaseModel):
    """One case: what was asked and expected (copied from the case), what came back, the scores."""

    model_config = ConfigDict(extra="forbid")

    # The case, as it was run.
    id: str
    category: str
    style: str | None
    question: str
    history: list[Turn]
    expected_behavior: str
    must_cite: list[str]
    must_hedge: bool
    must_refuse_or_redirect: bool
    expected_sources: list[str]
    expected_routes: list[str]
    # What came back. ``answer`` is the target's Answer as JSON, kept as sent rather than as
    # ``assistant.models.Answer``: the product's model may change, and old runs must still load
    # for ``compare``.
    answer: dict[str, Any] | None
    route: str | None
    latency_ms: float | None
    error: str | None
    traceback: str | None = None  # written only when there is one
    # Scores and verdict.
    scores: Scores
    details: CaseDetails
    failures: list[str]
    passed: bool

    @field_validator("scores")
    @classmethod
    def _registered_metrics(cls, value: Scores) -> Scores:
        """Only registered per-case metrics; a missing one did not apply (older runs)."""
        unknown = sorted(set(value) - set(BY_CASE_NAME))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; registered: {list(CASE_SCORE_NAMES)}")
        return {name: value.get(name) for name in CASE_SCORE_NAMES}

    def score(self, name: str) -> float | None:
        """One per-case score by registered name (KeyError for an unregistered one)."""
        if name not in BY_CASE_NAME:
            raise KeyError(f"{name!r} is not a registered per-case metric")
        return self.scores.get(name)

    def to_json(self) -> dict[str, Any]:
        """The results.jsonl form: every field, ``traceback`` only when set, and only the
        details the scoring recorded."""
        data = self.model_dump(mode="json", exclude={"details"})
        if data.get("traceback") is None:
            data.pop("traceback", None)
        data["details"] = self.details.model_dump(mode="json", exclude_unset=True)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        """Read one results.jsonl object (raises pydantic.ValidationError when it does not fit)."""
        return cls.model_validate(data)
