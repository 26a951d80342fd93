"""Sentence splitting with character offsets, tuned for scientific and medical prose."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = re.search(r"([A-Za-z][A-Za-z.]*)$", text[:dot])
    if not word:
        return False
    token = word.group(1).lower().rstrip(".")
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
