"""Advice-boundary layer (regex): personal dosing, start/stop/switch/combine, prescribing.

Also `care_note`: a personal decision about tests, diagnosis or treatment that is answered but
closed with a word about the clinician.
"""

from __future__ import annotations

from assistant.text.vocab import MED, MED_NAMES, alt, c

_ACTION = alt(
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
_DECIDE = alt(
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
_WEAK_ACTION = alt(
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
_ADVICE_DECIDE_RE = c(
    rf"\b{_DECIDE}\s+(?:\w+\s+){{0,2}}?(?:(?!{_WEAK_ACTION}\b){_ACTION}\b(?:\s+\S+){{0,4}}?"
    rf"|{_WEAK_ACTION}\b(?:\s+\S+){{0,2}}?)\s*\b{MED}\b"
)
_PERSONAL_RE = c(r"\b(?:i|im|ive|id|me|my|we|our|us)\b")
_ADVICE_DOSE_RE = c(
    r"\bhow (?:much|many)\b[^.?!]{0,40}?\b(?:should|can|do|could|shall|must|would|may) "
    r"(?:i|we|my \w+)\b|"
    r"\b(?:what|which|right|correct|best|max(?:imum)?|safe|starting|ideal) (?:dose|dosage|amount|"
    r"strength)\b[^.?!]{0,30}?\b(?:for me|should i|do i|can i|i should|would i|for my)\b|"
    r"\b(?:is|are|would) (?:my (?:dose|dosage)|\d+ ?(?:mg|milligrams?|tablets?|pills?))\b[^.?!]{0,30}?"
    r"\b(?:too (?:much|high|low|little)|enough|safe|ok|okay|right|a lot)\b|"
    r"\b(?:what|which|how much) (?:dose|dosage|amount|strength)\b[^.?!]{0,30}?\bto take\b|"
    r"\b(?:accidentally|by mistake|mistakenly)\b[^.?!]{0,30}?\b(?:double|extra|two|second) (?:dose|doses|"
    r"tablets?|pills?)\b|\b(?:double|extra) dose\b[^.?!]{0,30}?\b(?:by mistake|accidentally)\b|"
    r"\bi (?:missed|forgot) (?:a |my |to take my )(?:dose|tablet|pill|" + MED_NAMES + r")"
)
_ADVICE_PERSONAL_RE = c(
    rf"\b(?:right|best|good|safe|ok|okay|suitable|worth (?:it|trying)|appropriate|better|"
    rf"dangerous|bad)\b[^.?!]{{0,12}}?\bfor me\b(?=[^.?!]*\b{MED}\b)|"
    rf"\b{MED}\b[^.?!]{{0,40}}?\b(?:right|best|good|safe|ok|okay|suitable|worth (?:it|trying)|"
    r"appropriate|better|dangerous|bad) for me\b|"
    rf"\bi\b[^.?!]{{0,40}}?\b(?:stopped|quit|came off|went off|ran out of|weaned off|tapered off)\s+"
    rf"(?:taking\s+)?(?:my\s+|the\s+)?{MED}\b|"
    rf"\b(?:would|do|could) you (?:recommend|suggest|advise)\s+(?:me\s+)?(?:\w+\s+){{0,2}}?{MED}\b"
)
# "my dr put me on pregabalin ... should i come off it": the medicine is named earlier, so this
# only counts when a medicine appears somewhere in the message.
# Getting a prescription-only treatment around the prescriber.
_ADVICE_OBTAIN_RE = c(
    r"\b(?:get|buy|obtain|order|purchase)\b[^.?!]{0,50}?\b(?:without (?:a |my )?"
    r"(?:prescription|doctor|gp|prescriber)|over the counter|off the (?:internet|dark web)|online)\b"
)
_ADVICE_COME_OFF_RE = c(
    r"\bshould (?:i|we) (?:come off|go off|stop|quit|keep taking|continue|taper|wean off|"
    r"switch from|cut down)\b"
)
# "which antidepressant should i take", "what do you think i should do about my meds": needs a
# medicine or treatment word in the same sentence.
_ADVICE_WHICH_RE = c(
    r"\b(?:which|what) (?:\w+ ){0,3}?(?:should i|i should)(?: (?:do|take|try|use|start|get|go on|"
    r"be on|switch to|choose|pick|ask for)\b|\s*(?:[.?!]|$))|"
    r"\b(?:which|what) (?:\w+ ){0,3}?(?:would you recommend|do you recommend)|"
    r"\b(?:is|are) (?:best|right) for me\b"
)
_MED_RE = c(rf"\b{MED}\b")
_ADVICE_PRESCRIBER_RE = c(
    r"\b(?:can|could|will|would|should|does|do|might|may)\s+(?:my|the|a|your|our)\s+(?:gp|doctor|dr|"
    r"rheumatologist|consultant|specialist|neurologist|physician|clinic|nhs|pain clinic|nurse)\b"
    r"[^.?!]{0,40}?\b(?:prescribe|give me|put me on|offer me|refer me|try me on|start me on|"
    r"get me)\b|"
    r"\boff[- ]?label\b(?=[^.?!]*\b(?:i|me|my)\b)|(?<=\bmy\b)[^.?!]{0,40}\boff[- ]?label\b"
)
_ADVICE_CARE_RE = c(
    r"\b(?:should (?:i|we)|shall i|do i need to|would you (?:recommend|advise|suggest)(?: that)? i|"
    r"do you (?:think|recommend)(?: that)? i)\s+(?:\w+\s+){0,2}?(?:switch|change|find|get|see|go to|"
    r"ask for|leave|ditch|fire|trust|listen to|believe|push for|demand|refer\w*)\b"
    r"[^.?!]{0,30}?\b(?:doctors?|gps?|rheumatologists?|specialists?|consultants?|neurologists?|"
    r"pain clinic|second opinion|referral|physio\w*|psychologist|therapist|clinic|a&e|er)\b"
)
_ADVICE_CLINICAL_RE = c(
    r"\b(?:my|our) (?:fm |fms |fibro |fibromyalgia |chronic pain )?(?:patients?|clients?|caseload)\b"
    rf"(?=[^.?!]*\b(?:{_ACTION})\b)(?=[^.?!]*\b{MED}\b|[^.?!]*\brefer)|"
    r"\b(?:should|would you recommend|do you recommend)[^.?!]{0,30}?\b(?:refer|prescribe|start)"
    r"\w*\b[^.?!]{0,40}?\b(?:my |our )?(?:fm |fms |fibro |fibromyalgia )?(?:patients?|clients?)\b"
)

_STOP_WORDS_RE = c(
    r"\b(?:stop\w*|quit\w*|come off|coming off|go off|going off|get off|getting off|wean\w*|"
    r"taper\w*|cut(?:ting)? (?:down|back)|ditch\w*|came off|went off|ran out)\b"
)
_SWITCH_WORDS_RE = c(r"\b(?:switch\w*|chang\w*|replac\w*|instead)\b")
_COMBINE_WORDS_RE = c(r"\b(?:combin\w*|mix\w*|with|alongside|together|drink\w*|alcohol)\b")


def _sentence_of(text: str, start: int, end: int) -> str:
    """The sentence of `text` that holds text[start:end]."""
    left = max(text.rfind(ch, 0, start) for ch in ".?!;") + 1
    rights = [i for i in (text.find(ch, end) for ch in ".?!;") if i != -1]
    return text[left : min(rights) if rights else len(text)]


def advice_reason(norm: str) -> str | None:
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
        personal = _ADVICE_PERSONAL_RE.search(norm)
        if personal:
            span = personal.group(0)
    if _ADVICE_OBTAIN_RE.search(norm) and _MED_RE.search(norm):
        return "advice:obtain_medication"
    if not span:
        come_off = _ADVICE_COME_OFF_RE.search(norm)
        if come_off and _MED_RE.search(norm):
            span = come_off.group(0)
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


_CARE_TOPIC_RE = c(
    r"\b(?:diagnos\w*|test(?:ed|ing|s)?|biops\w*|scans?|blood work|bloods|questionnaire|"
    r"exercis\w*|referr\w*|specialist|rheumatologist|neurologist|trial|trials)\b|"
    r"\b(?:have|got|get)\s+(?:fibro\w*|fms)\b"
)
_COULD_HELP_RE = c(
    r"\b(?:could|would|will|can|does|do|should|might|may)\b[^.?!]{0,60}?\b(?:help|work|cure|fix|treat)\b"
)
_PERSONAL_DECISION_RE = c(
    r"\b(?:should|can|could|do|shall)\s+i\b|\bi (?:already )?(?:have|got|might have|think i have)\b|"
    r"\bfor me\b|\bmy (?:doctor|gp|rheumatologist|dr|specialist)\b"
)


def care_note(norm: str) -> bool:
    """A personal decision about tests, diagnosis or treatment, or "could X help?"."""
    personal = bool(_PERSONAL_DECISION_RE.search(norm))
    topic = bool(_MED_RE.search(norm) or _CARE_TOPIC_RE.search(norm))
    asks_if_it_helps = bool(_MED_RE.search(norm) and _COULD_HELP_RE.search(norm))
    return (personal and topic) or asks_if_it_helps
