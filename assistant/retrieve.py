"""Hybrid retrieval: dense (Chroma) and BM25 results fused by reciprocal rank."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.index.embedder import Embedder
from assistant.index.lexical import tokenize
from assistant.index.store import Store, StoredChunk
from assistant.models import Turn
from assistant.settings import Settings

# Words that make a question lean on the previous turn ("what about in humans?").
_FOLLOW_UP = re.compile(
    r"^(?:and|but|so|also|what about|how about|and what|what if|same for|is that|are they|"
    r"does that|do they|did they|was it|were they|why|how come|really)\b|\b(?:it|that|this|they|"
    r"them|those|these|there|he|she)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its fused rank score and each retriever's raw score."""

    chunk: StoredChunk
    score: float
    similarity: float  # cosine similarity to the query (0 when only BM25 found it)
    bm25: float


# Words every question here may contain; they say nothing about whether the sources cover it.
DOMAIN_TERMS = frozenset(
    tokenize(
        "fibromyalgia fibro fms fm syndrome pain chronic patient patients people person symptom "
        "condition disease illness doctor best good bad help know thing way much many get worse "
        "better mean really someone anyone ok okay right true say said tell need want work works "
        "working killing hurts hurting awful terrible unbearable struggling suffering thank thanks "
        "study studies studied research researchers paper"
    )
)


def _stem_key(token: str) -> str:
    return token[:5]


DOMAIN_KEYS = frozenset(_stem_key(t) for t in DOMAIN_TERMS)


def specific_terms(text: str) -> set[str]:
    """The text's content words beyond the domain's, compared by their first five letters."""
    return {_stem_key(t) for t in tokenize(text)} - DOMAIN_KEYS


# How far below the similarity floor a question may score when the passages contain most of its
# own words.
LEXICAL_RESCUE_MARGIN = 0.1


@dataclass(frozen=True)
class Retrieval:
    """What retrieval found for a question, and whether it clears the relevance floor."""

    question: str
    query: str
    passages: list[Passage]
    best_similarity: float
    query_vector: np.ndarray

    def covered(self, floor: float) -> bool:
        """Whether the sources speak to the question at all.

        Similarity alone cannot tell: the domain words ("fibromyalgia", "pain") lift any question
        over a floor ("is fibromyalgia hereditary?" scores like a covered question). So when the
        question has content words beyond the domain's, one of them must occur in a retrieved
        passage, compared by their first five letters so "diagnose" meets "diagnosed" and a
        typo in the ending still counts. Conversely, a question whose own words the passages
        mostly contain (names: "what did Camilla Svensson say?") is covered a little below the
        similarity floor.
        """
        if not self.passages:
            return False
        specific = specific_terms(self.question)
        found: set[str] = set()
        for passage in self.passages:
            found.update(
                _stem_key(t) for t in tokenize(f"{passage.chunk.title} {passage.chunk.text}")
            )
        matched = specific & found
        if self.best_similarity >= floor:
            return not specific or bool(matched)
        mostly_matched = len(matched) >= 2 and len(matched) >= 0.5 * len(specific)
        return mostly_matched and self.best_similarity >= floor - LEXICAL_RESCUE_MARGIN


def search_query(question: str, history: Sequence[Turn]) -> str:
    """The text to search with: the question, plus the last user turn when it is a follow-up."""
    previous = [t.content for t in history if t.role == "user"]
    if not previous:
        return question
    content_words = tokenize(question)
    if len(content_words) <= 4 or _FOLLOW_UP.search(question):
        return f"{previous[-1]} {question}"
    return question


class Retriever:
    """Dense plus lexical retrieval over the store, fused by reciprocal rank (RRF)."""

    def __init__(self, store: Store, embedder: Embedder, settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings

    def retrieve(self, question: str, history: Sequence[Turn] = ()) -> Retrieval:
        """The top-k passages by reciprocal-rank fusion of dense and BM25 rankings.

        A follow-up is searched twice, alone and with the previous user turn, and all rankings
        are fused: "what about in humans?" must find human studies, not only the mice it follows.
        """
        query = search_query(question, history)
        queries = [question, query] if query != question else [question]
        # Through the cache: triage has usually just embedded the same question.
        vectors = self.embedder.encode_cached(queries)
        pool = self.settings.candidates
        k = self.settings.rrf_k
        fused: dict[str, float] = {}
        chunks: dict[str, StoredChunk] = {}
        similarity: dict[str, float] = {}
        bm25: dict[str, float] = {}
        best = 0.0
        for text, vector in zip(queries, vectors, strict=True):
            dense = self.store.dense(vector, pool)
            lexical = self.store.lexical(text, pool)
            best = max([best, *(h.score for h in dense)])
            for rank, hit in enumerate(dense):
                cid = hit.chunk.id
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + rank + 1)
                chunks[cid] = hit.chunk
                similarity[cid] = max(similarity.get(cid, 0.0), hit.score)
            for rank, hit in enumerate(lexical):
                cid = hit.chunk.id
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + rank + 1)
                chunks[cid] = hit.chunk
                bm25[cid] = max(bm25.get(cid, 0.0), hit.score)
        order = _diverse(sorted(fused, key=lambda cid: (-fused[cid], cid)), chunks, self.settings)
        passages = [
            Passage(chunks[cid], fused[cid], similarity.get(cid, 0.0), bm25.get(cid, 0.0))
            for cid in order
        ]
        mean = vectors.mean(axis=0)
        query_vector = mean / max(float(np.linalg.norm(mean)), 1e-9)
        return Retrieval(question, query, passages, best, query_vector)


def _diverse(ranked: list[str], chunks: dict[str, StoredChunk], settings: Settings) -> list[str]:
    """The top-k ids with at most `max_chunks_per_source` from any one source.

    One long source (the press release) otherwise fills the passages and crowds out the
    guideline or study that answers the question.
    """
    picked: list[str] = []
    per_source: dict[str, int] = {}
    for cid in ranked:
        source = chunks[cid].source_id
        if per_source.get(source, 0) >= settings.max_chunks_per_source:
            continue
        per_source[source] = per_source.get(source, 0) + 1
        picked.append(cid)
        if len(picked) == settings.top_k:
            break
    return picked
