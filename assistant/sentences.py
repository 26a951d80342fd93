"""Sentence splitting, tuned for scientific and medical prose: the one owner of the idea.

Source passages are split with offsets (`split_passage`), answers with their citation markers
(`split_answer`), and a model's streamed text as sentences complete (`sentences_from_stream`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from assistant.markers import markers_before_stop

# Tokens that end with a period but do not end a sentence.
ABBREVIATIONS = frozenset(
    [
        "al",
        "e.g",
        "i.e",
        "etc",
        "vs",
        "cf",
        "dr",
        "prof",
        "mr",
        "mrs",
        "ms",
        "st",
        "fig",
        "figs",
        "no",
        "nos",
        "approx",
        "ca",
        "ed",
        "eds",
        "vol",
        "pp",
        "p",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "inc",
        "ltd",
        "co",
        "dept",
        "univ",
        "ref",
        "refs",
        "clin",
        "invest",
        "med",
        "res",
        "rev",
        "sci",
        "natl",
        "acad",
        "proc",
        "immunol",
        "neurol",
        "rheumatol",
        "ann",
        "arch",
        "eur",
        "int",
        "soc",
        "assoc",
        "biol",
        "chem",
        "surg",
        "behav",
        "psychiatr",
    ]
)

_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class Sentence:
    """A sentence and its [start, end) offsets in the text it came from."""

    text: str
    start: int
    end: int


_WORD_BEFORE = re.compile(r"[A-Za-z][A-Za-z.]*$")
_WORD_CHAR = re.compile(r"[A-Za-z.]")
# How far back from a dot the word before it is looked for. Searching the whole text before
# every dot made splitting quadratic in a paragraph's length (most of an ingest's time outside
# the model); no abbreviation or run of initials is this long.
WORD_WINDOW = 64


def is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    low = max(0, dot - WORD_WINDOW)
    word = _WORD_BEFORE.search(text, low, dot)
    if not word:
        return False
    if word.start() == low and low > 0 and _WORD_CHAR.match(text, low - 1):
        return False  # a "word" longer than the window: no abbreviation
    token = word.group(0).lower().rstrip(".")
    if token in ABBREVIATIONS:
        return True
    # Initials such as "Goebel A." or "U.K." do not end a sentence.
    return len(token) == 1 or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", token))


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """Split text into sentences, never inside an abbreviation, initial or decimal number."""
    sentences: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if is_abbreviation(text, match.start()):
            continue
        end = match.end()
        piece = text[start:end].rstrip()
        if piece.strip():
            lead = len(text[start:end]) - len(text[start:end].lstrip())
            sentences.append(
                Sentence(piece.strip(), offset + start + lead, offset + start + len(piece))
            )
        start = end
    tail = text[start:]
    if tail.strip():
        lead = len(tail) - len(tail.lstrip())
        sentences.append(
            Sentence(tail.strip(), offset + start + lead, offset + start + len(tail.rstrip()))
        )
    return sentences


def split_passage(text: str) -> list[Sentence]:
    """Sentences of a multi-paragraph passage; a line break always ends one (headings)."""
    out: list[Sentence] = []
    for match in re.finditer(r"[^\n]+", text):
        out.extend(split_sentences(match.group(0), offset=match.start()))
    return out


def split_answer(text: str) -> list[str]:
    """Answer sentences, each keeping the [n] markers that follow its full stop."""
    text = markers_before_stop(text.strip())
    return [s.text for s in split_sentences(" ".join(text.split()))]


# A sentence end in streamed text: its closing punctuation and any markers written after it,
# once the next sentence has visibly started.
_STREAM_BOUNDARY = re.compile(r"[.!?][\"')\]]*(?:\s*\[\d{1,3}\])*(?=\s+[\"'(]?[A-Z0-9])")


def sentences_from_stream(fragments: Iterator[str]) -> Iterator[str]:
    """Complete sentences from streamed text, each with the [n] markers that close it.

    A sentence counts as complete once the next one has visibly started, so markers written
    after the full stop ("... mice. [1] The ...") stay with their sentence.
    """
    buffer = ""
    for fragment in fragments:
        buffer += fragment
        cut = 0
        for match in _STREAM_BOUNDARY.finditer(buffer):
            if not is_abbreviation(buffer, match.start()):
                cut = match.end()
        if cut:
            yield from split_answer(buffer[:cut])
            buffer = buffer[cut:]
    if buffer.strip():
        yield from split_answer(buffer)
