"""The triage walk: every layer has its say, and the most severe route wins.

Order of severity: crisis, emergency, then (after cutting injected instructions) the advice
boundary, the scope statement, and an ordinary answer. Recall comes first: a message goes to
crisis or emergency if *any* layer says so — the regexes (high precision), the semantic
classifier (reach beyond the phrasings the regexes know) or the conversation (a short "yes,
tonight" after a crisis turn stays a crisis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from assistant.injection import strip_injection
from assistant.models import Route, Turn
from assistant.text.normalise import looks_spanish, normalise
from assistant.triage.advice import advice_reason, care_note
from assistant.triage.classifier import Prediction, SafetyClassifier, Thresholds
from assistant.triage.crisis import (
    FOLLOWUP_RE,
    SAFETY_ASSERTION_RE,
    crisis_reason,
    history_crisis,
    turn_parts,
)
from assistant.triage.emergency import emergency_reason, poisoning_reason, red_flag
from assistant.triage.scope import in_scope, scope_reason

FIXED_ROUTES = frozenset({Route.crisis, Route.emergency, Route.out_of_scope})

# How many earlier user turns the conversation layer reads.
CONTEXT_TURNS = 2
# A reply this short after a crisis turn ("yes", "tonight", "i have them here") stays a crisis.
SHORT_FOLLOWUP_WORDS = 12
# After a turn the classifier only leaned towards crisis, only a reply this short does.
VERY_SHORT_FOLLOWUP_WORDS = 4
# Classifier crisis probability at which an earlier turn counts as a clear crisis.
STRONG_PRIOR_CRISIS = 0.5


@dataclass(frozen=True)
class TriageResult:
    route: Route
    reason: str
    injection: bool
    cleaned_question: str
    # A first-person mention of a red-flag symptom that did not read as an emergency now
    # ("I get chest pain, is it fibro?"): answered, but with an emergency note first.
    red_flag: bool = False
    # The person is weighing a decision about their own tests, diagnosis or treatment, or asks
    # whether a treatment could help: answered, and closed with a word about their clinician.
    care_note: bool = False
    # Distress below the crisis threshold: an answer gets a supportive note with help lines,
    # and a question the sources cannot answer gets the crisis reply rather than "no evidence".
    distress: bool = False
    # Written in Spanish: fixed safety replies add the same help in Spanish.
    spanish: bool = False

    @property
    def fixed(self) -> bool:
        """Answered with a fixed reply, without retrieval or a model."""
        return self.route in FIXED_ROUTES


def triage(
    question: str,
    history: Sequence[Turn] = (),
    classifier: SafetyClassifier | None = None,
) -> TriageResult:
    """Decide the route for `question`, reading the last user turns of `history` too.

    Without a classifier only the regex layers run (as in tools that must not load a model);
    the service always passes one.
    """
    result = _walk(question, history, classifier)
    if result.route in (Route.crisis, Route.emergency) and looks_spanish(question):
        return replace(result, spanish=True)
    return result


def _walk(
    question: str, history: Sequence[Turn], classifier: SafetyClassifier | None
) -> TriageResult:
    question = question or ""
    norm = normalise(question)
    prior = _prior_user_turns(history)
    thresholds = classifier.thresholds if classifier else Thresholds()
    pred, prior_preds = _predict(classifier, question, prior)

    # 1. Crisis: regexes, classifier, conversation.
    reason = crisis_reason(norm)
    if reason:
        return TriageResult(Route.crisis, f"crisis:{reason}", False, question)
    if pred is not None and pred.crisis >= thresholds.crisis:
        return TriageResult(Route.crisis, _classifier_crisis_reason(pred), False, question)
    if (
        history_crisis(norm, history)
        or _conversation_crisis(norm, pred, prior, prior_preds, thresholds)
    ) and not takes_up_care(norm, pred, thresholds):
        return TriageResult(Route.crisis, "crisis:history", False, question)

    # 2. Emergency (poisoning included).
    reason = emergency_reason(norm) or poisoning_reason(norm)
    if reason:
        return TriageResult(Route.emergency, reason, False, question)
    if pred is not None and pred.emergency >= thresholds.emergency:
        kind = "poisoning" if pred["poisoning"] > pred["emergency"] else "classifier"
        return TriageResult(Route.emergency, f"emergency:{kind}", False, question)

    distress = pred is not None and pred.crisis >= thresholds.distress

    # 3. Instructions aimed at the assistant are cut out; a request that is only that is refused.
    kinds, cleaned = strip_injection(question)
    injection = bool(kinds) or (pred is not None and pred["injection"] >= thresholds.injection)
    injection_reason = f"injection:{kinds[0]}" if kinds else "injection:classifier"
    cleaned_norm = normalise(cleaned) if kinds else norm
    if injection and (not cleaned or not in_scope(cleaned_norm)):
        return TriageResult(Route.out_of_scope, injection_reason, True, cleaned)
    if not injection:
        injection_reason = ""

    # 4. Personal medication and treatment decisions.
    advice = advice_reason(cleaned_norm) or (advice_reason(norm) if kinds else None)
    if not advice and pred is not None and pred["advice"] >= thresholds.advice:
        advice = "advice:classifier"
    if advice:
        return TriageResult(
            Route.advice_boundary, advice, injection, cleaned, red_flag(norm), False, distress
        )

    # 5. Unrelated requests.
    scope = scope_reason(cleaned_norm)
    if not scope and pred is not None and pred["out_of_scope"] >= thresholds.out_of_scope:
        scope = "scope:classifier"
    if scope:
        return TriageResult(Route.out_of_scope, scope, injection, cleaned)

    return TriageResult(
        Route.answer,
        injection_reason or "answer",
        injection,
        cleaned,
        red_flag(norm),
        care_note(cleaned_norm),
        distress,
    )


def takes_up_care(norm: str, pred: Prediction | None, thresholds: Thresholds) -> bool:
    """Whether a follow-up after a crisis turn turns to fibromyalgia care: more than a few
    words in the vocabulary of pain, symptoms, treatment or research, which the classifier reads
    below the distress line and below the emergency threshold.

    Such a message leaves the crisis route for an answer or the advice redirect. A change of
    subject to anything else (errands, affairs, a pharmacy's opening hours) keeps the crisis
    route, as does a short reply or anything the classifier reads as distress. Calibrated on the
    conversation set (evals/triage/conversations.jsonl; docs/SAFETY.md): without it, a fifth of
    the ordinary follow-ups there got the crisis reply.
    """
    if len(norm.split()) <= VERY_SHORT_FOLLOWUP_WORDS or not in_scope(norm):
        return False
    if pred is None:  # without the classifier, nothing reads the follow-up's own distress
        return False
    return pred.crisis < thresholds.distress and pred.emergency < thresholds.emergency


def _prior_user_turns(history: Sequence[Turn]) -> list[str]:
    users = [content for role, content in map(turn_parts, history) if role == "user"]
    return [u for u in users[-CONTEXT_TURNS:] if u.strip()]


def _predict(
    classifier: SafetyClassifier | None, question: str, prior: list[str]
) -> tuple[Prediction | None, list[Prediction]]:
    if classifier is None or not question.strip():
        return None, []
    # One batch: earlier turns are usually in the embedder's cache already.
    preds = classifier.predict([question, *prior])
    return preds[0], preds[1:]


def _classifier_crisis_reason(pred: Prediction) -> str:
    if pred["crisis_other"] > pred["crisis_self"]:
        return "crisis:classifier:third_party_crisis"
    return "crisis:classifier"


def _conversation_crisis(
    norm: str,
    pred: Prediction | None,
    prior: list[str],
    prior_preds: list[Prediction],
    thresholds: Thresholds,
) -> bool:
    """An earlier user turn was a crisis (by any layer) and the new message does not say the
    person is safe: words of plan, time or means, any crisis-leaning probability, or a reply
    too short to change the subject keep the crisis route.

    How short depends on how sure the earlier turn was: after a clear crisis ("I want to die")
    any reply of up to twelve words stays there; after one the classifier only leaned towards,
    a reply of a few words ("yes", "tonight") does, and a new question does not.
    """
    if not prior_preds or SAFETY_ASSERTION_RE.search(norm):
        return False
    strong = weak = False
    for text, p in zip(prior, prior_preds, strict=True):
        if crisis_reason(normalise(text)) or p.crisis >= STRONG_PRIOR_CRISIS:
            strong = True
        elif p.crisis >= thresholds.crisis:
            weak = True
    if not (strong or weak):
        return False
    words = len(norm.split())
    return (
        words <= (SHORT_FOLLOWUP_WORDS if strong else VERY_SHORT_FOLLOWUP_WORDS)
        or bool(FOLLOWUP_RE.search(norm))
        or (pred is not None and pred.crisis >= thresholds.crisis_followup)
    )
