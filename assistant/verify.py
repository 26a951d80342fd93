"""Citation verification: every sentence must be supported by the passages it cites.

Support is scored from lexical and embedding overlap (no NLI model is bundled: the service
runs offline). A sentence that states a number the cited passages do not contain is
never supported. Calibration of the threshold is recorded in docs/VERIFICATION.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.index.embedder import Embedder, get_embedder
from assistant.index.lexical import tokenize
from assistant.markers import cited_numbers, strip_markers
from assistant.sentences import split_passage

LEXICAL_WEIGHT = 0.5
NEGATION_PENALTY = 0.8

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
# Sentences that carry no factual claim of their own and may stand without a citation.
_NON_FACTUAL = re.compile(
    r"^(?:i (?:can(?:no|')t|am not able|'m not able) (?:advise|give|recommend|tell you what)|"
    r"(?:please )?(?:talk|speak) (?:to|with) your|(?:please )?ask your|i hope this helps|"
    r"(?:please )?(?:don't|do not) (?:stop|start|change)|your (?:doctor|clinician|prescriber|gp) can)",
    re.IGNORECASE,
)
# Words that turn an advisory-looking sentence back into a claim that needs a source.
_CLAIM_WORDS = re.compile(
    r"\b(?:cure[sd]?|proven|proves?|works?|effective|shows?|showed|found|causes?|caused|"
    r"safe|dangerous|helps? (?:most|all|many)|will)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|without|neither|nor|n't|cannot)\b|n't\b", re.IGNORECASE
)
_CLAUSE_SPLIT = re.compile(r",\s+(?:which|and|but|so|while|whereas|meaning)\s+|;\s+", re.IGNORECASE)


def numbers_in(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def lexical_support(sentence: str, passages: Sequence[str]) -> float:
    """Share of the sentence's content words that occur in the passages."""
    words = set(tokenize(sentence))
    if not words:
        return 1.0
    vocabulary: set[str] = set()
    for passage in passages:
        vocabulary.update(tokenize(passage))
    return len(words & vocabulary) / len(words)


def support_score(
    sentence: str, passages: Sequence[str], embedder: Embedder | None = None
) -> float:
    """How well the passages support the sentence, in [0, 1] (default: the bundled model)."""
    embedder = embedder or get_embedder()
    claim = strip_markers(sentence)
    if not passages or not claim.strip():
        return 0.0
    joined = " ".join(passages)
    if not numbers_in(claim) <= numbers_in(joined):
        return 0.0
    # Every clause must be supported: a true sentence cannot carry an unsupported rider
    # (", which proves the treatment works").
    clauses = [c for c in _CLAUSE_SPLIT.split(claim) if len(tokenize(c)) >= 3] or [claim]
    return min(_clause_support(c, passages, embedder) for c in dict.fromkeys([claim, *clauses]))


def _clause_support(claim: str, passages: Sequence[str], embedder: Embedder) -> float:
    lexical = lexical_support(claim, passages)
    semantic, closest = _closest_piece(claim, passages, embedder)
    score = LEXICAL_WEIGHT * lexical + (1 - LEXICAL_WEIGHT) * max(0.0, semantic)
    # Overlap scores cannot see a flipped claim; a negation on one side only is a warning sign.
    if bool(_NEGATION.search(claim)) != bool(_NEGATION.search(closest)):
        score *= NEGATION_PENALTY
    return score


def _closest_piece(sentence: str, passages: Sequence[str], embedder: Embedder) -> tuple[float, str]:
    pieces = [s.text for p in passages for s in split_passage(p)] or list(passages)
    if not pieces:
        return 0.0, ""
    vectors = embedder.encode_cached([sentence, *pieces])
    sims = vectors[1:] @ vectors[0]
    best = int(np.argmax(sims))
    return float(sims[best]), pieces[best]


def is_factual(sentence: str) -> bool:
    """False for connective, advisory or meta sentences that make no claim to cite."""
    claim = strip_markers(sentence)
    if _NON_FACTUAL.match(claim):
        return bool(numbers_in(claim)) or _CLAIM_WORDS.search(claim) is not None
    return len(tokenize(claim)) >= 3


@dataclass
class VerifiedSentence:
    """A sentence that passed, with the passage numbers it cites (1-based, into `passages`)."""

    text: str
    cites: list[int]
    support: float


def verify_sentence(
    sentence: str,
    passages: Sequence[str],
    threshold: float,
    embedder: Embedder | None = None,
) -> tuple[VerifiedSentence | None, str, int]:
    """Check one sentence; returns (kept sentence or None, reason, citations removed)."""
    cited = cited_numbers(sentence)
    valid = [n for n in dict.fromkeys(cited) if 1 <= n <= len(passages)]
    removed = len(cited) - len([n for n in cited if 1 <= n <= len(passages)])
    claim = strip_markers(sentence)
    if not valid:
        if is_factual(claim):
            return None, "no valid citation", removed
        return VerifiedSentence(claim, [], 1.0), "non-factual", removed
    score = support_score(claim, [passages[n - 1] for n in valid], embedder)
    if score < threshold:
        return None, f"unsupported (support {score:.2f})", removed
    return VerifiedSentence(claim, valid, score), "supported", removed
