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


@dataclass(frozen=True)
class Retrieval:
    """What retrieval found for a question, and whether it clears the relevance floor."""

    query: str
    passages: list[Passage]
    best_similarity: float
    query_vector: np.ndarray

    def covered(self, floor: float) -> bool:
        return bool(self.passages) and self.best_similarity >= floor


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
        query = search_query(question, history)
        vector = self.embedder.encode_one(query)
        pool = self.settings.candidates
        dense = self.store.dense(vector, pool)
        lexical = self.store.lexical(query, pool)
        k = self.settings.rrf_k
        fused: dict[str, float] = {}
        chunks: dict[str, StoredChunk] = {}
        similarity: dict[str, float] = {}
        bm25: dict[str, float] = {}
        for rank, hit in enumerate(dense):
            fused[hit.chunk.id] = fused.get(hit.chunk.id, 0.0) + 1.0 / (k + rank + 1)
            chunks[hit.chunk.id] = hit.chunk
            similarity[hit.chunk.id] = hit.score
        for rank, hit in enumerate(lexical):
            fused[hit.chunk.id] = fused.get(hit.chunk.id, 0.0) + 1.0 / (k + rank + 1)
            chunks[hit.chunk.id] = hit.chunk
            bm25[hit.chunk.id] = hit.score
        order = sorted(fused, key=lambda cid: (-fused[cid], cid))[: self.settings.top_k]
        passages = [
            Passage(chunks[cid], fused[cid], similarity.get(cid, 0.0), bm25.get(cid, 0.0))
            for cid in order
        ]
        best = max((h.score for h in dense), default=0.0)
        return Retrieval(query, passages, best, vector)
