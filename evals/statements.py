"""What an answer states, read from the corpus's fact marks: the evals' own reading.

`fact_recall`, `off_topic_rate` and `mouse_caveat_misplaced` need to know which fact-sheet facts
each answer sentence states and whether it reports an animal finding. The corpus marks every
summary sentence with its fact IDs and evidence (docs/CORPUS.md); the index returns those marks
with each chunk (`GET /v1/chunks/{id}`). This module maps each cited answer sentence to the
marked chunk sentence it rests on:

- an extractive answer quotes its source, so the quoted sentence is found verbatim (exact);
- an LLM answer paraphrases, so the cited chunk's sentence sharing most of its words is taken,
  by a plain word-overlap matcher that shares no code with the pipeline's verifier or composer
  (an instrument that can disagree with the pipeline).

It depends only on the answer, the chunk views and the case, so it scores a running service over
HTTP exactly as it scores the pipeline in process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.models import Answer, ChunkView, FactMark
from assistant.sentences import split_passage

from .answer_text import citation_numbers, split_sentences, strip_markers
from .cases import must_cite_facts

# Fact ID prefixes by fact-sheet section (FACTS.md's topic index). Longer prefixes first.
FACT_TOPICS: tuple[tuple[str, str], ...] = (
    ("SF", "small_fibre_pathology"),
    ("MH", "mouse_to_human"),
    ("P", "press_release"),
    ("A", "goebel2021_design_findings"),
    ("L", "goebel2021_limits"),
    ("F", "followup_antiSGC"),
    ("R", "related_immune_research"),
    ("T", "immune_therapy_trials"),
    ("E", "fms_epidemiology"),
    ("Y", "fms_symptoms"),
    ("D", "fms_diagnosis"),
    ("M", "fms_management"),
    ("C", "safety_crisis"),
    ("K", "known_misreports"),
)

_WORD = re.compile(r"[a-z0-9]+")
# Words too common in this domain to say what a sentence is about; the evals' own list.
_COMMON = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "without",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "my",
        "me",
        "do",
        "does",
        "did",
        "done",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "must",
        "not",
        "no",
        "yes",
        "so",
        "if",
        "then",
        "than",
        "also",
        "only",
        "just",
        "about",
        "into",
        "over",
        "under",
        "after",
        "before",
        "more",
        "most",
        "less",
        "very",
        "much",
        "many",
        "some",
        "any",
        "all",
        "each",
        "other",
        "such",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "has",
        "have",
        "had",
        "fibromyalgia",
        "fibro",
        "fms",
        "syndrome",
        "people",
        "patients",
        "patient",
        "person",
        "study",
        "studies",
        "research",
        "researchers",
        "paper",
        "says",
        "said",
        "say",
        "according",
        "found",
        "find",
        "shows",
        "showed",
        "show",
        "one",
        "two",
        "new",
        "like",
        "get",
        "got",
    ]
)
# How much of an LLM sentence's wording a chunk sentence must share to count as its source.
MATCH_FLOOR = 0.5


def topic_of(fact: str) -> str | None:
    """The fact-sheet topic a fact ID belongs to ("A4" -> "goebel2021_design_findings")."""
    for prefix, topic in FACT_TOPICS:
        if fact.startswith(prefix) and fact[len(prefix) :].isdigit():
            return topic
    return None


def content_words(text: str) -> set[str]:
    """Lower-cased content words, cut to their first five letters ("antibodies" -> "antib")."""
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _COMMON and len(w) > 2}


@dataclass(frozen=True)
class Statement:
    """One cited answer sentence and what the marked source sentences under it state."""

    sentence: str
    facts: frozenset[str]
    evidence: frozenset[str]  # "animal", "human", "none"; empty when no mark was found
    marked: bool  # whether any cited source sentence carries a mark


def _marks_over(view: ChunkView, start: int, end: int) -> list[FactMark]:
    return [m for m in view.marks if m.start < end and start < m.end]


def source_marks(sentence: str, view: ChunkView) -> list[FactMark] | None:
    """The marks under the chunk text `sentence` rests on; None when no source text is found."""
    claim = strip_markers(sentence).rstrip(".!? ")
    # Press-release attribution the pipeline adds is not part of the quote.
    claim = re.sub(r"^According to the press release, ", "", claim)
    claim = re.sub(r"^The press release quotes: \u201c(.*)\u201d?$", r"\1", claim).rstrip("\u201d.")
    if claim:
        lowered = view.text.lower()
        at = lowered.find(claim.lower())
        if at >= 0:
            return _marks_over(view, at, at + len(claim))
    words = content_words(claim)
    if not words:
        return None
    best: tuple[int, int] | None = None
    best_share = 0.0
    # Split as the index splits (headings and abbreviations are not the point of the matcher).
    for piece in split_passage(view.text):
        share = len(words & content_words(piece.text)) / len(words)
        if share > best_share:
            best, best_share = (piece.start, piece.end), share
    if best is None or best_share < MATCH_FLOOR:
        return None
    return _marks_over(view, *best)


def statements(
    answer: Answer, get_chunk: Callable[[str], ChunkView | None], non_claims: Sequence[str] = ()
) -> list[Statement]:
    """Every cited sentence of the answer with the facts and evidence its sources' marks give."""
    by_number = {c.n: c.chunk_id for c in answer.citations}
    skip = {strip_markers(s).strip() for s in non_claims if s}
    out = []
    for sentence in split_sentences(answer.answer):
        numbers = citation_numbers(sentence)
        if not numbers or strip_markers(sentence).strip() in skip:
            continue
        facts: set[str] = set()
        evidence: set[str] = set()
        marked = False
        for n in numbers:
            view = get_chunk(by_number[n]) if n in by_number else None
            if view is None:
                continue
            marks = source_marks(sentence, view) or []
            marked = marked or bool(marks)
            for mark in marks:
                facts.update(mark.facts)
                if mark.evidence:
                    evidence.add(mark.evidence)
        out.append(
            Statement(strip_markers(sentence), frozenset(facts), frozenset(evidence), marked)
        )
    return out


def on_topic(
    statement: Statement, question: str, must_cite: Sequence[str], expected_sources: Sequence[str]
) -> bool:
    """Whether a sentence bears on some part of the question (a documented proxy).

    It does when it states a fact the case needs, or a fact from a topic the case expects, or
    shares the question's own content words (two of them, or the only one the question has).
    """
    needed = {fact for item in must_cite for fact in must_cite_facts(item)}
    if statement.facts & needed:
        return True
    if {topic_of(f) for f in statement.facts} & set(expected_sources):
        return True
    asked = content_words(question)
    shared = asked & content_words(statement.sentence)
    return len(shared) >= min(2, len(asked)) and bool(shared)
