"""Normalise text and drop repeated passages, within a source and across sources."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from assistant.sentences import split_sentences

# Two passages are near-duplicates when their word 3-shingles overlap this much (Jaccard).
NEAR_DUPLICATE_JACCARD = 0.85
# Sentences shorter than this may legitimately repeat ("Results were similar.").
MIN_DEDUPE_WORDS = 8

_GLUED_SENTENCE = re.compile(r"(?<=[a-z0-9)\]%])([.!?])(?=[A-Z][a-z])")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")


def normalise(text: str) -> str:
    """Unicode NFKC, one space between words, blank lines between paragraphs.

    Also separates sentences that were glued together ("body.The results"), a common
    artefact of copy-pasted press material.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _GLUED_SENTENCE.sub(r"\1 ", text)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [_SPACES.sub(" ", line).strip() for line in block.split("\n")]
        joined = " ".join(line for line in lines if line)
        if joined:
            paragraphs.append(joined)
    return "\n\n".join(paragraphs)


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _shingles(key: str) -> frozenset[str]:
    words = key.split()
    if len(words) < 3:
        return frozenset([key])
    return frozenset(" ".join(words[i : i + 3]) for i in range(len(words) - 2))


# A passage's normalised key and its shingles.
Fingerprint = tuple[str, frozenset[str]]


def fingerprint(text: str) -> Fingerprint:
    """Computed once per passage by the caller: dedupe asks about a paragraph up to three times
    (a repeat within its source, a repeat across sources, then remembered)."""
    key = _key(text)
    return key, _shingles(key)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class SeenPassages:
    """Remembers passages to recognise exact and near repeats quickly.

    Exact repeats are a dict lookup; near repeats are found through an inverted index of
    shingles, so only passages that share wording are compared.
    """

    def __init__(self) -> None:
        self._exact: dict[str, str] = {}
        self._shingles: list[tuple[frozenset[str], str]] = []
        self._index: dict[str, list[int]] = {}

    def match(self, passage: Fingerprint) -> str | None:
        """The label of a passage this one repeats, or None."""
        key, shingles = passage
        if key in self._exact:
            return self._exact[key]
        counts: dict[int, int] = {}
        for sh in shingles:
            for idx in self._index.get(sh, ()):
                counts[idx] = counts.get(idx, 0) + 1
        need = NEAR_DUPLICATE_JACCARD * len(shingles)
        for idx, shared in counts.items():
            if shared >= need * 0.9:
                other, label = self._shingles[idx]
                if _jaccard(shingles, other) >= NEAR_DUPLICATE_JACCARD:
                    return label
        return None

    def add(self, passage: Fingerprint, label: str) -> None:
        key, shingles = passage
        self._exact.setdefault(key, label)
        idx = len(self._shingles)
        self._shingles.append((shingles, label))
        for sh in shingles:
            self._index.setdefault(sh, []).append(idx)


@dataclass
class DedupeResult:
    """Cleaned text of one source and what was removed from it."""

    text: str
    removed_within: int = 0
    removed_across: list[tuple[str, str]] = field(default_factory=list)  # (passage start, other id)


def dedupe_source(text: str, source_id: str, across: SeenPassages) -> DedupeResult:
    """Drop repeated paragraphs and long sentences within a source, then ones seen in earlier sources.

    A dropped repeat inside a paragraph becomes a paragraph break, which restores the structure
    of texts where a lead was pasted before every paragraph.
    """
    within = SeenPassages()
    result = DedupeResult(text="")
    kept_paragraphs: list[str] = []
    for paragraph in text.split("\n\n"):
        paragraph_fp = fingerprint(paragraph)
        if len(paragraph.split()) >= MIN_DEDUPE_WORDS:
            if within.match(paragraph_fp):
                result.removed_within += 1
                continue
            other = across.match(paragraph_fp)
            if other is not None:
                result.removed_across.append((paragraph[:60], other))
                continue
        pieces: list[list[str]] = [[]]
        for sentence in split_sentences(paragraph):
            s = sentence.text
            sentence_fp = fingerprint(s)
            if len(s.split()) >= MIN_DEDUPE_WORDS and within.match(sentence_fp):
                result.removed_within += 1
                pieces.append([])
                continue
            within.add(sentence_fp, source_id)
            pieces[-1].append(s)
        within.add(paragraph_fp, source_id)
        kept_paragraphs.extend(" ".join(p) for p in pieces if p)
    for paragraph in kept_paragraphs:
        if len(paragraph.split()) >= MIN_DEDUPE_WORDS:
            across.add(fingerprint(paragraph), source_id)
    result.text = "\n\n".join(kept_paragraphs)
    return result
