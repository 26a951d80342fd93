"""The BM25 index over chunk texts (the lexical half of hybrid retrieval) and the tokenizer.

It is rebuilt from the store's active chunks whenever the index generation changes, so it can
never drift from Chroma (see store.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import bm25s
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
    """Okapi BM25 over chunk texts, scored by `bm25s` with the project's tokenizer.

    The tokenizer stays ours because retrieval, verification and the composer must agree on
    what a word is ("antibodies" meets "antibody").
    """

    def __init__(self, texts: Sequence[str], k1: float = 1.4, b: float = 0.75) -> None:
        self.k1 = k1
        self.size = len(texts)
        self._bm25 = bm25s.BM25(k1=k1, b=b)  # Lucene's idf, as Okapi with the +1 inside the log
        if self.size:
            self._bm25.index([tokenize(t) for t in texts], show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query (each query term counted once)."""
        known = self._bm25.vocab_dict if self.size else {}
        terms = [t for t in dict.fromkeys(tokenize(query)) if t in known]
        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        # bm25s leaves out Okapi's constant (k1 + 1) factor; restoring it keeps scores on the
        # scale they have always had in traces and reports.
        return np.asarray(self._bm25.get_scores(terms), dtype=np.float32) * (self.k1 + 1)

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """The k best (document index, score) pairs with a positive score."""
        if self.size == 0:
            return []
        scores = self.scores(query)
        k = min(k, self.size)
        idx = np.argpartition(-scores, k - 1)[:k]
        idx = idx[np.argsort(-scores[idx])]
        return [(int(i), float(scores[i])) for i in idx if scores[i] > 0]
