"""The extractive composer: an answer built from the best-supported source sentences.

Deterministic and model-free. It is the default when no LLM is configured and the fallback when
the LLM fails or its output does not survive verification.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from assistant.compose.base import Draft
from assistant.index.embedder import Embedder, get_embedder
from assistant.index.lexical import tokenize
from assistant.models import Turn
from assistant.retrieve import Passage
from assistant.sentences import split_passage
from assistant.triage import looks_like_injection

MIN_RELEVANCE = 0.30
REDUNDANCY = 0.80
MMR_LAMBDA = 0.75
# The paper's or a review's wording is preferred to the press release's where both are found.
PRESS_RELEASE_FACTOR = 0.88


# A sentence opening with one of these leans on the sentence before it for its meaning.
_ANAPHORA = re.compile(
    r"^(?:he|she|it|they|this|these|that|those|such|its|their|his|her|both|there)\b", re.IGNORECASE
)
# So does a short sentence that points back early on ("In the paper, that finding comes from
# mice.", "The release goes further.").
_POINTS_BACK = re.compile(
    r"\b(?:that|this|these|those|such|further|also|too|same|again|likewise|similarly)\b",
    re.IGNORECASE,
)


def needs_context(sentence: str) -> bool:
    """Whether a sentence only makes sense after the one before it."""
    if _ANAPHORA.match(sentence):
        return True
    words = sentence.split()
    return len(words) <= 14 and _POINTS_BACK.search(" ".join(words[:8])) is not None


@dataclass(frozen=True)
class Candidate:
    passage: int  # 0-based index into passages
    text: str
    offset: int  # position of the sentence in the passage text
    relevance: float
    # The sentences before it in the same paragraph, nearest first.
    previous: tuple[tuple[str, int], ...] = ()


@lru_cache(maxsize=50_000)
def _usable(sentence: str) -> bool:
    words = sentence.split()
    if not 6 <= len(words) <= 70:
        return False
    # Headings, list fragments and questions do not read as answer sentences, and a passage
    # sentence that gives the assistant orders is data to ignore, not a claim to quote.
    if re.search(r"[.!][\"')\]]*$", sentence.rstrip()) is None:
        return False
    return not looks_like_injection(sentence)


def candidates(
    query: str, query_vector: np.ndarray, passages: Sequence[Passage], embedder: Embedder
) -> list[Candidate]:
    """Every usable sentence of the passages with its relevance to the query."""
    found: list[tuple[int, str, int, tuple[tuple[str, int], ...]]] = []
    for p_index, passage in enumerate(passages):
        text = passage.chunk.text
        previous: tuple[tuple[str, int], ...] = ()
        for sentence in split_passage(text):
            usable = _usable(sentence.text)
            if usable:
                found.append((p_index, sentence.text, sentence.start, previous))
            # A paragraph break resets the context a following pronoun could refer to.
            gap = text[sentence.end : sentence.end + 2]
            if "\n" in gap or not usable:
                previous = ()
            else:
                previous = ((sentence.text, sentence.start), *previous)
    if not found:
        return []
    vectors = embedder.encode_cached([item[1] for item in found])
    semantic = vectors @ np.asarray(query_vector, dtype=np.float32)
    query_terms = set(tokenize(query))
    out = []
    for (p_index, text, offset, previous), sim in zip(found, semantic, strict=True):
        terms = set(tokenize(text))
        overlap = len(query_terms & terms) / len(query_terms) if query_terms else 0.0
        relevance = float(sim) + 0.15 * overlap
        if passages[p_index].chunk.source_type == "press_release":
            relevance *= PRESS_RELEASE_FACTOR
        out.append(Candidate(p_index, text, offset, relevance, previous))
    return out


def select(cands: list[Candidate], limit: int, embedder: Embedder) -> list[Candidate]:
    """Maximal marginal relevance: relevant sentences that do not repeat each other."""
    pool = [c for c in cands if c.relevance >= MIN_RELEVANCE]
    if not pool:
        return []
    vectors = embedder.encode_cached([c.text for c in pool])
    chosen: list[int] = []
    while pool and len(chosen) < limit:
        best, best_score = None, -1e9
        for i, cand in enumerate(pool):
            if i in chosen:
                continue
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            if redundancy >= REDUNDANCY:
                continue
            score = MMR_LAMBDA * cand.relevance - (1 - MMR_LAMBDA) * redundancy
            if score > best_score:
                best, best_score = i, score
        if best is None:
            break
        chosen.append(best)
    return [pool[i] for i in chosen]


def with_context(chosen: list[Candidate]) -> list[Candidate]:
    """Give a sentence that opens with a pronoun the sentences it refers back to, or drop it.

    "He describes fibromyalgia as autoimmune." means nothing, or something misleading, alone.
    The chain is followed back to the nearest sentence that names its subject (at most three).
    """
    out: list[Candidate] = []
    present = {(c.passage, c.offset) for c in chosen}
    for cand in chosen:
        if not needs_context(cand.text):
            out.append(cand)
            continue
        context: list[tuple[str, int]] = []
        for text, offset in cand.previous[:3]:
            context.append((text, offset))
            if not needs_context(text):
                break
        else:
            # The chain ran out. A sentence that opens the available text and only points back
            # softly ("...list further symptoms.") is allowed to stand; a bare pronoun is not.
            opener = context[-1][0] if context else cand.text
            if len(cand.previous) > 3 or _ANAPHORA.match(opener):
                continue  # no sentence names the subject: drop rather than mislead
        for text, offset in reversed(context):
            if (cand.passage, offset) not in present:
                out.append(Candidate(cand.passage, text, offset, cand.relevance))
                present.add((cand.passage, offset))
        out.append(cand)
    return out


def arrange(chosen: list[Candidate]) -> list[Candidate]:
    """Reading order: passages in the order their best sentence was chosen, text order within."""
    passage_order: list[int] = []
    for cand in chosen:
        if cand.passage not in passage_order:
            passage_order.append(cand.passage)
    return sorted(chosen, key=lambda c: (passage_order.index(c.passage), c.offset))


def _ensure_stop(text: str) -> str:
    text = text.strip()
    return text if re.search(r"[.!?][\"')\]]*$", text) else text + "."


class ExtractiveComposer:
    """Picks, orders and joins source sentences, each followed by its passage number."""

    mode = "extractive"

    def __init__(self, sentences: int = 5, embedder: Embedder | None = None) -> None:
        self.sentences = sentences
        self.embedder = embedder or get_embedder()

    def compose_with_vector(
        self, query: str, query_vector: np.ndarray, passages: Sequence[Passage]
    ) -> Draft:
        found = candidates(query, query_vector, passages, self.embedder)
        chosen = arrange(with_context(select(found, self.sentences, self.embedder)))
        parts = []
        for cand in chosen:
            sentence = _ensure_stop(cand.text)
            # The marker goes before the final punctuation: "... unaffected [2]."
            parts.append(
                re.sub(r"([.!?][\"')\]]*)$", f" [{cand.passage + 1}]\\1", sentence, count=1)
            )
        return Draft(" ".join(parts), self.mode)

    def compose(self, question: str, passages: Sequence[Passage], history: Sequence[Turn]) -> Draft:
        return self.compose_with_vector(question, self.embedder.encode_one(question), passages)

    def stream(
        self, question: str, passages: Sequence[Passage], history: Sequence[Turn]
    ) -> Iterator[str]:
        yield self.compose(question, passages, history).text
