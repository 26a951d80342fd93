"""Emergency layer (regex): cardiac, stroke, allergic, seizure, collapse, breathing, poisoning.

Needs acute wording or a red-flag combination; habitual or hypothetical framing ("I often get
chest pain", "what should you do if someone collapses?") does not fire.
"""

from __future__ import annotations

from assistant.text.vocab import FP_RE, HYPO_RE, THIRD_RE, c

_HABITUAL_RE = c(
    r"\b(?:sometimes|often|usually|always|occasionally|regularly|frequently|constantly|"
    r"every (?:day|night|morning|time|week|month)|most days|on and off|now and then|"
    r"when(?:ever)? (?:i|im|i am|my|it)\b|during (?:a |my )?flares?|with (?:my |a )?flares?|"
    r"in (?:a |my )?flares?|for (?:years|months|weeks|ages|a while|a few (?:days|weeks|months|years)|"
    r"the (?:past|last) (?:few |couple of )?(?:days|weeks|months|years))|since (?:i|my|last|\d)|"
    r"used to|tends? to|i get|i keep getting|do you get|can you get|is it normal|is it common|"
    r"is that normal|a symptom of|symptoms? of fibro|part of (?:my )?fibro|lately|recently)\b"
)
_NOW_RE = c(
    r"\b(?:right now|just now|at the moment|currently|just started|as i type|as we speak|"
    r"(?:started|began|came on) (?:about |around )?(?:\w+ )?(?:minutes?|mins?|an hour|hour|"
    r"seconds?) ago|(?:\d+|a few|few|ten|twenty|thirty|five) (?:minutes?|mins?) ago|an hour ago|"
    r"im having|i am having|is having|keeps getting worse|getting worse by the minute|"
    r"this (?:minute|second))\b"
)
_SUDDEN_RE = c(r"\b(?:sudden|suddenly|out of nowhere|all of a sudden|out of the blue)\b")

_CHEST_RE = c(
    r"\bchest\b[^.?!]{0,25}?\b(?:pains?|pressure|tight\w*|heavy|heaviness|crushing|squeez\w*|"
    r"hurts?|hurting|aches?|aching|burning|discomfort|agony|(?:feels )?like an? (?:elephant|weight|"
    r"vice))\b|\b(?:crushing|squeezing|heavy|tight|severe|stabbing)\s+(?:\w+\s+)?(?:in|on|across) "
    r"(?:my|the|his|her) chest\b"
)
_CHEST_SEVERE_RE = c(
    r"\b(?:crushing|squeezing|elephant|vice|like a weight|like (?:a|an) (?:heart attack)|"
    r"worst (?:pain|chest))\b"
)
_HEART_ATTACK_RE = c(
    r"\b(?:am i|im|i am|i think im|i think i am|is (?:he|she|my \w+)|hes|shes|think (?:i|he|she)s?"
    r"(?: is| am)?|(?:is|could) (?:this|it) (?:be )?)\s*(?:having )?an? heart attack\b|"
    r"\bfeels? like (?:im having )?an? heart attack\b"
)
_RADIATE_RE = c(
    r"\b(?:left |right )?(?:arm|arms|hand)\b[^.?!]{0,20}?\b(?:numb\w*|tingl\w*|heavy|dead|weak|"
    r"pins and needles)\b|"
    r"\b(?:numb\w*|tingl\w*|pins and needles)\b[^.?!]{0,15}?\b(?:left |right )?(?:arm|jaw)\b|"
    r"\b(?:jaw|neck)\b[^.?!]{0,15}?\b(?:pain|aches?|aching|hurts?|tight\w*|numb\w*)\b|"
    r"\b(?:spread\w*|radiat\w*|shoot\w*|moving|going|travell?ing)\b[^.?!]{0,12}?\b(?:down|into|up|to)"
    r"\s+(?:my |his |her |the )?(?:left |right )?(?:arm|jaw|neck|shoulder|back)\b"
)
_BREATH_RE = c(
    r"\b(?:cant|cannot|can not|struggling to|hard to|trouble|difficulty|unable to|barely)\s+"
    r"(?:breathe|breath|breathing|catch (?:my|his|her) breath|get (?:my |a )?breath)\b|"
    r"\bshort(?:ness)? of breath\b|\bbreathless\w*|\bgasping\b|\bout of breath\b"
)
_BREATH_SEVERE_RE = c(
    r"\b(?:cant|cannot|can not|unable to|struggling to|barely)\s+(?:breathe|breath)\b|"
    r"\bgasping for (?:air|breath)\b|\b(?:is |are |im |shes |hes )?choking\b|"
    r"\b(?:lips|face|skin) (?:are |is |have |has )?(?:turning |turned |gone |going )?blue\b"
)
_SWEAT_RE = c(
    r"\b(?:sweat\w*|clammy|cold sweat|nause\w*|vomit\w*|throw(?:ing)? up|being sick|lightheaded|"
    r"light headed|about to (?:pass out|faint))\b"
)

_FACE_RE = c(
    r"\b(?:face|mouth|smile|lip)\b[^.?!]{0,20}?\b(?:droop\w*|dropp\w*|fallen|sagg\w*|lopsided|"
    r"numb on one side|(?:gone|went) (?:numb|weak) on one side)\b|"
    r"\bdroop\w* (?:face|mouth|smile|eyelid)\b|"
    r"\b(?:half|one side) of (?:my|his|her) face\b[^.?!]{0,20}?\b(?:numb|droop\w*|wont move|cant move|"
    r"paralys\w*|weak|dropped|fallen)\b"
)
_SPEECH_RE = c(
    r"\bslurr\w*|\b(?:speech|talking|words)\b[^.?!]{0,20}?\b(?:slurred|garbled|jumbled|"
    r"not coming out|wont come out)\b|\b(?:cant|cannot|can not) (?:speak|talk)\b"
)
_WEAK_RE = c(
    r"\b(?:one side|left side|right side|half) of (?:my|his|her) (?:body|face)\b[^.?!]{0,25}?"
    r"\b(?:numb|weak|paralys\w*|dead|wont move|cant move|not working|gone)\b|"
    r"\b(?:cant|cannot|can not|unable to) (?:move|lift|feel|use) (?:my |his |her )?(?:left|right) "
    r"(?:arm|leg|hand|side|foot)\b|"
    r"\b(?:left|right) (?:arm|leg|hand|side)\b[^.?!]{0,20}?\b(?:paralys\w*|wont move|gone limp|"
    r"went limp|is limp|gone dead|collapsed)\b"
)
_HEADACHE_SEVERE_RE = c(
    r"\bworst headache (?:of (?:my|his|her) life|(?:i|ive|i have|shes|hes) ever had|ever)\b|"
    r"\bthunderclap\b|"
    r"\bsudden (?:severe |splitting |excruciating |blinding |explosive |agonising |agonizing )?"
    r"headache\b|\bheadache\b[^.?!]{0,20}?\b(?:came on suddenly|out of nowhere|like (?:a|being) "
    r"(?:hit|kicked|struck))\b"
)
_STROKE_Q_RE = c(
    r"\b(?:am i|im|i am|i think im|i think i am|is (?:he|she|my \w+)|hes|shes|"
    r"think (?:hes|shes|he is|she is|im|i am|i m)|(?:is|could) (?:this|it) (?:be )?)\s*"
    r"(?:having )?an? (?:mini[- ]?)?stroke\b|\bsigns of (?:a )?stroke (?:right )?now\b"
)

_SWELL_RE = c(
    r"\b(?:throat|tongue|lips?|mouth|airway)\b[^.?!]{0,20}?\b(?:swell\w*|swollen|closing|"
    r"tight\w*|puff\w*)\b|\b(?:swell\w*|swollen) (?:throat|tongue|lips?)\b"
)
_ANAPH_NOW_RE = c(
    r"\b(?:having|going into|gone into|in|into|is this|think (?:im|i am|its|this is|hes|shes)"
    r"(?: having)?)\s+(?:an?\s+)?(?:anaphyla\w*|allergic (?:reaction|shock)|severe allergic)"
)
_ALLERGY_CTX_RE = c(
    r"\b(?:hives|rash|welts|itch\w*|anaphyla\w*|allergic|allergy|reaction|epi ?pen|"
    r"after (?:taking|starting|eating|i took|the first dose)|(?:new|first) (?:dose|tablet|pill|"
    r"medication|medicine))\b"
)

_COLLAPSE_RE = c(
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
_SEIZURE_RE = c(
    r"\b(?:im|i am|is|hes|shes|theyre|currently|still)\s+(?:having|in) (?:a |another )?"
    r"(?:seizure|fit|convulsion)s?\b|\bjust had (?:a |another )?(?:seizure|fit|convulsion)\b|"
    r"\b(?:having|had) (?:a |another )?(?:seizure|fit|convulsion) (?:right )?now\b|"
    r"\b(?:seizing|convulsing)\b|\bfitting (?:right )?now\b"
)
_GENERAL_Q_RE = c(
    r"^\W*(?:does|do|can|could|is|are|was|were|what|whats|why|how|which|when|where|who|should|"
    r"would|will|in|for|according|tell me|explain|list|compare|describe|any|anyone|has|have)\b"
)
_HEAD_INJURY_RE = c(
    r"\b(?:hit|banged|bumped|knocked|smashed|cracked) (?:my|his|her|their) head\b"
    r"(?=[^.?!]*\b(?:vomit\w*|being sick|throwing up|confus\w*|drowsy|knocked out|unconscious|"
    r"passed out|blacked out|seizure|bleeding|wont wake)\b)"
)
_CALL_RE = c(
    r"\bshould (?:i|we) (?:call|ring|phone) (?:for )?(?:an ambulance|999|911|112)\b|"
    r"\bcall(?:ing)? (?:an ambulance|999|911|112) (?:now|right now)\b"
)


def emergency_reason(norm: str) -> str | None:
    # Someone present (first or third person), or a telegraphic symptom report ("sudden crushing
    # chest pain, left arm numb") rather than a general question ("can fibro cause chest pain?").
    # Without a person, keyword lists ("chest pain, breathlessness: fibro?") need acute wording.
    person = bool(FP_RE.search(norm) or THIRD_RE.search(norm))
    if not person and _GENERAL_Q_RE.search(norm):
        return None
    habitual = bool(_HABITUAL_RE.search(norm))
    now = bool(_NOW_RE.search(norm))
    sudden = bool(_SUDDEN_RE.search(norm))
    if not person and not (now or (sudden and not habitual) or _CHEST_SEVERE_RE.search(norm)):
        return None
    hypothetical = bool(HYPO_RE.search(norm))
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


# An accidental extra dose: not a crisis (no intent) and not a dosing question to redirect,
# but a possible poisoning that needs advice now.
_ACCIDENTAL_OVERDOSE_RE = c(
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
    person = bool(FP_RE.search(norm) or THIRD_RE.search(norm))
    if not person or HYPO_RE.search(norm):
        return False
    return any(p.search(norm) for p in _RED_FLAG_SIGNS)


def poisoning_reason(norm: str) -> str | None:
    """An accidental extra dose: no intent, so not a crisis, but advice is needed now."""
    return "emergency:poisoning" if _ACCIDENTAL_OVERDOSE_RE.search(norm) else None
