"""Safety triage: decide, before any retrieval or model call, what kind of reply a question gets.

Pure, deterministic and standard-library only (plus the pydantic models). Every pattern is compiled
at import; a question is triaged in well under a millisecond.

Priority (first match wins):

1. ``crisis``: suicidal thoughts, self-harm, wanting to die, overdose (also a crisis statement in
   the last user turns followed by a short reply such as "yes" or "tonight").
2. ``emergency``: cardiac, stroke, severe allergic reaction, collapse, seizure, can't breathe.
3. injection handling: instructions aimed at the assistant are flagged and cut out of the question
   (``cleaned_question``); a request that is *only* such instructions is ``out_of_scope``.
4. ``advice_boundary``: personal dosing / start / stop / switch / taper / combine decisions.
5. ``out_of_scope``: clearly unrelated requests with no fibromyalgia, pain or study vocabulary.
6. ``answer``.

Patterns are written for families of phrasings on a normalised text (lower case, straight quotes,
apostrophes dropped so "can't" == "cant", whitespace collapsed). Research-style questions about
suicide, overdose or chest pain ("is suicide risk higher in fibromyalgia?") do not fire: the crisis
and emergency patterns need first-person or acute wording.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .models import Route, Turn

__all__ = ["TriageResult", "normalise", "triage"]


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


# ---------------------------------------------------------------------------------------------
# Normalisation

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
    }
)
_WS_RE = re.compile(r"\s+")


def _soft_normalise(text: str) -> str:
    """Unicode-normalise, straighten quotes and collapse whitespace; keep case and apostrophes."""
    text = unicodedata.normalize("NFKC", text or "").translate(_TRANSLATE)
    return _WS_RE.sub(" ", text).strip()


# Common patient spellings mapped to the words the patterns use.
_SPELLINGS = {
    "shud": "should",
    "shld": "should",
    "shoud": "should",
    "shoudl": "should",
    "sould": "should",
    "cud": "could",
    "wud": "would",
    "wld": "would",
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "abt": "about",
    "bc": "because",
    "cos": "because",
    "coz": "because",
    "cuz": "because",
    "tho": "though",
    "n": "and",
    "wat": "what",
    "wot": "what",
    "dnt": "dont",
    "cnt": "cant",
    "tabs": "tablets",
    "rn": "right now",
    "atm": "at the moment",
}
_TOKEN_RE = re.compile(r"[a-z]+")


def normalise(text: str) -> str:
    """Lower case, straight quotes, apostrophes dropped ("can't" -> "cant"), whitespace collapsed,
    and a few common patient spellings mapped ("shud" -> "should", "u" -> "you", "rn" -> "right
    now")."""
    text = _soft_normalise(text).lower().replace("'", "")
    return _TOKEN_RE.sub(lambda m: _SPELLINGS.get(m.group(0), m.group(0)), text)


def _c(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _alt(*parts: str) -> str:
    return "(?:" + "|".join(parts) + ")"


# ---------------------------------------------------------------------------------------------
# Shared vocabulary (patterns apply to normalised text)

_PILLS = _alt(
    r"pills?",
    r"tablets?",
    r"tabs",
    r"meds",
    r"medications?",
    r"medicines?",
    r"capsules?",
    r"painkillers?",
    r"pain killers?",
    r"sleeping pills?",
    r"prescriptions?",
    r"drugs",
)
_MED_NAMES = _alt(
    r"pregabalin",
    r"lyrica",
    r"gabapentin\w*",
    r"neurontin",
    r"duloxetine",
    r"cymbalta",
    r"milnacipran",
    r"savella",
    r"amitriptyline",
    r"amitryptiline",
    r"nortriptyline",
    r"cyclobenzaprine",
    r"flexeril",
    r"tramadol",
    r"codeine",
    r"co-?codamol",
    r"oxycodone",
    r"oxycontin",
    r"morphine",
    r"fentanyl",
    r"opioids?",
    r"opiates?",
    r"naltrexone",
    r"ldn",
    r"paracetamol",
    r"acetaminophen",
    r"tylenol",
    r"ibuprofen",
    r"naproxen",
    r"nsaids?",
    r"aspirin",
    r"antidepressants?",
    r"ssris?",
    r"snris?",
    r"sertraline",
    r"fluoxetine",
    r"citalopram",
    r"escitalopram",
    r"venlafaxine",
    r"mirtazapine",
    r"trazodone",
    r"zopiclone",
    r"zolpidem",
    r"diazepam",
    r"valium",
    r"benzos?",
    r"benzodiazepines?",
    r"sleeping tablets?",
)
_TREATMENTS = _alt(
    r"ivig",
    r"iv ?ig",
    r"immunoglobulins?",
    r"plasma ?exchange",
    r"plasmapheresis",
    r"apheresis",
    r"immunoadsorption",
    r"rozanolixizumab",
    r"efgartigimod",
    r"fcrn\w*",
    r"rituximab",
    r"hydroxychloroquine",
    r"methotrexate",
    r"steroids?",
    r"prednis\w+",
    r"cbd",
    r"cannabis",
    r"marijuana",
    r"weed",
    r"ketamine",
    r"lidocaine",
    r"vitamin \w+",
    r"magnesium",
    r"supplements?",
    r"coq10",
    r"melatonin",
    r"antibody (?:treatment|therapy|drug|infusion)s?",
    r"infusions?",
    r"injections?",
    r"treatments?",
    r"therapy",
    r"cbt",
    r"physio\w*",
    r"acupuncture",
    r"hydrotherapy",
    r"doses?",
    r"dosage",
    r"\d+ ?mg",
    r"mg",
)
_MED = _alt(_MED_NAMES, _PILLS, _TREATMENTS)

# First person / someone present with the writer.
_FP_RE = _c(r"\b(?:i|im|ive|id|ill|my|me|myself|mine)\b")
_THIRD_RE = _c(
    r"\b(?:he|she|hes|shes|him|her|they|theyre|them|someone here|"
    r"(?:my|our) (?:mum|mom|mother|dad|father|husband|wife|partner|son|daughter|friend|"
    r"boyfriend|girlfriend|child|kid|baby|sister|brother|nan|gran|grandma|grandad|grandpa|"
    r"grandmother|grandfather|flatmate|roommate|colleague|neighbou?r))\b"
)
# Hypothetical / general framing ("what should you do if someone collapses?").
_HYPO_RE = _c(
    r"\b(?:if|in case|whenever|when)\s+(?:someone|somebody|a person|you|people|a patient|patients|"
    r"one)\b|\bwhat (?:to do|do you do|should you do)\b|\bfirst aid\b"
)

# ---------------------------------------------------------------------------------------------
# Crisis

_NOT_NEG = r"(?!(?:dont|do|not|never|didnt|wont|cant|wouldnt|no)\b)"
_FILL2 = rf"(?:{_NOT_NEG}\w+\s+){{0,2}}?"
_SUICID = r"s[ui]{1,3}[cs]{1,2}i?d(?:e|al|el|le|ial|es)?\b"  # suicide, sucidal, suiside, suicde
_END_TIME = r"(?:tonight|today|now|soon|tomorrow|this (?:week|weekend|time)|for good)"

_CRISIS_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Direct self-killing wording and slang.
    (
        "suicidal_ideation",
        _c(
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
        _c(
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
        _c(
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
        _c(
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
        _c(
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
        _c(
            r"\b(?:my|our) (?:mum|mom|mother|dad|father|husband|wife|partner|son|daughter|friend|"
            r"boyfriend|girlfriend|child|sister|brother)\b.{0,40}\b(?:wants? to die|suicidal|"
            r"(?:wants? to|going to|gonna|threaten\w*|talking about) (?:kill|end) (?:him|her|them)sel\w+|"
            r"overdosed|took (?:an )?overdose|took too many)\b"
        ),
    ),
    (
        "self_harm",
        _c(
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
        _c(
            r"\b(?:i|ive|i have|i just|just|already|i already|ive just)\s+(?:\w+\s+){0,2}?"
            r"(?:overdosed|odd|oded|od|overdosing|taken an overdose|took an overdose)\b|"
            r"\b(?:took|taken|taking|had) an? (?:overdose|od)\b|"
            r"\b(?:want|wanna|going|gonna|plan|planning|thinking (?:about|of)|thought about|tempted|"
            r"about|trying|try|tried|decided|ready)\s+(?:to\s+)?(?:overdos\w*|od)\b|"
            r"\boverdos\w* on (?:my|all)\b|"
            r"\b(?:take|taking|took|taken|swallow\w*|down|downed|neck|necked)\s+"
            r"(?:all|every one|everything|the (?:whole|rest)) (?:of )?(?:my |the |these |those )?"
            r"(?:\w+\s+)?" + _alt(_PILLS, _MED_NAMES) + r"|"
            r"\b(?:took|taken|swallowed|downed|necked|have taken|ive taken|i took)\s+"
            r"(?:way )?(?:too many|too much|a (?:whole|full) (?:bottle|packet|pack|box|strip|load)|"
            r"a handful|handfuls|loads|a load|a bunch|\d{2,} (?:of )?(?:my )?"
            + _alt(_PILLS, _MED_NAMES)
            + r"|(?:twenty|thirty|forty|fifty|a hundred) (?:of )?(?:my )?"
            + _alt(_PILLS, _MED_NAMES)
            + r")|"
            r"\bif i (?:take|took|swallow|swallowed) (?:all|too many|too much|the whole)\b|"
            r"\b(?:sav(?:ed|ing|e)|stockpil\w*|hoard\w*|stash\w*|collect(?:ed|ing)|built up|"
            r"building up|stored up|been keeping)\s+(?:up\s+)?(?:all\s+|some\s+)?(?:of\s+)?"
            r"(?:my\s+|a lot of\s+|lots of\s+|enough\s+|these\s+|the\s+|up\s+)?"
            + _alt(_PILLS, _MED_NAMES)
            + r"|"
            r"\benough\s+(?:\w+\s+)?" + _alt(_PILLS, _MED_NAMES) + r"\s+(?:saved\s+)?"
            r"(?:to (?:end|kill|die|do it|not wake|overdose|od|finish|never wake))|"
            r"\b(?:lethal|fatal|deadly) (?:dose|amount|overdose)\b|"
            r"\bhow (?:many|much)\b[^.?!]{0,40}\b(?:to|would|will|could|does it take to)\s+"
            r"(?:die|kill (?:me|myself|you|a person|someone)|be fatal|be lethal|overdose|od|"
            r"not wake up|never wake up)\b"
        ),
    ),
)

# Follow-up replies that keep a crisis open ("yes", "tonight", "i have the pills").
_SAFETY_ASSERTION_RE = _c(
    r"\b(?:im|i am|i feel|im feeling)\s+(?:(?:safe|ok|okay|fine|alright|better)\b)|"
    r"\bi (?:wont|will not|would never|am not going to|m not going to|m not gonna|am not gonna)"
    r"\s+(?:do|hurt|harm|kill|act)\b|\bnot (?:suicidal|going to do it|gonna do it)\b|"
    r"\bi dont want to die\b|\bi (?:didnt|did not) mean it\b|\bfalse alarm\b"
)
# In a longer follow-up, words of plan, means, time or isolation keep the crisis route; a short
# reply ("yes", "tonight", "no") keeps it anyway.
_FOLLOWUP_RE = _c(
    r"\b(?:tonight|today|right now|soon|tomorrow|this weekend|plan|planned|planning|ready|"
    r"decided|pills?|tablets?|meds|rope|bridge|goodbye|do it|done it|already taken|no one|"
    r"nobody|alone|not safe|still want|going to|gonna)\b"
)


def _crisis_reason(norm: str) -> str | None:
    for reason, pattern in _CRISIS_PATTERNS:
        if pattern.search(norm):
            return reason
    return None


def _turn_parts(turn: Any) -> tuple[str, str]:
    if isinstance(turn, Turn):
        return turn.role, turn.content
    if isinstance(turn, Mapping):
        return str(turn.get("role", "")), str(turn.get("content", ""))
    return str(getattr(turn, "role", "")), str(getattr(turn, "content", ""))


def _history_crisis(norm: str, history: Sequence[Any]) -> bool:
    """A crisis statement in one of the last two user turns, answered by a short or plan-like
    follow-up that does not assert safety, keeps the conversation on the crisis route."""
    if not history:
        return False
    user_turns = [content for role, content in map(_turn_parts, history) if role == "user"]
    if not any(_crisis_reason(normalise(c)) for c in user_turns[-2:]):
        return False
    if _SAFETY_ASSERTION_RE.search(norm):
        return False
    return len(norm.split()) <= 8 or bool(_FOLLOWUP_RE.search(norm))


# ---------------------------------------------------------------------------------------------
# Emergency

_HABITUAL_RE = _c(
    r"\b(?:sometimes|often|usually|always|occasionally|regularly|frequently|constantly|"
    r"every (?:day|night|morning|time|week|month)|most days|on and off|now and then|"
    r"when(?:ever)? (?:i|im|i am|my|it)\b|during (?:a |my )?flares?|with (?:my |a )?flares?|"
    r"in (?:a |my )?flares?|for (?:years|months|weeks|ages|a while|a few (?:days|weeks|months|years)|"
    r"the (?:past|last) (?:few |couple of )?(?:days|weeks|months|years))|since (?:i|my|last|\d)|"
    r"used to|tends? to|i get|i keep getting|do you get|can you get|is it normal|is it common|"
    r"is that normal|a symptom of|symptoms? of fibro|part of (?:my )?fibro|lately|recently)\b"
)
_NOW_RE = _c(
    r"\b(?:right now|just now|at the moment|currently|just started|as i type|as we speak|"
    r"(?:started|began|came on) (?:about |around )?(?:\w+ )?(?:minutes?|mins?|an hour|hour|"
    r"seconds?) ago|(?:\d+|a few|few|ten|twenty|thirty|five) (?:minutes?|mins?) ago|an hour ago|"
    r"im having|i am having|is having|keeps getting worse|getting worse by the minute|"
    r"this (?:minute|second))\b"
)
_SUDDEN_RE = _c(r"\b(?:sudden|suddenly|out of nowhere|all of a sudden|out of the blue)\b")

_CHEST_RE = _c(
    r"\bchest\b[^.?!]{0,25}?\b(?:pains?|pressure|tight\w*|heavy|heaviness|crushing|squeez\w*|"
    r"hurts?|hurting|aches?|aching|burning|discomfort|agony|(?:feels )?like an? (?:elephant|weight|"
    r"vice))\b|\b(?:crushing|squeezing|heavy|tight|severe|stabbing)\s+(?:\w+\s+)?(?:in|on|across) "
    r"(?:my|the|his|her) chest\b"
)
_CHEST_SEVERE_RE = _c(
    r"\b(?:crushing|squeezing|elephant|vice|like a weight|like (?:a|an) (?:heart attack)|"
    r"worst (?:pain|chest))\b"
)
_HEART_ATTACK_RE = _c(
    r"\b(?:am i|im|i am|i think im|i think i am|is (?:he|she|my \w+)|hes|shes|think (?:i|he|she)s?"
    r"(?: is| am)?|(?:is|could) (?:this|it) (?:be )?)\s*(?:having )?an? heart attack\b|"
    r"\bfeels? like (?:im having )?an? heart attack\b"
)
_RADIATE_RE = _c(
    r"\b(?:left |right )?(?:arm|arms|hand)\b[^.?!]{0,20}?\b(?:numb\w*|tingl\w*|heavy|dead|weak|"
    r"pins and needles)\b|"
    r"\b(?:numb\w*|tingl\w*|pins and needles)\b[^.?!]{0,15}?\b(?:left |right )?(?:arm|jaw)\b|"
    r"\b(?:jaw|neck)\b[^.?!]{0,15}?\b(?:pain|aches?|aching|hurts?|tight\w*|numb\w*)\b|"
    r"\b(?:spread\w*|radiat\w*|shoot\w*|moving|going|travell?ing)\b[^.?!]{0,12}?\b(?:down|into|up|to)"
    r"\s+(?:my |his |her |the )?(?:left |right )?(?:arm|jaw|neck|shoulder|back)\b"
)
_BREATH_RE = _c(
    r"\b(?:cant|cannot|can not|struggling to|hard to|trouble|difficulty|unable to|barely)\s+"
    r"(?:breathe|breath|breathing|catch (?:my|his|her) breath|get (?:my |a )?breath)\b|"
    r"\bshort(?:ness)? of breath\b|\bbreathless\w*|\bgasping\b|\bout of breath\b"
)
_BREATH_SEVERE_RE = _c(
    r"\b(?:cant|cannot|can not|unable to|struggling to|barely)\s+(?:breathe|breath)\b|"
    r"\bgasping for (?:air|breath)\b|\b(?:is |are |im |shes |hes )?choking\b|"
    r"\b(?:lips|face|skin) (?:are |is |have |has )?(?:turning |turned |gone |going )?blue\b"
)
_SWEAT_RE = _c(
    r"\b(?:sweat\w*|clammy|cold sweat|nause\w*|vomit\w*|throw(?:ing)? up|being sick|lightheaded|"
    r"light headed|about to (?:pass out|faint))\b"
)

_FACE_RE = _c(
    r"\b(?:face|mouth|smile|lip)\b[^.?!]{0,20}?\b(?:droop\w*|dropp\w*|fallen|sagg\w*|lopsided|"
    r"numb on one side|(?:gone|went) (?:numb|weak) on one side)\b|"
    r"\bdroop\w* (?:face|mouth|smile|eyelid)\b|"
    r"\b(?:half|one side) of (?:my|his|her) face\b[^.?!]{0,20}?\b(?:numb|droop\w*|wont move|cant move|"
    r"paralys\w*|weak|dropped|fallen)\b"
)
_SPEECH_RE = _c(
    r"\bslurr\w*|\b(?:speech|talking|words)\b[^.?!]{0,20}?\b(?:slurred|garbled|jumbled|"
    r"not coming out|wont come out)\b|\b(?:cant|cannot|can not) (?:speak|talk)\b"
)
_WEAK_RE = _c(
    r"\b(?:one side|left side|right side|half) of (?:my|his|her) (?:body|face)\b[^.?!]{0,25}?"
    r"\b(?:numb|weak|paralys\w*|dead|wont move|cant move|not working|gone)\b|"
    r"\b(?:cant|cannot|can not|unable to) (?:move|lift|feel|use) (?:my |his |her )?(?:left|right) "
    r"(?:arm|leg|hand|side|foot)\b|"
    r"\b(?:left|right) (?:arm|leg|hand|side)\b[^.?!]{0,20}?\b(?:paralys\w*|wont move|gone limp|"
    r"went limp|is limp|gone dead|collapsed)\b"
)
_HEADACHE_SEVERE_RE = _c(
    r"\bworst headache (?:of (?:my|his|her) life|(?:i|ive|i have|shes|hes) ever had|ever)\b|"
    r"\bthunderclap\b|"
    r"\bsudden (?:severe |splitting |excruciating |blinding |explosive |agonising |agonizing )?"
    r"headache\b|\bheadache\b[^.?!]{0,20}?\b(?:came on suddenly|out of nowhere|like (?:a|being) "
    r"(?:hit|kicked|struck))\b"
)
_STROKE_Q_RE = _c(
    r"\b(?:am i|im|i am|i think im|i think i am|is (?:he|she|my \w+)|hes|shes|"
    r"think (?:hes|shes|he is|she is|im|i am|i m)|(?:is|could) (?:this|it) (?:be )?)\s*"
    r"(?:having )?an? (?:mini[- ]?)?stroke\b|\bsigns of (?:a )?stroke (?:right )?now\b"
)

_SWELL_RE = _c(
    r"\b(?:throat|tongue|lips?|mouth|airway)\b[^.?!]{0,20}?\b(?:swell\w*|swollen|closing|"
    r"tight\w*|puff\w*)\b|\b(?:swell\w*|swollen) (?:throat|tongue|lips?)\b"
)
_ANAPH_NOW_RE = _c(
    r"\b(?:having|going into|gone into|in|into|is this|think (?:im|i am|its|this is|hes|shes)"
    r"(?: having)?)\s+(?:an?\s+)?(?:anaphyla\w*|allergic (?:reaction|shock)|severe allergic)"
)
_ALLERGY_CTX_RE = _c(
    r"\b(?:hives|rash|welts|itch\w*|anaphyla\w*|allergic|allergy|reaction|epi ?pen|"
    r"after (?:taking|starting|eating|i took|the first dose)|(?:new|first) (?:dose|tablet|pill|"
    r"medication|medicine))\b"
)

_COLLAPSE_RE = _c(
    r"\b(?:just|has|have|has just|suddenly|shes|hes|theyve|theyre|is|i)\s+(?:just\s+)?"
    r"(?:collapsed|passed out|fainted|blacked out)\b(?! (?:yesterday|last|a (?:few|couple)|"
    r"before|once|twice|in the past))|"
    r"\b(?:is|are|was|went|gone|lying|found (?:him|her|them))\s+(?:\w+\s+)?(?:unconscious|"
    r"unresponsive)\b|"
    r"\b(?:not|isnt|stopped|is not|wasnt|no longer) breathing\b(?! (?:properly|well|deeply|right|"
    r"through|normally at night))|\bno pulse\b|"
    r"\b(?:wont|will not|cant|can not|cannot) (?:wake (?:him|her|them)|be woken|get (?:him|her|"
    r"them) to wake)\b|"
    r"\b(?:he|she|they|mum|mom|dad|husband|wife|partner|son|daughter|friend|baby)\b[^.?!]{0,15}?"
    r"\b(?:wont|will not|isnt|is not) (?:wake|waking) up\b"
)
_SEIZURE_RE = _c(
    r"\b(?:im|i am|is|hes|shes|theyre|currently|still)\s+(?:having|in) (?:a |another )?"
    r"(?:seizure|fit|convulsion)s?\b|\bjust had (?:a |another )?(?:seizure|fit|convulsion)\b|"
    r"\b(?:having|had) (?:a |another )?(?:seizure|fit|convulsion) (?:right )?now\b|"
    r"\b(?:seizing|convulsing)\b|\bfitting (?:right )?now\b"
)
_GENERAL_Q_RE = _c(
    r"^\W*(?:does|do|can|could|is|are|was|were|what|whats|why|how|which|when|where|who|should|"
    r"would|will|in|for|according|tell me|explain|list|compare|describe|any|anyone|has|have)\b"
)
_HEAD_INJURY_RE = _c(
    r"\b(?:hit|banged|bumped|knocked|smashed|cracked) (?:my|his|her|their) head\b"
    r"(?=[^.?!]*\b(?:vomit\w*|being sick|throwing up|confus\w*|drowsy|knocked out|unconscious|"
    r"passed out|blacked out|seizure|bleeding|wont wake)\b)"
)
_CALL_RE = _c(
    r"\bshould (?:i|we) (?:call|ring|phone) (?:for )?(?:an ambulance|999|911|112)\b|"
    r"\bcall(?:ing)? (?:an ambulance|999|911|112) (?:now|right now)\b"
)


def _emergency_reason(norm: str) -> str | None:
    # Someone present (first or third person), or a telegraphic symptom report ("sudden crushing
    # chest pain, left arm numb") rather than a general question ("can fibro cause chest pain?").
    # Without a person, keyword lists ("chest pain, breathlessness: fibro?") need acute wording.
    person = bool(_FP_RE.search(norm) or _THIRD_RE.search(norm))
    if not person and _GENERAL_Q_RE.search(norm):
        return None
    habitual = bool(_HABITUAL_RE.search(norm))
    now = bool(_NOW_RE.search(norm))
    sudden = bool(_SUDDEN_RE.search(norm))
    if not person and not (now or (sudden and not habitual) or _CHEST_SEVERE_RE.search(norm)):
        return None
    hypothetical = bool(_HYPO_RE.search(norm))
    acute = now or (sudden and not habitual)

    # Cardiac: chest symptoms with acute wording or a red-flag combination.
    if _HEART_ATTACK_RE.search(norm) and not hypothetical:
        return "emergency:cardiac"
    if _CHEST_RE.search(norm) and not hypothetical:
        combo = bool(
            _RADIATE_RE.search(norm)
            or _BREATH_RE.search(norm)
            or _SWEAT_RE.search(norm)
            or _CHEST_SEVERE_RE.search(norm)
        )
        if now or (not habitual and (sudden or combo)):
            return "emergency:cardiac"

    # Stroke.
    if not hypothetical:
        if (
            _STROKE_Q_RE.search(norm)
            or _HEADACHE_SEVERE_RE.search(norm)
            and (acute or not habitual)
        ):
            return "emergency:stroke"
        signs = sum(
            bool(p.search(norm)) for p in (_FACE_RE, _SPEECH_RE, _WEAK_RE, _HEADACHE_SEVERE_RE)
        )
        if _FACE_RE.search(norm) and (acute or not habitual):
            return "emergency:stroke"
        if _WEAK_RE.search(norm) and (acute or not habitual):
            return "emergency:stroke"
        if signs >= 2 and (acute or not habitual):
            return "emergency:stroke"
        if signs >= 1 and acute:
            return "emergency:stroke"

    # Severe allergic reaction.
    if not hypothetical:
        if _SWELL_RE.search(norm) and (acute or not habitual):
            return "emergency:allergic"
        if _ANAPH_NOW_RE.search(norm) and (acute or not habitual):
            return "emergency:allergic"
        if _BREATH_RE.search(norm) and _ALLERGY_CTX_RE.search(norm) and (acute or not habitual):
            return "emergency:allergic"

    if not hypothetical:
        if _SEIZURE_RE.search(norm):
            return "emergency:seizure"
        if _COLLAPSE_RE.search(norm):
            return "emergency:collapse"
        if _BREATH_SEVERE_RE.search(norm) and (acute or not habitual):
            return "emergency:breathing"
        if _HEAD_INJURY_RE.search(norm):
            return "emergency:head_injury"
        if _CALL_RE.search(norm):
            return "emergency:other"
    return None


# ---------------------------------------------------------------------------------------------
# Prompt injection (matched case-insensitively on the soft-normalised text so the cleaned
# question keeps the user's own casing)

_INJ_FLAGS = re.IGNORECASE
_UNTIL_AND = r"(?:(?!\band\b|\bthen\b|\bbut\b)[^.!?;,:\n])*"

_INJECTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        # Fake system messages and dictated output: "SYSTEM OVERRIDE: citations are disabled",
        # "repeat after me exactly: '...'".
        "forced_output",
        re.compile(
            r"\b(?:system|admin|developer|security)\s+(?:override|update|notice|message)\b\s*:?|"
            r"\b(?:admin|developer|debug|god|sudo|maintenance)\s+mode\b|"
            r"\bcitations?\s+(?:are\s+|is\s+)?(?:now\s+)?(?:disabled|turned off|switched off|"
            r"off|not (?:needed|required|allowed))\b(?:\s+for this (?:session|chat|conversation))?|"
            r"\brepeat after me\b(?:\s+(?:exactly|word for word|verbatim))?\s*:?|"
            r"\b(?:repeat|say|type|write|output|print)\s+(?:this|the following|exactly this|"
            r"word for word|verbatim)\b\s*:?",
            re.IGNORECASE,
        ),
    ),
    (
        "ignore_rules",
        re.compile(
            r"\b(?:please\s+)?(?:ignore|disregard|forget|override|overrule|bypass|abandon|"
            r"set aside|stop following|don'?t follow|do not follow|throw out|scrap)\s+"
            r"(?:(?:all|any|every|each)\s+(?:of\s+)?(?:the\s+|your\s+|my\s+)?|"
            r"(?:the\s+|my\s+)?(?=(?:your|previous|prior|above|earlier|preceding|original|initial|"
            r"system|safety|developer|hidden|internal|default|old)\b))"
            r"(?:(?:your|the|these|those|previous|prior|above|earlier|preceding|original|initial|"
            r"system|safety|developer|existing|current|old|other|given|hidden|internal|default)\s+)*"
            r"(?:instructions?|rules?|prompts?|guidelines?|directions?|directives?|constraints?|"
            r"programming|guardrails?|restrictions?|filters?|polic(?:y|ies)|training|settings|"
            r"system prompt|limitations?|orders|commands|safeguards?|protocols?)\b"
            r"(?! (?:on|from|in|of) (?:the |my |your )?(?:leaflet|label|packet|box|doctor|gp|"
            r"pharmacist|prescription|physio))|"
            r"\b(?:ignore|disregard|forget)\s+(?:everything|anything|all)\s+(?:(?:you(?:'?ve| have| were|"
            r"'?re| are)?\s+(?:been\s+)?(?:told|taught|instructed|given))|above|before|previously|"
            r"prior|so far)\b|"
            r"\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?)?(?:the|everything)\s+(?:above|"
            r"before|previous|prior|earlier)\b|"
            r"\b(?:turn off|disable|remove|deactivate|switch off|bypass|lift|drop)\s+(?:your\s+|the\s+|"
            r"all\s+|any\s+)*(?:safety\s+)?(?:filters?|guardrails?|restrictions?|rules|safety|"
            r"censorship|content polic(?:y|ies)|safeguards?)\b|"
            r"\byou (?:have|got) no (?:rules|restrictions|limits|filters|guardrails)\b|"
            r"\b(?:without|with no|no)\s+(?:any\s+)?(?:restrictions|filters|guardrails|censorship|"
            r"safety (?:rules|filters|guidelines))\b|\bwithout (?:any )?(?:of )?your rules\b",
            _INJ_FLAGS,
        ),
    ),
    (
        "role_change",
        re.compile(
            r"\byou(?:\s+are|'?re|r)\s+(?:now|no longer|from now on)\b" + _UNTIL_AND + r"|"
            r"\bfrom now on\b,?\s*(?=you\b|(?:answer|respond|reply|only|always|never|act|speak|talk|"
            r"say|tell|ignore|don'?t|do not)\b)" + _UNTIL_AND + r"|"
            r"(?:^|(?<=[,;:])|\b(?:please|now|you(?: will| must| should| can| could)?|and|"
            r"i want you to|i need you to)\s+)(?:act|behave|roleplay|role-play|role play)\s+"
            r"(?:as|like)\b" + _UNTIL_AND + r"|"
            r"\bpretend\s+(?:to be|you(?:'?re| are)|that you(?:'?re| are)|you(?:'?re| are) not)\b"
            + _UNTIL_AND
            + r"|"
            r"\b(?:switch|go|enter|enable|activate|turn on|unlock)\s+(?:to\s+|into\s+|on\s+)?"
            r"(?:developer|dev|god|jailbreak|dan|unrestricted|unfiltered|admin|debug|evil)\s+mode\b|"
            r"\b(?:jailbreak|jailbroken|dan mode|do anything now)\b|"
            r"\byour (?:new )?(?:name|role|persona|identity|task|job|purpose) (?:is|will be)\b"
            + _UNTIL_AND
            + r"|"
            r"\byour new (?:instructions?|rules?) (?:is|are)\b" + _UNTIL_AND + r"|"
            r"\b(?:new|updated|revised|real) (?:system )?(?:instructions?|rules?|prompt)\s*:[^.!?\n]*|"
            r"<\s*(system|instructions?)\s*>.*?<\s*/\s*\1\s*>|"
            r"\b(?:game|story|scenario|roleplay|role-play|world|simulation) (?:where|in which) "
            r"you(?:'?re| are| play| will be)\b" + _UNTIL_AND + r"|"
            r"^\s*(?:system|developer)\s*:\s*[^.!?\n]*|\[\s*(?:system|inst)\s*\]|"
            r"</?\s*(?:system|instructions?)\s*>|###\s*(?:system|instructions?)\b|"
            r"\b(?:i am|i'?m) (?:your|the) (?:developer|admin|administrator|creator|owner|programmer|"
            r"operator)\b" + _UNTIL_AND,
            _INJ_FLAGS,
        ),
    ),
    (
        "reveal_prompt",
        re.compile(
            r"\b(?:reveal|show|print|display|output|repeat|recite|tell|give|list|share|leak|dump|"
            r"expose|paste|copy|write out|spell out|read out|send|what(?: is|'?s| are| were))\b"
            r"[^.!?\n]{0,40}?\b(?:(?:system|initial|original|hidden|secret|internal|developer|full)"
            r"\s+(?:prompt|message|instructions)|your (?:prompt|instructions|configuration|config|"
            r"rules|programming|system prompt)\b|the (?:prompt|instructions|configuration|config|"
            r"rules) (?:you were given|you follow|you were told)|"
            r"(?:hidden|secret|banned|blocked|forbidden|excluded|filtered|internal|restricted|"
            r"blacklisted) (?:sources|documents|list|lists|context|data|files)|"
            r"sources you (?:were|are|have been) (?:told|instructed|asked) not to(?: use| cite| show)?|"
            r"context window|everything above|text above|words above)",
            _INJ_FLAGS,
        ),
    ),
    (
        "forced_claim",
        re.compile(
            r"\byou\s+(?:must|have to|need to|shall|are (?:required|obligated) to|"
            r"can only|may only)\s+(?:now\s+)?(?:only\s+)?(?:tell|say|confirm|agree|state|answer|"
            r"respond|reply|claim|write|admit|insist|declare)(?:\s+(?:me|us|that|to me|with))*\b"
            r"(?:\s+(?:yes|no|true|it is|it'?s true)\b)?|"
            r"\b(?:just|only)\s+(?:say|tell me|confirm|agree)\s+(?:that\s+)?(?=.*\b(?:cured?|works?|"
            r"proven|proves?|true)\b)",
            _INJ_FLAGS,
        ),
    ),
    (
        "no_citations",
        re.compile(
            r"\b(?:no|skip|drop|omit|remove|leave out|forget|don'?t (?:need|want|include|add|give|use|"
            r"bother with|show)|do not (?:need|want|include|add|give|use|show)|stop (?:adding|giving|"
            r"using|including)|no need for)\s+(?:any\s+|the\s+|your\s+|all\s+(?:the\s+)?)?"
            r"(?:citations?|cites|references|sources|footnotes|disclaimers?|caveats|hedg\w*|warnings|"
            r"safety (?:stuff|warnings|messages))\s+(?:(?:are\s+|is\s+)?(?:needed|required|necessary|"
            r"please|pls|plz|this time|thanks))|"
            r"(?:^|(?<=[,;:])|\b(?:please|and|just|so|but|also|then)\s+)"
            r"(?:skip|drop|omit|remove|leave out|don'?t (?:include|add|give|use|show)|"
            r"do not (?:include|add|give|use|show)|stop (?:adding|giving|using|including))\s+"
            r"(?:any\s+|the\s+|your\s+|all\s+(?:the\s+)?)?(?:citations?|references|sources|"
            r"footnotes|disclaimers?|caveats|hedg\w*)\b|"
            r"(?:^|(?<=[,;:])|\b(?:please|and|just|so|but|also|then)\s+)"
            r"(?:don'?t|do not) (?:cite|hedge|add caveats|mention (?:the |that (?:it was |it'?s )?"
            r"(?:only )?(?:in )?)?(?:mice|mouse))\b|"
            r"\b(?:answer|respond|reply|tell me|explain|write|say it|just)\b[^.!?\n]{0,30}?\bwithout\s+"
            r"(?:any\s+)?(?:citations?|references|sources|disclaimers?|caveats|hedg\w*)\b|"
            r"^\W*(?:and |also |but |just )?no (?:citations?|sources|references|disclaimers?|caveats)"
            r"\W*$",
            _INJ_FLAGS,
        ),
    ),
)

_CONNECTOR_RE = re.compile(
    r"^(?:\s*(?:and|then|also|so|but|now|ok|okay|please|pls|just|instead|,|:|-)\b\s*)+",
    _INJ_FLAGS,
)
_TRAILING_CONNECTOR_RE = re.compile(r"(?:\s*\b(?:and|then|also|but|or|so)\b\s*)+$", _INJ_FLAGS)
_LEADING_TELL_RE = re.compile(
    r"^(?:(?:tell|assure|convince|promise)\s+(?:me|us)\s+that|say(?:\s+that)?|confirm(?:\s+that)?)\s+",
    _INJ_FLAGS,
)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?;])\s+|\n+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "so",
        "then",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "by",
        "with",
        "me",
        "you",
        "your",
        "my",
        "i",
        "it",
        "is",
        "are",
        "was",
        "be",
        "this",
        "that",
        "these",
        "those",
        "now",
        "also",
        "please",
        "pls",
        "just",
        "only",
        "all",
        "any",
        "use",
        "list",
    ]
)


def _meaningful(fragment: str) -> bool:
    words = re.findall(r"[a-z0-9]+", fragment.lower())
    return any(len(w) >= 2 and w not in _STOPWORDS for w in words)


# Cheap pre-check: every injection pattern needs one of these substrings (plain `in` tests are
# much faster than one big alternation on long input).
_INJECTION_HINTS = (
    "override",
    "citation",
    "repeat",
    "verbatim",
    "word for word",
    "the following",
    "ignor",
    "disregard",
    "forget",
    "overrid",
    "overrul",
    "bypass",
    "abandon",
    "set aside",
    "follow",
    "throw out",
    "scrap",
    "without",
    "with no",
    "turn off",
    "disable",
    "remove",
    "deactivate",
    "switch",
    "lift",
    "drop",
    "you",
    "from now",
    "act",
    "behave",
    "role",
    "pretend",
    "mode",
    "jailbr",
    "dan",
    "do anything",
    "new",
    "updated",
    "revised",
    "real",
    "system",
    "developer",
    "[",
    "<",
    "###",
    "i am",
    "i'm",
    "im ",
    "reveal",
    "show",
    "print",
    "display",
    "output",
    "repeat",
    "recite",
    "tell",
    "give",
    "list",
    "share",
    "leak",
    "dump",
    "expose",
    "paste",
    "copy",
    "write",
    "spell",
    "read out",
    "send",
    "what",
    "just",
    "only",
    "no ",
    "skip",
    "omit",
    "leave out",
    "don",
    "do not",
    "stop",
    "game",
    "story",
    "scenario",
    "world",
    "simulation",
    "instruction",
    "prompt",
    "rule",
    "cit",
    "source",
    "reference",
)


def _strip_injection(question: str) -> tuple[list[str], str]:
    """Return (kinds found, question with the injected clauses removed)."""
    text = _soft_normalise(question)
    lowered = text.lower()
    if not any(hint in lowered for hint in _INJECTION_HINTS):
        return [], text
    kinds: list[str] = []
    kept: list[str] = []
    for sentence in _SENTENCE_SPLIT_RE.split(text):
        residual = sentence
        for kind, pattern in _INJECTION_PATTERNS:
            if pattern.search(residual):
                if kind not in kinds:
                    kinds.append(kind)
                residual = pattern.sub(" ", residual)
        if residual is sentence:
            kept.append(sentence)
            continue
        residual = _WS_RE.sub(" ", residual).strip(" ,;:-")
        for _ in range(3):
            residual = _CONNECTOR_RE.sub("", residual).strip(" ,;:-")
            residual = _LEADING_TELL_RE.sub("", residual).strip(" ,;:-")
        residual = _TRAILING_CONNECTOR_RE.sub("", residual).strip(" ,;:-")
        if _meaningful(residual):
            if residual[-1:] not in ".!?":
                residual += "."
            kept.append(residual[:1].upper() + residual[1:])
    return kinds, " ".join(kept).strip()


# ---------------------------------------------------------------------------------------------
# Advice boundary (personal medication / treatment decisions)

_ACTION = _alt(
    r"stop(?:ping)?",
    r"start(?:ing)?",
    r"take",
    r"taking",
    r"try(?:ing)?",
    r"switch(?:ing)?",
    r"chang(?:e|ing)",
    r"increas(?:e|ing)",
    r"decreas(?:e|ing)",
    r"reduc(?:e|ing)",
    r"lower(?:ing)?",
    r"rais(?:e|ing)",
    r"up(?:ping)?",
    r"doubl(?:e|ing)",
    r"halv(?:e|ing)",
    r"skip(?:ping)?",
    r"quit(?:ting)?",
    r"(?:come|coming|go|going|get|getting) off",
    r"wean(?:ing)?(?: off)?",
    r"taper(?:ing)?(?: off)?",
    r"cut(?:ting)? (?:down|back)(?: on)?",
    r"combin(?:e|ing)",
    r"mix(?:ing)?",
    r"add(?:ing)?",
    r"drop(?:ping)?",
    r"get",
    r"getting",
    r"have",
    r"having",
    r"use",
    r"using",
    r"(?:go|going|be|stay|staying|keep) on",
    r"keep taking",
    r"continu(?:e|ing)",
    r"restart(?:ing)?",
    r"resum(?:e|ing)",
    r"ask (?:my|the|a) (?:gp|doctor|dr|rheumatologist|consultant|specialist) for",
    r"ask for",
    r"prescrib(?:e|ing)",
    r"refer(?:ring)?",
    r"giv(?:e|ing)",
    r"put (?:me|them|her|him|patients) on",
    r"drink(?:ing)?",
    r"ditch(?:ing)?",
    r"replac(?:e|ing)",
    r"pay for",
    r"buy(?:ing)?",
    r"order(?:ing)?",
)
_DECIDE = _alt(
    r"should (?:i|we|my|she|he|they)",
    r"shall i",
    r"(?:can|could|may) i",
    r"do i (?:need|have) to",
    r"would it be (?:ok|okay|safe|wise|better|bad|a good idea|a bad idea) (?:for me )?to",
    r"is it (?:ok|okay|safe|fine|alright|wise|bad|dangerous|a good idea|a bad idea|worth it) "
    r"(?:for me )?(?:to|if i)",
    r"am i (?:ok|okay|safe|allowed|able) to",
    r"(?:i|im) (?:want|wanna|need|plan|intend|am going|going|gonna|thinking (?:of|about)|"
    r"planning|considering|about|tempted|deciding whether|trying to decide whether)(?: to)?",
    r"i (?:have|ve) decided to",
    r"ive decided to",
    r"i was thinking (?:of|about)",
    r"(?:do|would) you (?:think|recommend|suggest|advise)(?: that)?(?: i| me)?(?: to)?",
    r"what would you (?:recommend|do|suggest)",
    r"(?:recommend|advise|suggest) (?:that )?(?:i|me)(?: to)?",
    r"tell me (?:if|whether) (?:i|to)",
    r"is it worth (?:me|my)",
    r"how (?:do|should|can|would) i",
    r"how (?:fast|quickly|slowly) (?:should|can|do) i",
    r"when (?:should|can) i",
    r"help me (?:decide|choose)",
)
_WEAK_ACTION = _alt(
    r"get",
    r"getting",
    r"have",
    r"having",
    r"use",
    r"using",
    r"giv(?:e|ing)",
    r"try(?:ing)?",
    r"ask for",
    r"pay for",
    r"buy(?:ing)?",
    r"order(?:ing)?",
    r"drink(?:ing)?",
    r"add(?:ing)?",
)
_ADVICE_DECIDE_RE = _c(
    rf"\b{_DECIDE}\s+(?:\w+\s+){{0,2}}?(?:(?!{_WEAK_ACTION}\b){_ACTION}\b(?:\s+\S+){{0,4}}?"
    rf"|{_WEAK_ACTION}\b(?:\s+\S+){{0,2}}?)\s*\b{_MED}\b"
)
_PERSONAL_RE = _c(r"\b(?:i|im|ive|id|me|my|we|our|us)\b")
_ADVICE_DOSE_RE = _c(
    r"\bhow (?:much|many)\b[^.?!]{0,40}?\b(?:should|can|do|could|shall|must|would|may) "
    r"(?:i|we|my \w+)\b|"
    r"\b(?:what|which|right|correct|best|max(?:imum)?|safe|starting|ideal) (?:dose|dosage|amount|"
    r"strength)\b[^.?!]{0,30}?\b(?:for me|should i|do i|can i|i should|would i|for my)\b|"
    r"\b(?:is|are|would) (?:my (?:dose|dosage)|\d+ ?(?:mg|milligrams?|tablets?|pills?))\b[^.?!]{0,30}?"
    r"\b(?:too (?:much|high|low|little)|enough|safe|ok|okay|right|a lot)\b|"
    r"\b(?:what|which|how much) (?:dose|dosage|amount|strength)\b[^.?!]{0,30}?\bto take\b|"
    r"\b(?:accidentally|by mistake|mistakenly)\b[^.?!]{0,30}?\b(?:double|extra|two|second) (?:dose|doses|"
    r"tablets?|pills?)\b|\b(?:double|extra) dose\b[^.?!]{0,30}?\b(?:by mistake|accidentally)\b|"
    r"\bi (?:missed|forgot) (?:a |my |to take my )(?:dose|tablet|pill|" + _MED_NAMES + r")"
)
_ADVICE_PERSONAL_RE = _c(
    rf"\b(?:right|best|good|safe|ok|okay|suitable|worth (?:it|trying)|appropriate|better|"
    rf"dangerous|bad)\b[^.?!]{{0,12}}?\bfor me\b(?=[^.?!]*\b{_MED}\b)|"
    rf"\b{_MED}\b[^.?!]{{0,40}}?\b(?:right|best|good|safe|ok|okay|suitable|worth (?:it|trying)|"
    r"appropriate|better|dangerous|bad) for me\b|"
    rf"\bi\b[^.?!]{{0,40}}?\b(?:stopped|quit|came off|went off|ran out of|weaned off|tapered off)\s+"
    rf"(?:taking\s+)?(?:my\s+|the\s+)?{_MED}\b|"
    rf"\b(?:would|do|could) you (?:recommend|suggest|advise)\s+(?:me\s+)?(?:\w+\s+){{0,2}}?{_MED}\b"
)
# "my dr put me on pregabalin ... should i come off it": the medicine is named earlier, so this
# only counts when a medicine appears somewhere in the message.
# Getting a prescription-only treatment around the prescriber.
_ADVICE_OBTAIN_RE = _c(
    r"\b(?:get|buy|obtain|order|purchase)\b[^.?!]{0,50}?\b(?:without (?:a |my )?"
    r"(?:prescription|doctor|gp|prescriber)|over the counter|off the (?:internet|dark web)|online)\b"
)
_ADVICE_COME_OFF_RE = _c(
    r"\bshould (?:i|we) (?:come off|go off|stop|quit|keep taking|continue|taper|wean off|"
    r"switch from|cut down)\b"
)
# "which antidepressant should i take", "what do you think i should do about my meds": needs a
# medicine or treatment word in the same sentence.
_ADVICE_WHICH_RE = _c(
    r"\b(?:which|what) (?:\w+ ){0,3}?(?:should i|i should)(?: (?:do|take|try|use|start|get|go on|"
    r"be on|switch to|choose|pick|ask for)\b|\s*(?:[.?!]|$))|"
    r"\b(?:which|what) (?:\w+ ){0,3}?(?:would you recommend|do you recommend)|"
    r"\b(?:is|are) (?:best|right) for me\b"
)
_MED_RE = _c(rf"\b{_MED}\b")
_ADVICE_PRESCRIBER_RE = _c(
    r"\b(?:can|could|will|would|should|does|do|might|may)\s+(?:my|the|a|your|our)\s+(?:gp|doctor|dr|"
    r"rheumatologist|consultant|specialist|neurologist|physician|clinic|nhs|pain clinic|nurse)\b"
    r"[^.?!]{0,40}?\b(?:prescribe|give me|put me on|offer me|refer me|try me on|start me on|"
    r"get me)\b|"
    r"\boff[- ]?label\b(?=[^.?!]*\b(?:i|me|my)\b)|(?<=\bmy\b)[^.?!]{0,40}\boff[- ]?label\b"
)
_ADVICE_CARE_RE = _c(
    r"\b(?:should (?:i|we)|shall i|do i need to|would you (?:recommend|advise|suggest)(?: that)? i|"
    r"do you (?:think|recommend)(?: that)? i)\s+(?:\w+\s+){0,2}?(?:switch|change|find|get|see|go to|"
    r"ask for|leave|ditch|fire|trust|listen to|believe|push for|demand|refer\w*)\b"
    r"[^.?!]{0,30}?\b(?:doctors?|gps?|rheumatologists?|specialists?|consultants?|neurologists?|"
    r"pain clinic|second opinion|referral|physio\w*|psychologist|therapist|clinic|a&e|er)\b"
)
_ADVICE_CLINICAL_RE = _c(
    r"\b(?:my|our) (?:fm |fms |fibro |fibromyalgia |chronic pain )?(?:patients?|clients?|caseload)\b"
    rf"(?=[^.?!]*\b(?:{_ACTION})\b)(?=[^.?!]*\b{_MED}\b|[^.?!]*\brefer)|"
    r"\b(?:should|would you recommend|do you recommend)[^.?!]{0,30}?\b(?:refer|prescribe|start)"
    r"\w*\b[^.?!]{0,40}?\b(?:my |our )?(?:fm |fms |fibro |fibromyalgia )?(?:patients?|clients?)\b"
)

_STOP_WORDS_RE = _c(
    r"\b(?:stop\w*|quit\w*|come off|coming off|go off|going off|get off|getting off|wean\w*|"
    r"taper\w*|cut(?:ting)? (?:down|back)|ditch\w*|came off|went off|ran out)\b"
)
_SWITCH_WORDS_RE = _c(r"\b(?:switch\w*|chang\w*|replac\w*|instead)\b")
_COMBINE_WORDS_RE = _c(r"\b(?:combin\w*|mix\w*|with|alongside|together|drink\w*|alcohol)\b")


def _sentence_of(text: str, start: int, end: int) -> str:
    """The sentence of `text` that holds text[start:end]."""
    left = max(text.rfind(ch, 0, start) for ch in ".?!;") + 1
    rights = [i for i in (text.find(ch, end) for ch in ".?!;") if i != -1]
    return text[left : min(rights) if rights else len(text)]


def _advice_reason(norm: str) -> str | None:
    if _ADVICE_CLINICAL_RE.search(norm):
        return "advice:clinical_decision"
    if _ADVICE_PRESCRIBER_RE.search(norm):
        return "advice:prescribing"
    for match in _ADVICE_DOSE_RE.finditer(norm):
        if _MED_RE.search(_sentence_of(norm, match.start(), match.end())):
            return "advice:dosing"
    if _ADVICE_CARE_RE.search(norm):
        return "advice:care_decision"
    span = ""
    for match in _ADVICE_DECIDE_RE.finditer(norm):
        if _PERSONAL_RE.search(_sentence_of(norm, match.start(), match.end())):
            span = match.group(0)
            break
    if not span:
        match = _ADVICE_PERSONAL_RE.search(norm)
        if match:
            span = match.group(0)
    if _ADVICE_OBTAIN_RE.search(norm) and _MED_RE.search(norm):
        return "advice:obtain_medication"
    if not span:
        match = _ADVICE_COME_OFF_RE.search(norm)
        if match and _MED_RE.search(norm):
            span = match.group(0)
    if not span:
        for match in _ADVICE_WHICH_RE.finditer(norm):
            sentence = _sentence_of(norm, match.start(), match.end())
            if _MED_RE.search(sentence):
                span = sentence
                break
    if not span:
        return None
    if _STOP_WORDS_RE.search(span):
        return "advice:stop_medication"
    if _SWITCH_WORDS_RE.search(span):
        return "advice:switch_treatment"
    if _COMBINE_WORDS_RE.search(span):
        return "advice:combine_medication"
    return "advice:start_treatment"


# ---------------------------------------------------------------------------------------------
# Scope

_IN_SCOPE_RE = _c(
    r"\bf[iy]bro\w*|\bfibrom[iy]\w*|\bfms\b|\bfm\b|\bfmsyndrome|"
    r"\bpain\w*|\bache[sd]?\b|\baching\b|\bachy\b|\bhurts?\b|\bsore\w*|\btender\w*|\bstiff\w*|"
    r"\bfatigue\w*|\btired\w*|\bexhaust\w*|\bsleep\w*|\binsomnia\b|\bfog\w*|\bflare\w*|"
    r"\bnerve\w*|\bneuro\w*|\bneuron\w*|\bnocicept\w*|\bdrg\b|\bganglia?\b|\bglia\w*|\bsgcs?\b|"
    r"\bsmall fib(?:re|er)\b|\bsfn\b|\bcrps\b|\bantibod\w*|\bigg\b|\bimmun\w*|\bautoimmun\w*|"
    r"\binflamm\w*|\blupus\b|\bsle\b|\barthritis\b|\brheumat\w*|\bmice\b|\bmouse\b|\bmurine\b|"
    r"\brodents?\b|\banimal (?:study|studies|model)|\bpassive transfer\b|"
    r"\b(?:the|this|that|their|a|new|mouse|recent|kings|2021|jci) (?:study|paper|research|trial)\b|"
    r"\bstud(?:y|ies)\b|\bresearch\w*|\btrials?\b|\bevidence\b|\bjournal\b|\bjci\b|\bgoebel\b|"
    r"\bkings college\b|\bkcl\b|\bpress release\b|\bpeer[- ]?review\w*|\bpublished\b|\bpubmed\b|"
    r"\bdiagnos\w*|\bcriteria\b|\bwidespread\b|\bsymptom severity\b|\bchronic\b|"
    r"\bcure[ds]?\b|\bsymptoms? of (?:fm|fms|fibro\w*)|\bpatients?\b|\bclinician\w*|\bgps?\b|"
    r"\brheumatologist\w*|\bcfs\b|\bme/cfs\b|\bchronic fatigue\b|\bibs\b|\bdepress\w*|\banxi\w*|"
    r"\bsuicid\w*|\bmental health\b|\bsensiti[sz]\w*|\ballodynia\b|\bhyperalgesia\b|"
    r"\bhypermobil\w*|\bpacing\b|\btender points?\b|\bcentral (?:pain|nervous)\b|\bglial\b|"
    r"\bcostochondritis\b|\bwellbeing\b|\bpsycholog\w*|\bstress\b|\bmood\b|\bweight\b|\bdiet\b|"
    r"\bnumb\w*|\btingl\w*|\bmigraine\w*|\bheadache\w*|\bmuscle\w*|"
    r"\bjoints?\b|\bexercis\w*|\bblood tests?\b|\bserum\b|\bplasma\b|\bhealthy controls?\b|"
    rf"\b{_MED_NAMES}\b|\b{_TREATMENTS}\b|\bmedicat\w*|\bmedicines?\b|\bpills?\b|\btablets?\b"
)
_OFF_TOPIC_RE = _c(
    r"\brecipes?\b|\bbak(?:e|ing)\b|\bcook(?:ing)?\b|\bbanana bread\b|\bcakes?\b|\bpizza\b|"
    r"\bdinner ideas\b|\bessays?\b|\bhomework\b|\bassignment\b|\bpoems?\b|\bpoetry\b|\bsongs?\b|"
    r"\blyrics\b|\bshort story\b|\bnovel\b|\bcover letter\b|\bresume\b|\bcv\b|\btranslat\w*|"
    r"\bcod(?:e|ing)\b|\bpython\b|\bjavascript\b|\bjava\b|\bhtml\b|\bcss\b|\bsql\b|\bprogram\w*|"
    r"\bscript\b|\bfunction\b|\bdebug\w*|\bregex\b|\bexcel\b|\bspreadsheet\b|\blinux\b|"
    r"\bwindows\b|\biphone\b|\bandroid\b|\blaptop\b|\bcomputer\b|\bwifi\b|"
    r"\bweather\b|\bforecast\b|\bfootball\b|\bsoccer\b|\bcricket\b|\brugby\b|\btennis\b|\bgolf\b|"
    r"\bbasketball\b|\bbaseball\b|\bnba\b|\bnfl\b|\bpremier league\b|\bworld cup\b|"
    r"\bsuper bowl\b|\bolympics\b|\bstocks?\b|\bshares\b|\bbitcoin\b|\bcrypto\w*|\binvest\w*|"
    r"\bmortgage\b|\btax(?:es)?\b|\bmovies?\b|\bfilms?\b|\btv show\b|\bnetflix\b|\bcelebrit\w*|"
    r"\bvideo games?\b|\bcapital of\b|\bpresident\b|\bprime minister\b|\belections?\b|"
    r"\bpolitic\w*|\bholiday\b|\bflights?\b|\bhotels?\b|\bvisa\b|\bjokes?\b|\briddles?\b|"
    r"\bmath\w*|\bequations?\b|\bcalculus\b|\balgebra\b|\bcar\b|\bengine\b|\bhoroscope\b|"
    r"\bdiabet\w*|\bcancer\b|\bcovid\w*|\bcoronavirus\b|\bhiv\b|\baids\b|\basthma\b|\bflu\b|"
    r"\binfluenza\b|\bmeasles\b|\bmalaria\b|\btuberculosis\b|\bhepatitis\b|\bheart disease\b|"
    r"\bkidney\w*|\balzheimer\w*|\bdementia\b|\bparkinson\w*|\bacne\b|\beczema\b|"
    r"\bwrite me\b|\bgenerate an? (?:image|picture)\b|\bdraw\b|\bclimate change\b|\bchatgpt\b"
)


_ADDRESSED_TO_AI_RE = _c(
    r"\b(?:ai|assistants?|chat ?bots?|language models?|llms?|gpts?|bots?)\b[^.!?]{0,40}?"
    r"\b(?:must|should|shall|need to|are required to|reading this|always|never)\b"
)


def looks_like_injection(text: str) -> bool:
    """Whether text contains instructions aimed at an assistant ("ignore your rules...").

    Used on retrieved passages too: a source sentence that gives orders is never quoted.
    """
    return bool(_strip_injection(text)[0]) or bool(_ADDRESSED_TO_AI_RE.search(normalise(text)))


def strip_instructions(passage: str) -> str:
    """A passage with any sentence that gives an assistant orders replaced by a marker.

    What a composer sees and what its sentences are verified against, so an instruction planted
    in a source can neither steer a model nor support a claim.
    """
    from assistant.sentences import split_passage

    out, last = [], 0
    for sentence in split_passage(passage):
        if looks_like_injection(sentence.text):
            out.append(passage[last : sentence.start] + "[instruction removed]")
            last = sentence.end
    out.append(passage[last:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Entry point


def triage(question: str, history: Sequence[Turn] = ()) -> TriageResult:
    """Decide the route for `question` (see the module docstring for the rules and priority)."""
    question = question or ""
    norm = normalise(question)

    crisis = _crisis_reason(norm)
    if crisis:
        return TriageResult(Route.crisis, f"crisis:{crisis}", False, question)
    if _history_crisis(norm, history):
        return TriageResult(Route.crisis, "crisis:history", False, question)

    emergency = _emergency_reason(norm) or (
        "emergency:poisoning" if _ACCIDENTAL_OVERDOSE_RE.search(norm) else None
    )
    if emergency:
        return TriageResult(Route.emergency, emergency, False, question)

    kinds, cleaned = _strip_injection(question)
    injection = bool(kinds)
    if injection:
        cleaned_norm = normalise(cleaned)
        injection_reason = f"injection:{kinds[0]}"
        if not cleaned or not _IN_SCOPE_RE.search(cleaned_norm):
            return TriageResult(Route.out_of_scope, injection_reason, True, cleaned)
    else:
        cleaned, cleaned_norm, injection_reason = question, norm, ""

    advice = _advice_reason(cleaned_norm) or (injection and _advice_reason(norm)) or None
    if advice:
        return TriageResult(Route.advice_boundary, advice, injection, cleaned, red_flag(norm))

    if _CREATIVE_RE.search(cleaned_norm):
        # Jokes, poems and stories are not questions the sources can answer, whatever the topic.
        return TriageResult(Route.out_of_scope, "scope:creative", injection, cleaned)
    if not _IN_SCOPE_RE.search(cleaned_norm) and _OFF_TOPIC_RE.search(cleaned_norm):
        return TriageResult(Route.out_of_scope, "scope:unrelated", injection, cleaned)

    return TriageResult(
        Route.answer,
        injection_reason or "answer",
        injection,
        cleaned,
        red_flag(norm),
        care_note(normalise(cleaned)),
    )


_CARE_TOPIC_RE = _c(
    r"\b(?:diagnos\w*|test(?:ed|ing|s)?|biops\w*|scans?|blood work|bloods|questionnaire|"
    r"exercis\w*|referr\w*|specialist|rheumatologist|neurologist|trial|trials)\b|"
    r"\b(?:have|got|get)\s+(?:fibro\w*|fms)\b"
)
_COULD_HELP_RE = _c(
    r"\b(?:could|would|will|can|does|do|should|might|may)\b[^.?!]{0,60}?\b(?:help|work|cure|fix|treat)\b"
)
_PERSONAL_DECISION_RE = _c(
    r"\b(?:should|can|could|do|shall)\s+i\b|\bi (?:already )?(?:have|got|might have|think i have)\b|"
    r"\bfor me\b|\bmy (?:doctor|gp|rheumatologist|dr|specialist)\b"
)


def care_note(norm: str) -> bool:
    """A personal decision about tests, diagnosis or treatment, or "could X help?"."""
    personal = bool(_PERSONAL_DECISION_RE.search(norm))
    topic = bool(_MED_RE.search(norm) or _CARE_TOPIC_RE.search(norm))
    asks_if_it_helps = bool(_MED_RE.search(norm) and _COULD_HELP_RE.search(norm))
    return (personal and topic) or asks_if_it_helps


_CREATIVE_RE = _c(
    r"\b(?:write|tell|compose|make up|create|give|generate|draft)\s+(?:me\s+|us\s+)?"
    r"(?:a |an |some |my |another )?(?:(?!about\b|of\b)\w+ ){0,2}?(?:jokes?|poems?|story|stories|songs?|essays?|"
    r"limericks?|raps?|haikus?|riddles?|tweets?|captions?|lyrics|speech)\b"
)

# An accidental extra dose: not a crisis (no intent) and not a dosing question to redirect,
# but a possible poisoning that needs advice now.
_ACCIDENTAL_OVERDOSE_RE = _c(
    r"\b(?:accidentally|accidently|by (?:accident|mistake)|mistakenly|without thinking)\b"
    r"[^.?!]{0,60}?\b(?:took|taken|take|swallowed|double[ds]?|extra|too (?:many|much)|twice)\b|"
    r"\b(?:took|taken|swallowed|had)\b[^.?!]{0,40}?\b(?:double|extra|too (?:many|much)|twice|two doses|"
    r"a second dose|both doses)\b[^.?!]{0,40}?\b(?:by (?:accident|mistake)|accidentally|accidently|"
    r"forgot i (?:had )?(?:already )?(?:taken|took))\b|"
    r"\b(?:forgot|forgotten) (?:that )?i (?:had )?(?:already )?(?:taken|took)\b[^.?!]{0,40}?\b(?:took|taken|"
    r"again|another|second)\b"
)


_RED_FLAG_SIGNS = (
    _CHEST_RE,
    _BREATH_RE,
    _FACE_RE,
    _SPEECH_RE,
    _WEAK_RE,
    _HEADACHE_SEVERE_RE,
    _SWELL_RE,
)


def red_flag(norm: str) -> bool:
    """A person describing a symptom that can signal an emergency, in any tense or frame.

    Such questions are answered, since the person asked about fibromyalgia, but never without
    first saying when to call emergency services.
    """
    person = bool(_FP_RE.search(norm) or _THIRD_RE.search(norm))
    if not person or _HYPO_RE.search(norm):
        return False
    return any(p.search(norm) for p in _RED_FLAG_SIGNS)
