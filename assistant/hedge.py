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
# Discourse openers that make no sense after "According to the press release,".
_OPENERS = re.compile(
    r"^(?:furthermore|moreover|in addition|additionally|also|however|in contrast|indeed|"
    r"importantly|overall|finally|first|second|third)\s*,?\s+",
    re.IGNORECASE,
)


_TITLES = {"Dr", "Prof", "Professor", "Mr", "Mrs", "Ms", "Sir", "Dame", "Lord", "Lady"}


def _keeps_capital(word: str, context: str) -> bool:
    """Proper nouns and acronyms keep their capital: 'IoPPN', 'Professor', 'King's'."""
    if not word[:1].isupper() or any(ch.isupper() for ch in word[1:]):
        return True
    if word.rstrip(".") in _TITLES:
        return True
    # A word that appears capitalised mid-sentence in its source is a name.
    return re.search(rf"[a-z,;] {re.escape(word)}\b", context) is not None


def attribute_to_press_release(sentence: str, context: str = "") -> str:
    """'X happened.' -> 'According to the press release, x happened.'"""
    if re.match(r"^according to the (?:king's college london )?press release", sentence, re.I):
        return sentence
    sentence = _OPENERS.sub("", sentence)
    first, _, rest = sentence.partition(" ")
    # "We" and "our" in a release are its authors speaking: quote them instead.
    if first.lower() in {"we", "our", "i", "my"}:
        return f"The press release quotes: \u201c{sentence}\u201d"
    if not _keeps_capital(first, context):
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
