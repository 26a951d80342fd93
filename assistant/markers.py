"""Citation markers: the `[n]` after a claim that numbers the passage it rests on.

The one owner of the marker syntax. Composers write markers, the verifier reads them, and the
pipeline renumbers them; all go through these functions so the syntax has one definition.
(The evals read markers with their own parser on purpose: an instrument must not share the
code it grades.)
"""

from __future__ import annotations

import re

MARKER = re.compile(r"\s*\[(\d{1,3})\]")
# A run of markers written after the full stop ("... mice. [1][2]").
_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d{1,3}\])+)")
# The sentence's closing punctuation, with any closing quotes or brackets after it.
_CLOSING = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")


def cited_numbers(text: str) -> list[int]:
    """The passage numbers a sentence cites, in order (repeats kept)."""
    return [int(m) for m in MARKER.findall(text)]


def strip_markers(text: str) -> str:
    """The sentence without its markers."""
    return MARKER.sub("", text).strip()


def markers_before_stop(text: str) -> str:
    """Move markers written after a full stop before it, so a split keeps them with their sentence."""
    return _AFTER_STOP.sub(r"\2\1", text)


def ends_sentence(text: str) -> bool:
    """True when the text ends with closing punctuation (a heading does not)."""
    return _CLOSING.search(text.strip()) is not None


def with_markers(text: str, numbers: list[int]) -> str:
    """The sentence with `[n]` markers before its closing punctuation: "... unaffected [2]."

    Placed before a closing quote as well, so the citation reads as part of the sentence.
    """
    markers = "".join(f"[{n}]" for n in numbers)
    if not markers:
        return text
    match = _CLOSING.search(text)
    if match is None:
        return f"{text} {markers}"
    return f"{text[: match.start()]} {markers}{text[match.start() :]}"
