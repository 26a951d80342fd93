"""How the evals read an answer's text: its sentences and their ``[n]`` citation markers.

The product owns the marker syntax (``assistant.markers``) and its own sentence splitter
(``assistant.sentences``). The evals deliberately keep a parser of their own for *answers*: the
metrics grade the text the pipeline produced, and an instrument that splits and reads markers with
the very code that wrote them would agree with the pipeline's mistakes (a marker the composer
misplaces would be misread the same way by both). So nothing here imports the product's marker
or sentence code, and this module is the one owner of that parsing inside evals: metrics.py and
statements.py import it, nothing else in evals has a marker regex.

Where evals only need the product's reading of *source* text (the sentences of a stored chunk in
``statements.source_marks``), they use ``assistant.sentences.split_passage``: there the point is
to split exactly as the index did, not to be independent.
"""

from __future__ import annotations

import re

# One citation marker, "[12]". Every other marker pattern below is built from this one.
_MARKER = r"\[(\d{1,3})\]"
MARKER_RE = re.compile(_MARKER)
# A run of markers that opens a piece of text: "[1] [2] Next sentence".
_MARKER_RUN_RE = re.compile(rf"^(?:\s*{_MARKER})+")

_ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "et al.",
    "etc.",
    "vs.",
    "approx.",
    "ca.",
    "cf.",
    "fig.",
    "no.",
    "dr.",
    "prof.",
    "mr.",
    "mrs.",
    "ms.",
    "st.",
    "inc.",
    "ltd.",
    "j.",
    "vol.",
)
# A sentence ends at . ! or ?, or at one followed by a closing quote or bracket.
_SPLIT_RE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+|\n+")
_BULLET_RE = re.compile(r"^(?:[-*\u2022]|\d+[.)])\s+")


def _ends_with_abbreviation(text: str) -> bool:
    low = text.lower()
    if any(low.endswith(" " + a) or low == a for a in _ABBREVIATIONS):
        return True
    # Initials such as "Goebel A." or "C.I." are not sentence ends.
    return bool(re.search(r"(?:^|\s)[A-Z]\.$", text))


def split_sentences(text: str) -> list[str]:
    """Split answer text into sentences, keeping each sentence's citation markers with it.

    Handles markers before the period ("unaffected [1][2].") and after it ("unaffected. [1]"),
    line breaks and bullet lists, and common abbreviations ("et al.", "e.g.").
    """
    pieces = [p.strip() for p in _SPLIT_RE.split(text or "") if p and p.strip()]
    sentences: list[str] = []
    for piece in pieces:
        # Markers that open a piece belong to the previous sentence ("... end. [1] Next").
        m = _MARKER_RUN_RE.match(piece)
        if m and sentences:
            sentences[-1] = f"{sentences[-1]} {m.group(0).strip()}"
            piece = piece[m.end() :].strip()
            if not piece:
                continue
        piece = _BULLET_RE.sub("", piece)  # bullets, numbered lists
        if sentences and _ends_with_abbreviation(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return [s for s in sentences if strip_markers(s)]


def citation_numbers(sentence: str) -> list[int]:
    """Distinct citation numbers in a sentence, in order of appearance."""
    seen: list[int] = []
    for m in MARKER_RE.finditer(sentence):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


def strip_markers(sentence: str) -> str:
    """Sentence text without ``[n]`` markers (what the verifier judges)."""
    text = MARKER_RE.sub("", sentence)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def normalize(text: str) -> str:
    """Whitespace- and quote-insensitive form used for 'quote is in the chunk' checks."""
    text = (text or "").replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip().lower()
