"""Safety triage: decide, before any retrieval or model call, what kind of reply a message gets.

Layers, each a module of this package:

- ``normalise``: one normal form for every layer (case, quotes, apostrophes, patient spellings);
- ``crisis``, ``emergency``, ``advice``, ``scope``, ``injection``: regex layers, high precision,
  written for families of phrasings (and ``injection`` also cuts injected instructions out);
- ``classifier``: a semantic classifier trained on our own labelled utterances
  (``utterances/*.jsonl``), which reaches the phrasings the regexes do not know;
- ``decide``: the walk, in which any layer can send a message to crisis or emergency;
- ``model_check``: an optional LLM check that may raise a route's severity, never lower it.
"""

from assistant.triage.advice import care_note
from assistant.triage.classifier import Prediction, SafetyClassifier, Thresholds, get_classifier
from assistant.triage.decide import TriageResult, triage
from assistant.triage.emergency import red_flag
from assistant.triage.injection import looks_like_injection, strip_instructions
from assistant.triage.normalise import normalise

__all__ = [
    "Prediction",
    "SafetyClassifier",
    "Thresholds",
    "TriageResult",
    "care_note",
    "get_classifier",
    "looks_like_injection",
    "normalise",
    "red_flag",
    "strip_instructions",
    "triage",
]
