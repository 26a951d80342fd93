"""Hedges added by code from what the answer says, never left to the model.

- An answer sentence that reports an animal finding adds a plain statement that the finding
  comes from mice and has not been shown in people. Which sentences report animal findings is
  read from the corpus's fact marks (`evidence` per sentence), not from the document: a review
  tagged `animal` brings no mouse caveat to an answer about prevalence.
- A sentence cited only to a press release is attributed to it in the text.
- Citing a press release adds a note that releases can state findings more strongly than papers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.index.lexical import tokenize
from assistant.index.store import StoredChunk
from assistant.sentences import split_passage

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


_ANIMAL_WORDS = re.compile(
    r"\b(?:mice|mouse|murine|rats?|rodents?|animals?|in vivo)\b", re.IGNORECASE
)


def sentence_evidence(sentence: str, chunk: StoredChunk) -> str:
    """What kind of finding `sentence`, supported by `chunk`, reports: animal, human or none.

    The chunk sentence it rests on is the one it quotes, or else the one sharing most of its
    words (an LLM's paraphrase); that sentence's mark decides. Sources without marks fall back
    to their document tag (a `mixed` document: whether the sentence speaks of animals).
    """
    source = supporting_span(sentence, chunk)
    mark = chunk.mark_at(*source) if source else None
    if mark is not None and mark.evidence is not None:
        return mark.evidence
    if chunk.evidence == "mixed":
        return "animal" if _ANIMAL_WORDS.search(sentence) else "human"
    return chunk.evidence


def supporting_span(sentence: str, chunk: StoredChunk) -> tuple[int, int] | None:
    """The [start, end) offsets in `chunk.text` of the sentence `sentence` rests on."""
    at = chunk.text.find(sentence.rstrip(".!? "))
    if at >= 0:
        return at, at + len(sentence.rstrip(".!? "))
    words = set(tokenize(sentence))
    best, best_overlap = None, 0.0
    for piece in split_passage(chunk.text):
        overlap = len(words & set(tokenize(piece.text))) / (len(words) or 1)
        if overlap > best_overlap:
            best, best_overlap = (piece.start, piece.end), overlap
    return best if best_overlap >= 0.5 else None


def hedges_for(statements: Sequence[tuple[str, Sequence[StoredChunk]]]) -> list[str]:
    """The hedge statements an answer must carry, given each sentence and the chunks it cites."""
    hedges = []
    if any(
        sentence_evidence(text, chunk) == "animal"
        for text, chunks in statements
        for chunk in chunks
    ):
        hedges.append(ANIMAL_HEDGE)
    if any(c.source_type == "press_release" for _, chunks in statements for c in chunks):
        hedges.append(PRESS_RELEASE_HEDGE)
    return hedges
