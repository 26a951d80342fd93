"""Sentence-aware chunking with character offsets into the cleaned text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.sentences import Sentence, split_sentences


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences; `text == cleaned[start:end]` exactly."""

    position: int
    start: int
    end: int
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def _sentences_with_breaks(text: str) -> list[tuple[Sentence, bool]]:
    """Every sentence, flagged when it is the last of its paragraph."""
    out: list[tuple[Sentence, bool]] = []
    for match in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]+)*", text):
        sentences = split_sentences(match.group(0), offset=match.start())
        out.extend((s, i == len(sentences) - 1) for i, s in enumerate(sentences))
    return out


def chunk_text(
    text: str, min_words: int = 80, max_words: int = 250, overlap_sentences: int = 1
) -> list[Chunk]:
    """Group whole sentences into chunks of about min..max words, overlapping by a sentence.

    A chunk prefers to end at a paragraph break once it has min_words; a sentence longer than
    max_words becomes a chunk of its own rather than being cut.
    """
    items = _sentences_with_breaks(text)
    if not items:
        return []
    groups: list[list[int]] = []
    current: list[int] = []
    words = 0
    i = 0
    while i < len(items):
        sentence, last_in_paragraph = items[i]
        n = len(sentence.text.split())
        if current and words + n > max_words:
            groups.append(current)
            current, words = _overlap(current, items, overlap_sentences, max_words, n)
            continue
        current.append(i)
        words += n
        i += 1
        if last_in_paragraph and words >= min_words:
            groups.append(current)
            current, words = [], 0
    if current:
        fresh = [j for j in current if not groups or j > groups[-1][-1]]
        if fresh:
            tail_words = sum(len(items[j][0].text.split()) for j in current)
            if groups and tail_words < min_words:
                merged = sorted(set(groups[-1]) | set(current))
                merged_words = sum(len(items[j][0].text.split()) for j in merged)
                if merged_words <= max_words * 1.2:
                    groups[-1] = merged
                else:
                    groups.append(current)
            else:
                groups.append(current)
    chunks = []
    for position, group in enumerate(groups):
        start, end = items[group[0]][0].start, items[group[-1]][0].end
        chunks.append(Chunk(position, start, end, text[start:end]))
    return chunks


def _overlap(
    previous: list[int],
    items: list[tuple[Sentence, bool]],
    count: int,
    max_words: int,
    incoming: int,
) -> tuple[list[int], int]:
    """Carry the last `count` sentences into the next chunk when they leave room for more."""
    if count <= 0:
        return [], 0
    carried = previous[-count:]
    words = sum(len(items[j][0].text.split()) for j in carried)
    if words + incoming > max_words or len(carried) == len(previous):
        return [], 0
    return list(carried), words
