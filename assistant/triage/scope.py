"""Scope layer (regex): fibromyalgia vocabulary, clearly unrelated topics, creative requests."""

from __future__ import annotations

from assistant.text.vocab import MED_NAMES, TREATMENTS, c

_IN_SCOPE_RE = c(
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
    rf"\b{MED_NAMES}\b|\b{TREATMENTS}\b|\bmedicat\w*|\bmedicines?\b|\bpills?\b|\btablets?\b"
)
_OFF_TOPIC_RE = c(
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


_CREATIVE_RE = c(
    r"\b(?:write|tell|compose|make up|create|give|generate|draft)\s+(?:me\s+|us\s+)?"
    r"(?:a |an |some |my |another )?(?:(?!about\b|of\b)\w+ ){0,2}?(?:jokes?|poems?|story|stories|songs?|essays?|"
    r"limericks?|raps?|haikus?|riddles?|tweets?|captions?|lyrics|speech)\b"
)


def in_scope(norm: str) -> bool:
    """Whether the normalised text uses fibromyalgia, pain, research or medicine vocabulary."""
    return bool(_IN_SCOPE_RE.search(norm))


def scope_reason(norm: str) -> str | None:
    """``scope:creative`` or ``scope:unrelated`` for requests the sources cannot answer."""
    if _CREATIVE_RE.search(norm):
        # Jokes, poems and stories are not questions the sources can answer, whatever the topic.
        return "scope:creative"
    if not _IN_SCOPE_RE.search(norm) and _OFF_TOPIC_RE.search(norm):
        return "scope:unrelated"
    return None
