"""Crisis layer (regex): suicidal thoughts, self-harm, overdose, someone else at risk.

High precision, written for families of phrasings; the semantic classifier carries recall.
Research-style questions ("is suicide risk higher in fibromyalgia?") do not fire: the patterns
need first-person or acute wording.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.models import Turn
from assistant.text.normalise import normalise
from assistant.text.vocab import MED_NAMES, PILLS, alt, c

_NOT_NEG = r"(?!(?:dont|do|not|never|didnt|wont|cant|wouldnt|no)\b)"
_FILL2 = rf"(?:{_NOT_NEG}\w+\s+){{0,2}}?"
_SUICID = r"s[ui]{1,3}[cs]{1,2}i?d(?:e|al|el|le|ial|es)?\b"  # suicide, sucidal, suiside, suicde
_END_TIME = r"(?:tonight|today|now|soon|tomorrow|this (?:week|weekend|time)|for good)"

_CRISIS_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Direct self-killing wording and slang.
    (
        "suicidal_ideation",
        c(
            r"\bkil+(?:ing|l|s)? ?my ?sel[fv]e?s?\b|\bkms\b|\bunaliv\w*|\bsewer ?slide\b|"
            r"\b(?:off|end|ending|top|topping) myself\b|"
            r"\b(?:end|ending|take|taking|took) my (?:own )?life\b|"
            r"\bput (?:myself|me) out of (?:my |this )?misery\b|"
            r"\bend(?:ing)? (?:it all|things all|everything)\b|"
            rf"\bend(?:ing)? (?:it|things|my suffering for good) {_END_TIME}\b|"
            r"\b(?:want|wanna|going|gonna|plan|planning|ready|need) (?:to )?(?:just )?end it\b"
            r"(?:\s*[.!?]|\s*$| all| now| tonight)|"
            r"\b(?:thinking (?:of|about)|think about|want(?:ing)? to|wanna|going to|gonna|plan(?:ning)? "
            r"(?:to|on)|ready to|decided to) end(?:ing)? (?:things|it|everything)\b(?! (?:with|between))|"
            r"\b(?:my )?plan (?:is|was) to (?:overdose|od|end (?:it|things|my life)|kill myself|die)\b|"
            r"\b(?:rather|sooner) (?:be dead|die)\b"
        ),
    ),
    (
        "suicidal_ideation",
        c(
            # "im suicidal", "i feel so suicidal", "pregabalin is making me suicidal"
            r"\b(?:im|i am|i feel|i felt|i get|i got|ive been|i have been|i been|been feeling|"
            r"been|feeling|i was|im getting|im feeling|i keep feeling|makes me|making me|"
            r"made me|turning me|leaves me|left me)\s+(?:(?:so|really|very|quite|pretty|a bit|"
            r"a little|kind of|kinda|more|getting|feeling|increasingly|extremely|super|all|"
            r"actively|passively|properly|seriously|fucking|feel|now|still|again)\s+)*"
            + _SUICID
            + r"|"
            # "ive been having suicidal thoughts", "i keep thinking about suicide"
            r"\b(?:i|ive|i have|im|i am|i keep|i cant stop|i been|been|keep|i still|i now|"
            r"i often|i sometimes|i constantly|i do)\s+(?:(?:been|started|starting|keep|always|"
            r"constantly|now|also|still|just|often|sometimes|recently|lately|seriously|really)\s+)*"
            r"(?:having|getting|thinking|had|get|have|think)\s+(?:about |of )?"
            r"(?:(?:some|a lot of|lots of|many|these|those|more|dark|bad|awful|constant|frequent|"
            r"real|serious|intrusive|passive|active)\s+)*"
            r"(?:" + _SUICID + r"|killing myself|ending (?:it|my life|things)|"
            r"taking my (?:own )?life|not being here|not waking up|dying)"
            r"|\bmy (?:" + _SUICID + r"|thoughts of (?:" + _SUICID + r"|dying|death))|"
            r"(?:^|[.!?,;]\s*)(?:been |still |now |currently |keep |constantly )?(?:having|getting|had)"
            r" (?:\w+ )?" + _SUICID + r"|\b" + _SUICID + r" (?:thoughts|feelings|urges|ideation) "
            r"(?:again|tonight|today|right now|are back|have come back|coming back|getting worse|"
            r"every (?:day|night))\b|"
            # "i want to commit suicide", "im going to kill myself" (kill myself already above)
            r"\b(?:i|im|ive)\s+" + _FILL2 + r"(?:want|wanna|going|gonna|plan|planning|intend|"
            r"thinking|thought|ready|about|might|will|may|could|decided|tempted|considering|"
            r"contemplating)\s+(?:to |about |of )?(?:just )?(?:commit |committing )?" + _SUICID
        ),
    ),
    (
        "wants_to_die",
        c(
            r"\b(?:i|im|part of me|sometimes i|honestly i)\s+"
            + _FILL2
            + r"(?:want|wanna|wanted|wish i could|would like|am ready|ready|long|need|hope)"
            r"\s+(?:(?:to|2)\s+)?(?:just\s+)?die\b|"
            r"\bwish(?:ing)? (?:i|id) (?:was|were|could be|had|would) (?:just )?(?:dead|never been born|"
            r"not alive|not here|gone|died|be dead)\b|"
            r"\bwish (?:i|id) (?:could )?(?:just )?(?:die|disappear|vanish|not exist|stop existing|"
            r"not wake up|didnt wake up|never woke up|wouldnt wake up|never wake up|fall asleep forever)\b|"
            r"\b(?:hope|pray|praying) (?:that )?i (?:die|dont wake up|never wake up|wont wake up|"
            r"do not wake up)\b|"
            r"\b(?:i|im)\s+"
            + _FILL2
            + r"(?:dont|do not|no longer|really dont|just dont|dont really)"
            r"\s+(?:want|wanna|wish)\s+(?:to\s+)?(?:live|be alive|exist|go on|carry on|be here any ?more|"
            r"be here any longer|be around any ?more|keep living|stay alive)\b(?! (?:with|in|on|near)\b)|"
            r"\b(?:dont|do not|never)\s+(?:want|wanna|wish)\s+(?:to\s+)?wake up\b"
            r"(?! (?:refreshed|rested|tired|feeling|in pain|stiff|early|at|with|so|like|sore|achy|"
            r"exhausted|to\b))|"
            r"\b(?:sleep|go to sleep|fall asleep|close my eyes) and (?:never|not) (?:wake|open)\b|"
            r"\b(?:makes?|making|made) me (?:\w+ )?(?:want|wanna) (?:to |2 )?(?:just )?die\b|"
            r"\b(?:sick|tired) of (?:being alive|life\b|living\b(?! (?:with|in|on|through)\b))|"
            r"(?:^|[.!?,;]\s*)(?:just |really |honestly |literally |sometimes )*(?:want|wanna) "
            r"(?:to |2 )?(?:just )?die\b|"
            r"\b(?:i|i just|i really)\s+(?:want|wanna)\s+(?:to\s+)?(?:disappear|stop existing|not exist|"
            r"sleep forever|fall asleep forever|go to sleep forever|be gone)\b"
        ),
    ),
    (
        "hopelessness",
        c(
            r"\b(?:no|whats the|what is the|dont see the|dont see any|cant see the|cant see any|"
            r"see no|theres no|there is no|is there any|not any)\s+point (?:in |of |to )?"
            r"(?:(?:going on|carrying on|keep going|keeping going)(?! (?:the|a|an|with|about|holiday|"
            r"to|at|in)\b)|living|being alive|being here|existing|life\b|(?:it |anything )?any ?more\b|"
            r"anything any ?more|staying alive|waking up)|"
            r"\b(?:i|im)\s+(?:just\s+|really\s+|honestly\s+)?(?:cant|cannot|can not|dont think i can)\s+"
            r"(?:go on|carry on|do this any ?more|keep doing this|keep going like this)\b|"
            r"\b(?:nothing|no reason) (?:left )?to live for\b|\blife (?:is not|isnt|aint) worth living\b|"
            r"\bno reason to (?:keep living|live|go on|carry on|stay alive|be alive|keep going)\b|"
            r"\b(?:nothing|no one|nobody) left for me\b(?! to (?:try|do|take))|"
            r"\bgiv(?:e|ing) up on (?:life|living)\b|"
            r"\bbetter off (?:without me|dead|gone|if i (?:was|were|wasnt|werent|died|wasnt here|"
            r"was gone|were gone|was dead|were dead|was not here|didnt exist)|if im (?:gone|dead|not here|"
            r"not around))\b|"
            r"\b(?:be|been|are|is) better (?:off )?without me\b|"
            r"\b(?:wrote|written|writing|write|left) (?:a |my )?(?:suicide|goodbye) (?:note|letter)s?\b|"
            r"\bthis is (?:my )?goodbye\b|\bsaying goodbye to (?:everyone|you all|my family)\b"
        ),
    ),
    (
        # Indirect wording that crisis services treat as warning signs; a false alarm costs a
        # kind reply with help lines, a miss costs far more.
        "hopelessness",
        c(
            r"\b(?:im|i am|i feel like|i feel|i am just|im just|feel like)\s+(?:(?:such|so|only|just|"
            r"a|nothing but)\s+)*(?:a )?burden(?: to| on|$|[.!,])|"
            r"\b(?:want|wanna|need) (?:it all|everything|all of it|this all|the pain and everything) "
            r"to (?:stop|end|be over)\b(?! hurting)|"
            r"\bno point (?:in )?(?:trying|fighting|carrying on) (?:any ?more|at all)\b|"
            r"\b(?:most )?(?:painless|easiest|quickest|fastest|surest|best|least painful|peaceful) "
            r"(?:way|method|ways|methods) (?:to|of) (?:die|dying|kill (?:myself|yourself)|end (?:it|my life))\b|"
            r"\b(?:thoughts?|thinking|urges?) (?:about|of) (?:hurting|harming|killing|cutting) myself\b"
        ),
    ),
    (
        # Someone else in danger: the same help lines are the right first reply.
        "third_party_crisis",
        c(
            r"\b(?:my|our) (?:mum|mom|mother|dad|father|husband|wife|partner|son|daughter|friend|"
            r"boyfriend|girlfriend|child|sister|brother)\b.{0,40}\b(?:wants? to die|suicidal|"
            r"(?:wants? to|going to|gonna|threaten\w*|talking about) (?:kill|end) (?:him|her|them)sel\w+|"
            r"overdosed|took (?:an )?overdose|took too many)\b"
        ),
    ),
    (
        "self_harm",
        c(
            r"\b(?:i|im|ive)\s+(?:(?:have|been|keep|started|start|am|still|sometimes|often|"
            r"again)\s+)*self[- ]?harm\w*|"
            r"\bmy self[- ]?harm\w*|"
            r"(?<!\bnot )(?<!\bnever )(?<!\bdont )\b(?:urge|urges|want|wanna|thinking about|tempted|"
            r"going|gonna|feel like)\s+(?:to\s+)?(?:self[- ]?harm\w*|(?:hurt|harm|cut|burn)(?:ing)? "
            r"myself)\b|"
            r"\b(?:cut|cutting|burn|burning|hurt|hurting|harm|harming|hit|hitting|scratch|scratching|"
            r"punch|punching)\s+myself\s+(?:to cope|on purpose|deliberately|intentionally|again)\b|"
            r"\b(?:cutting|harming|burning) myself\b|\bcut myself (?:again|on purpose|deliberately)\b|"
            r"\b(?:hang|hanging|drown|drowning|shoot|shooting|poison|poisoning|suffocate|suffocating|"
            r"stab|stabbing|starve|starving) myself\b|\bslit(?:ting)? my wrists?\b|"
            r"\b(?:jump|jumping) (?:off|from) (?:a |the )?(?:bridge|building|roof|cliff|balcony|"
            r"car park|tower|window)\b|\bthrow(?:ing)? myself (?:off|in front of|under)\b|"
            r"\bstep(?:ping)? in front of (?:a |the )?(?:train|bus|car|lorry|truck)\b"
        ),
    ),
    (
        "overdose",
        c(
            r"\b(?:i|ive|i have|i just|just|already|i already|ive just)\s+(?:\w+\s+){0,2}?"
            r"(?:overdosed|odd|oded|od|overdosing|taken an overdose|took an overdose)\b|"
            r"\b(?:took|taken|taking|had) an? (?:overdose|od)\b|"
            r"\b(?:want|wanna|going|gonna|plan|planning|thinking (?:about|of)|thought about|tempted|"
            r"about|trying|try|tried|decided|ready)\s+(?:to\s+)?(?:overdos\w*|od)\b|"
            r"\boverdos\w* on (?:my|all)\b|"
            r"\b(?:take|taking|took|taken|swallow\w*|down|downed|neck|necked)\s+"
            r"(?:all|every one|everything|the (?:whole|rest)) (?:of )?(?:my |the |these |those )?"
            r"(?:\w+\s+)?" + alt(PILLS, MED_NAMES) + r"|"
            r"\b(?:took|taken|swallowed|downed|necked|have taken|ive taken|i took)\s+"
            r"(?:way )?(?:too many|too much|a (?:whole|full) (?:bottle|packet|pack|box|strip|load)|"
            r"a handful|handfuls|loads|a load|a bunch|\d{2,} (?:of )?(?:my )?"
            + alt(PILLS, MED_NAMES)
            + r"|(?:twenty|thirty|forty|fifty|a hundred) (?:of )?(?:my )?"
            + alt(PILLS, MED_NAMES)
            + r")|"
            r"\bif i (?:take|took|swallow|swallowed) (?:all|too many|too much|the whole)\b|"
            r"\b(?:sav(?:ed|ing|e)|stockpil\w*|hoard\w*|stash\w*|collect(?:ed|ing)|built up|"
            r"building up|stored up|been keeping)\s+(?:up\s+)?(?:all\s+|some\s+)?(?:of\s+)?"
            r"(?:my\s+|a lot of\s+|lots of\s+|enough\s+|these\s+|the\s+|up\s+)?"
            + alt(PILLS, MED_NAMES)
            + r"|"
            r"\benough\s+(?:\w+\s+)?" + alt(PILLS, MED_NAMES) + r"\s+(?:saved\s+)?"
            r"(?:to (?:end|kill|die|do it|not wake|overdose|od|finish|never wake))|"
            r"\b(?:lethal|fatal|deadly) (?:dose|amount|overdose)\b|"
            r"\bhow (?:many|much)\b[^.?!]{0,40}\b(?:to|would|will|could|does it take to)\s+"
            r"(?:die|kill (?:me|myself|you|a person|someone)|be fatal|be lethal|overdose|od|"
            r"not wake up|never wake up)\b"
        ),
    ),
)

# Follow-up replies that keep a crisis open ("yes", "tonight", "i have the pills").
SAFETY_ASSERTION_RE = c(
    r"\b(?:im|i am|i feel|im feeling)\s+(?:(?:safe|ok|okay|fine|alright|better)\b)|"
    r"\bi (?:wont|will not|would never|am not going to|m not going to|m not gonna|am not gonna)"
    r"\s+(?:do|hurt|harm|kill|act)\b|\bnot (?:suicidal|going to do it|gonna do it)\b|"
    r"\bi dont want to die\b|\bi (?:didnt|did not) mean it\b|\bfalse alarm\b"
)
# In a longer follow-up, words of plan, means, time or isolation keep the crisis route; a short
# reply ("yes", "tonight", "no") keeps it anyway.
FOLLOWUP_RE = c(
    r"\b(?:tonight|today|right now|soon|tomorrow|this weekend|plan|planned|planning|ready|"
    r"decided|pills?|tablets?|meds|rope|bridge|goodbye|do it|done it|already taken|no one|"
    r"nobody|alone|not safe|still want|going to|gonna)\b"
)


def crisis_reason(norm: str) -> str | None:
    for reason, pattern in _CRISIS_PATTERNS:
        if pattern.search(norm):
            return reason
    return None


def turn_parts(turn: Any) -> tuple[str, str]:
    if isinstance(turn, Turn):
        return turn.role, turn.content
    if isinstance(turn, Mapping):
        return str(turn.get("role", "")), str(turn.get("content", ""))
    return str(getattr(turn, "role", "")), str(getattr(turn, "content", ""))


def history_crisis(norm: str, history: Sequence[Any]) -> bool:
    """A crisis statement in one of the last two user turns, answered by a short or plan-like
    follow-up that does not assert safety, keeps the conversation on the crisis route."""
    if not history:
        return False
    user_turns = [content for role, content in map(turn_parts, history) if role == "user"]
    if not any(crisis_reason(normalise(c)) for c in user_turns[-2:]):
        return False
    if SAFETY_ASSERTION_RE.search(norm):
        return False
    return len(norm.split()) <= 8 or bool(FOLLOWUP_RE.search(norm))
