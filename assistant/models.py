"""Pydantic models at the boundaries: source metadata, chunks, requests and the answer object.

Every surface (HTTP JSON, SSE, OpenAI-compatible, CLI, evals) speaks these shapes, so the same
question gives the same citations everywhere.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SourceType = Literal[
    "primary_study",
    "review",
    "guideline",
    "trial_registry",
    "commentary",
    "press_release",
    "news",
    "patient_info",
]
Evidence = Literal["animal", "human", "mixed", "none"]

# Topic names from the fact sheet's topic index; eval cases refer to them in expected_sources.
TOPICS = (
    "press_release",
    "goebel2021_design_findings",
    "goebel2021_limits",
    "followup_antiSGC",
    "related_immune_research",
    "immune_therapy_trials",
    "fms_epidemiology",
    "fms_symptoms",
    "fms_diagnosis",
    "fms_management",
    "small_fibre_pathology",
    "mouse_to_human",
    "safety_crisis",
    "known_misreports",
)

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,79}$")


class SourceMeta(BaseModel):
    """Front matter of a corpus source (fields: docs/CORPUS.md)."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str = Field(min_length=3)
    authors: list[str] = Field(default_factory=list)
    publisher: str = ""
    published: str = ""
    url: str = ""
    doi: str = ""
    pmid: str = ""
    source_type: SourceType = "patient_info"
    evidence: Evidence = "none"
    topics: list[str] = Field(default_factory=list)
    text_origin: Literal["original", "summary"] = "original"
    note: str = ""
    # "evidence" sources are indexed and retrieved; "triage" sources (crisis resources) back the
    # fixed safety replies and are never retrieved as evidence.
    use: Literal["evidence", "triage"] = "evidence"

    @field_validator("id")
    @classmethod
    def _id_is_slug(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(
                f"id {value!r} must be 2-80 characters of lowercase letters, digits, '-' or '_'"
            )
        return value

    @field_validator("topics")
    @classmethod
    def _topics_known(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topics {unknown}; use names from the fact sheet: {TOPICS}")
        return value

    @field_validator("published", "doi", "pmid", "url", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> str:
        # YAML turns 2021-07-01 into a date and 34196305 into an int; keep them as text.
        return "" if value is None else str(value)

    def citation_url(self) -> str:
        """Best link for a reader: explicit URL, else DOI, else PubMed."""
        if self.url:
            return self.url
        if self.doi:
            return f"https://doi.org/{self.doi}"
        if self.pmid:
            return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"
        return ""


class Route(StrEnum):
    """What kind of reply a question got."""

    answer = "answer"
    crisis = "crisis"
    emergency = "emergency"
    advice_boundary = "advice_boundary"
    out_of_scope = "out_of_scope"
    no_evidence = "no_evidence"


class Turn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=8000)


class AnswerRequest(BaseModel):
    """Body of POST /v1/answer and /v1/answer/stream."""

    model_config = ConfigDict(extra="forbid")

    # The length limit is a setting (`max_question_chars`), checked by the API and the CLI; the
    # API writes it into the OpenAPI document as maxLength (assistant/api/responses.py).
    question: str = Field(
        min_length=1,
        description="The question: some text that is not only spaces (a blank one is a 422), "
        "at most FIBRO_MAX_QUESTION_CHARS characters (a longer one is a 413).",
        json_schema_extra={"pattern": r"\S"},
    )
    history: list[Turn] = Field(default_factory=list, max_length=40)
    session_id: str | None = Field(default=None, max_length=200)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must contain some text")
        return value.strip()


class Citation(BaseModel):
    """One numbered source behind an answer; `quote` is the exact supporting passage."""

    n: int
    chunk_id: str
    source_id: str
    title: str
    url: str = ""
    source_type: str
    evidence: str
    quote: str
    start: int = 0
    end: int = 0


class Resource(BaseModel):
    """A help line or service offered on crisis and emergency routes."""

    name: str
    contact: str
    region: str
    note: str = ""


class Retrieved(BaseModel):
    """One passage the retriever returned, in rank order (for evals and debugging)."""

    rank: int
    chunk_id: str
    source_id: str
    title: str
    topics: list[str] = Field(default_factory=list)
    evidence: str = "none"
    score: float


class FactMark(BaseModel):
    """The fact-sheet facts `text[start:end]` of a chunk states, and what kind of evidence it is."""

    start: int
    end: int
    facts: list[str]
    evidence: str | None = None
    qualified_by: list[str] = Field(default_factory=list)


class ChunkView(BaseModel):
    """A stored chunk as GET /v1/chunks/{chunk_id} returns it."""

    chunk_id: str
    source_id: str
    title: str
    text: str
    start: int
    end: int
    position: int
    marks: list[FactMark] = Field(
        default_factory=list,
        description="Fact-sheet facts stated by spans of `text` (empty for unmarked sources).",
    )


class Answer(BaseModel):
    """The one answer shape every surface returns."""

    answer: str
    citations: list[Citation] = Field(default_factory=list)
    route: Route = Route.answer
    hedges: list[str] = Field(default_factory=list)
    resources: list[Resource] = Field(default_factory=list)
    mode: Literal["llm", "extractive", "fixed"] = "extractive"
    model: str | None = None
    trace_id: str
    disclaimer: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    retrieved: list[Retrieved] = Field(default_factory=list)


class Status(BaseModel):
    """What `/readyz` reports: whether the pipeline can answer, and from what."""

    status: Literal["ready", "empty", "unavailable"]
    chunks: int | None = None
    sources: int | None = None
    embedding_model: str | None = None
    composer: str | None = None
