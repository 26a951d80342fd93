"""Safety triage: decide, before any retrieval or model call, what kind of reply a message gets.

Layers, each a module of this package (the text's normal form is `assistant.text.normalise`;
instructions aimed at the assistant are found by `assistant.injection`, which the composer uses
on passages too):

- ``crisis``, ``emergency``, ``advice``, ``scope``: regex layers, high precision, written for
  families of phrasings;
- ``classifier``: a semantic classifier trained on our own labelled utterances
  (``utterances/*.jsonl``), which reaches the phrasings the regexes do not know;
- ``decide``: the walk, in which any layer can send a message to crisis or emergency;
- ``model_check``: an optional LLM check that may raise a route's severity, never lower it.
"""

from assistant.triage.advice import care_note
from assistant.triage.classifier import Prediction, SafetyClassifier, Thresholds, get_classifier
from assistant.triage.decide import TriageResult, triage
from assistant.triage.emergency import red_flag

__all__ = [
    "Prediction",
    "SafetyClassifier",
    "Thresholds",
    "TriageResult",
    "care_note",
    "get_classifier",
    "red_flag",
    "triage",
]
