"""What a question asks for: its kind and its terms, so an answer can open with what answers it.

A reader asking "how many people have fibromyalgia?" wants a figure first; "is it
life-threatening?" wants a yes or a no in substance; "what is passive transfer?" wants a
definition. The extractive composer uses the kind to prefer sentences of the right shape, and the
terms to tell sentences that bear on the question from sentences that are merely nearby.

The rules work on the grammar of questions (their opening words and what they ask for), not on
the wording of any particular question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class QuestionKind(StrEnum):
    """The shape of answer a question asks for."""

    yes_no = "yes_no"
    quantity = "quantity"
    when = "when"
    who = "who"
    which = "which"
    definition = "definition"
    reason = "reason"
    process = "process"
    comparison = "comparison"
    listing = "listing"
    open = "open"


_AUX = (
    r"is|are|was|were|do|does|did|can|could|will|would|should|has|have|had|may|might|must|"
    r"isn't|aren't|doesn't|don't|didn't|can't|won't|wouldn't|shouldn't"
)
# Checked in order: the first that matches the question's asking clause wins.
_KIND_RULES: tuple[tuple[QuestionKind, re.Pattern[str]], ...] = (
    (
        QuestionKind.comparison,
        re.compile(
            r"\b(?:differ(?:ence|ences|ent|s)?|compare[sd]?|comparison|versus|vs\.?|better than|"
            r"worse than|same as|similar to|unlike|as opposed to|agree|disagree)\b"
        ),
    ),
    (
        QuestionKind.quantity,
        re.compile(
            r"\bhow (?:many|much|long|often|common|rare|likely|big|large|old|far|soon)\b|"
            r"\bwhat (?:percentage|percent|proportion|share|number|fraction|dose|age|size)\b|"
            r"\bwhat are the (?:chances|odds|numbers)\b"
        ),
    ),
    (
        QuestionKind.listing,
        re.compile(
            r"\b(?:list|name) (?:the|some|all)\b|\bwhat (?:kinds?|types?|sorts?) of\b|"
            r"\bwhat (?:are|were) (?:the |some |its )?(?:main |common |usual |other |key |typical |"
            r"different )?(?:symptoms|signs|treatments|options|criteria|risks|side effects|"
            r"findings|limits|limitations|steps|ways|reasons|causes|problems|features|therapies|"
            r"recommendations)\b"
        ),
    ),
    (
        QuestionKind.when,
        re.compile(r"^(?:when|what year|what date|since when)\b|\bwhen (?:was|did|were|is|will)\b"),
    ),
    (
        QuestionKind.who,
        re.compile(
            r"^(?:who|whose|whom)\b|\bwho (?:funded|led|wrote|ran|did|paid|made|is|was|were)\b"
        ),
    ),
    (
        QuestionKind.which,
        re.compile(
            r"^(?:which|where)\b|\bwhere (?:was|were|did|is|are|do|does)\b|"
            r"\bwhat (?:journal|country|countries|university|universities|institute|guideline|"
            r"drug|medicine|organisation|organization|hospital|trial|study)\b"
        ),
    ),
    (
        QuestionKind.definition,
        re.compile(
            r"\bwhat(?:'s| is| are| does| do) (?:\w+ ){0,4}(?:mean|means|stand for)\b|\bdefine\b|"
            r"\bwhat do you mean by\b|\bmeaning of\b|^what(?:'s| is| are) (?:a |an |the )?[\w-]+(?: [\w-]+)?$"
        ),
    ),
    (
        QuestionKind.reason,
        re.compile(
            r"^why\b|\bwhy (?:do|does|did|is|are|was|were|would|can|can't)\b|\bhow come\b|\bwhat (?:causes|caused)\b"
        ),
    ),
    (
        QuestionKind.process,
        re.compile(
            r"^how (?:does|do|did|is|are|was|were|can|could|would|should)\b|\bhow (?:does|do|did) (?:\w+ ){0,4}work\b"
        ),
    ),
    (
        QuestionKind.yes_no,
        re.compile(
            rf"^(?:{_AUX})\b|\b(?:is it true|is that true|is this true|does (?:this|that|it) mean)\b"
        ),
    ),
)

# Lead-ins before the asking clause ("ok so", "i read that ... but", "quick question:").
_LEAD_IN = re.compile(
    r"^(?:(?:hi|hello|hey|ok|okay|so|and|but|um|well|please|quick question|question|sorry)[,:!.]?\s+)+"
)

# Words that say what kind of answer a sentence gives.
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand|million|"
    r"half|third|quarter|most|majority|minority|few|several|percent|per cent)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b")
_DATE = re.compile(
    r"\b(?:1[89]|20)\d\d\b|\b(?:january|february|march|april|may|june|july|august|september|"
    r"october|november|december)\b",
    re.IGNORECASE,
)
_AGENT = re.compile(
    r"\b(?:[A-Z][a-z]+ [A-Z]{1,2}\b|Dr|Prof|Professor|funded|led|authors?|university|institute|"
    r"college|foundation|council|trust|team|researchers|group)\b"
)
_NAMED = re.compile(r"(?<=[a-z,] )[A-Z][\w'-]+")
_DEFINES = re.compile(
    r"\b(?:is|are|was|means|mean|refers? to|called|describes?|known as|is a|is an|defined)\b",
    re.IGNORECASE,
)
_EXPLAINS = re.compile(
    r"\b(?:because|so that|therefore|since|due to|reason|as a result|leads? to|causes?|caused|"
    r"explain|would|cleared|so\b)",
    re.IGNORECASE,
)
_CONTRASTS = re.compile(
    r"\b(?:while|whereas|but|than|unlike|compared|differs?|different|both|same|instead|however|"
    r"whereas|rather)\b",
    re.IGNORECASE,
)
_LISTS = re.compile(r",[^,]+,|\binclud(?:e|es|ing)\b|\bsuch as\b", re.IGNORECASE)
_DECIDES = re.compile(
    r"\b(?:not|no|never|cannot|can't|does|is|are|did|has|was|were|only|proven|shown|yet|none)\b",
    re.IGNORECASE,
)


# What a sentence that answers each kind of question contains.
_SHAPES: dict[QuestionKind, re.Pattern[str]] = {
    QuestionKind.quantity: _NUMBER,
    QuestionKind.when: _DATE,
    QuestionKind.who: _AGENT,
    QuestionKind.which: _NAMED,
    QuestionKind.definition: _DEFINES,
    QuestionKind.reason: _EXPLAINS,
    QuestionKind.comparison: _CONTRASTS,
    QuestionKind.listing: _LISTS,
    QuestionKind.yes_no: _DECIDES,
}


@dataclass(frozen=True)
class QuestionPlan:
    """A question's kind and the word it asks about ("which *journal*", "who *funded*")."""

    kind: QuestionKind
    focus: str | None = None


def asking_clause(question: str) -> str:
    """The clause that asks: the last one with a question mark, or the last one."""
    text = " ".join(question.lower().split())
    clauses = [c.strip() for c in re.split(r"(?<=[?.!])\s+|\s*[;]\s*", text) if c.strip()]
    asking = [c for c in clauses if c.endswith("?")] or clauses or [text]
    clause = asking[-1].rstrip("?!. ")
    # "I read that X, is it true?" keeps its asking part; "..., but does it work" likewise.
    parts = re.split(
        r",\s*(?=(?:but |and |so )?(?:" + _AUX + r"|what|how|why|who|when|where|which)\b)", clause
    )
    return _LEAD_IN.sub("", parts[-1].strip())


_PART_SPLIT = re.compile(
    rf"\?\s*|;\s*|(?:,\s*(?:and\s+)?|\s+and\s+)(?=(?:also\s+)?(?:who|what|how|where|when|why|which|{_AUX})\b)"
)


def question_parts(question: str) -> list[str]:
    """The separate things a question asks ("who did it and who paid for it?" -> two parts).

    Parts with fewer than two words of their own are folded into the whole question.
    """
    pieces = [p.strip() for p in _PART_SPLIT.split(" ".join(question.split())) if p.strip()]
    parts = [p for p in pieces if len(re.findall(r"[A-Za-z]{3,}", p)) >= 3]
    return parts if len(parts) > 1 else [question]


def question_kind(question: str) -> QuestionKind:
    """The kind of answer the question asks for (`open` when no rule recognises it)."""
    clause = asking_clause(question)
    for kind, rule in _KIND_RULES:
        if rule.search(clause):
            return kind
    return QuestionKind.open


_FOCUS = re.compile(
    rf"\b(?:who|which|what|whose)\s+(?!(?:{_AUX}|the|a|an|of|kind|kinds|type|types)\b)([a-z][a-z-]+)"
)


def plan_question(question: str) -> QuestionPlan:
    """Kind and focus word of a question."""
    kind = question_kind(question)
    focus = None
    if kind in (QuestionKind.who, QuestionKind.which):
        match = _FOCUS.search(asking_clause(question))
        if match:
            focus = match.group(1)[:5]
    return QuestionPlan(kind, focus)


def shape_fit(sentence: str, plan: QuestionPlan) -> float:
    """How well a sentence has the shape of an answer to the question, in [0, 1].

    "Which journal" and "who funded" ask about their focus word: an answer names it (a journal,
    the funders); without a focus word, any name or agent has the shape.
    """
    if plan.focus is not None:
        words = {w[:5] for w in re.findall(r"[a-z][a-z-]+", sentence.lower())}
        return 1.0 if plan.focus in words else 0.0
    pattern = _SHAPES.get(plan.kind)
    if pattern is None:
        return 0.5
    if plan.kind == QuestionKind.quantity:
        # A year names a study ("Seefried 2025"); it is not the amount asked for.
        sentence = _YEAR.sub("", sentence)
    if pattern.search(sentence):
        return 1.0
    # Any sentence may name the thing asked for without a capitalised name in it.
    return 0.3 if plan.kind == QuestionKind.which else 0.0
