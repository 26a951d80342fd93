"""Hedges added by code from source metadata, never left to the model.

- Any cited passage with `evidence: animal` adds a plain statement that the finding comes from
  mice and has not been shown in people.
- A sentence cited only to a press release is attributed to it in the text.
- Citing a press release adds a note that releases can state findings more strongly than papers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.index.store import StoredChunk

ANIMAL_HEDGE = (
    "Please note: the findings about antibodies causing symptoms come from experiments in mice. "
    "They have not been shown to work the same way in people, and no treatment based on them "
    "has been proven in patients."
)
PRESS_RELEASE_HEDGE = (
    "Some of this comes from a university press release, which states the results more strongly "
    "than the published paper; the paper itself says antibody-lowering treatments may be effective "
    "and still have to be tested in people."
)
_LOWER_FIRST = {
    "the", "this", "these", "that", "those", "such", "it", "its", "in", "current", "mice",
    "patients", "fibromyalgia", "furthermore", "however", "many", "most", "some", "researchers",
    "a", "an", "antibodies", "their", "our", "we",
}  # fmt: skip


def attribute_to_press_release(sentence: str) -> str:
    """'X happened.' -> 'According to the press release, x happened.'"""
    if re.match(r"^according to the (?:king's college london )?press release", sentence, re.I):
        return sentence
    first, _, rest = sentence.partition(" ")
    # "We" and "our" in a release are its authors speaking.
    if first.lower() in {"we", "our"}:
        return f"The press release states: \u201c{sentence}\u201d"
    if first.lower() in _LOWER_FIRST:
        first = first.lower()
    return f"According to the press release, {first} {rest}".rstrip()


def hedges_for(cited: Sequence[StoredChunk]) -> list[str]:
    """The hedge statements an answer citing these chunks must carry."""
    hedges = []
    if any(c.evidence == "animal" for c in cited):
        hedges.append(ANIMAL_HEDGE)
    if any(c.source_type == "press_release" for c in cited):
        hedges.append(PRESS_RELEASE_HEDGE)
    return hedges
