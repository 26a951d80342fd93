"""Fact marks as the index keeps them: which facts a chunk's sentences state, and their evidence.

`ingest/marks.py` reads them from corpus documents; this module is the data model the index, the
composer, the hedges and the evals share.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, cast

SentenceEvidence = Literal["animal", "human", "none"]
EVIDENCE_WORDS: frozenset[str] = frozenset({"animal", "human", "none"})


@dataclass(frozen=True)
class Mark:
    """The facts one stretch of source text states."""

    text: str
    facts: tuple[str, ...] = ()
    evidence: SentenceEvidence | None = None
    qualified_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChunkMark:
    """A mark placed in a chunk: `chunk.text[start:end]` is the marked text."""

    start: int
    end: int
    facts: tuple[str, ...]
    evidence: SentenceEvidence | None
    qualified_by: tuple[str, ...] = ()


def marks_to_json(marks: list[ChunkMark]) -> str:
    """Compact JSON for a chunk's metadata (Chroma metadata values must be scalars)."""
    return json.dumps(
        [
            [m.start, m.end, " ".join(m.facts), m.evidence or "", " ".join(m.qualified_by)]
            for m in marks
        ],
        separators=(",", ":"),
    )


def marks_from_json(value: str) -> tuple[ChunkMark, ...]:
    """The inverse of `marks_to_json`; an empty or missing value is no marks."""
    if not value:
        return ()
    out = []
    for start, end, facts, evidence, qualified in json.loads(value):
        out.append(
            ChunkMark(
                int(start),
                int(end),
                tuple(facts.split()),
                cast(SentenceEvidence, evidence) if evidence in EVIDENCE_WORDS else None,
                tuple(qualified.split()),
            )
        )
    return tuple(out)
