"""A small BM25 index over chunk texts: the lexical half of hybrid retrieval.

It is rebuilt from the store's active chunks whenever the index generation changes, so it can
never drift from Chroma (see store.py).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "im",
        "ive",
        "dont",
        "cant",
        "isnt",
        "does",
        "did",
        "get",
        "got",
        "really",
        "also",
        "like",
        "actually",
        "pls",
        "please",
        "tell",
        "know",
        "want",
    ]
)


def _stem(token: str) -> str:
    # A deliberately light stemmer: plural and a few verb endings. Enough for "antibodies" to
    # meet "antibody" and "mice" to stay "mice" without a dependency.
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 5 and token.endswith("ing"):
        return token[:-3]
    if len(token) > 4 and token.endswith("ed") and not token.endswith("eed"):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lowercased, stop-word-free, lightly stemmed tokens."""
    out: list[str] = []
    for token in _TOKEN_RE.findall(text.lower()):
        for part in token.split("-") if "-" in token else (token,):
            if part and part not in STOPWORDS:
                out.append(_stem(part))
    return out


class BM25Index:
    """Okapi BM25 with postings held as numpy arrays for fast scoring."""

    def __init__(self, texts: Sequence[str], k1: float = 1.4, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.size = len(texts)
        lengths = np.zeros(self.size, dtype=np.float32)
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for doc, text in enumerate(texts):
            counts = Counter(tokenize(text))
            lengths[doc] = sum(counts.values())
            for term, tf in counts.items():
                postings[term].append((doc, tf))
        avg = float(lengths.mean()) if self.size else 1.0
        self._norm = self.k1 * (1 - self.b + self.b * lengths / max(avg, 1e-9))
        self._postings: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        for term, items in postings.items():
            docs = np.fromiter((d for d, _ in items), dtype=np.int32, count=len(items))
            tfs = np.fromiter((t for _, t in items), dtype=np.float32, count=len(items))
            df = len(items)
            idf = math.log(1 + (self.size - df + 0.5) / (df + 0.5))
            self._postings[term] = (docs, tfs, idf)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query."""
        scores = np.zeros(self.size, dtype=np.float32)
        for term in set(tokenize(query)):
            entry = self._postings.get(term)
            if entry is None:
                continue
            docs, tfs, idf = entry
            scores[docs] += idf * tfs * (self.k1 + 1) / (tfs + self._norm[docs])
        return scores

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """The k best (document index, score) pairs with a positive score."""
        if self.size == 0:
            return []
        scores = self.scores(query)
        k = min(k, self.size)
        idx = np.argpartition(-scores, k - 1)[:k]
        idx = idx[np.argsort(-scores[idx])]
        return [(int(i), float(scores[i])) for i in idx if scores[i] > 0]
