"""Which answer sentences may state a dose figure.

A dose quoted out of context is one of the ways a true sentence misleads: "the maximum dose for
fibromyalgia is 450 mg per day" is right for one medicine and wrong for every other. So:

- an answer on the advice route (the person asked about their own medicine) states no dose
  figure at all: the redirect to the prescriber is the answer;
- elsewhere a sentence with a dose figure is shown only when it names its medicine, and that
  medicine is one the question asks about (or the question names none).
"""

from __future__ import annotations

import re

from assistant.models import Route
from assistant.text.normalise import normalise
from assistant.text.vocab import MED_NAMES

__all__ = ["DOSE_RE", "dose_allowed", "medicines_in", "states_dose"]

DOSE_RE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:-|to|–)?\s*(?:\d+(?:[.,]\d+)?\s*)?"
    r"(?:mg|mcg|µg|micrograms?|milligrams?|grams?|g|ml|millilitres?|milliliters?|units?|iu|"
    r"tablets?|capsules?|pills?|drops?|puffs?)\b(?:\s*(?:/|per|a|each)\s*(?:day|dose|kg|night))?",
    re.IGNORECASE,
)
# Brand and generic names of one medicine count as the same medicine.
_SAME = {
    "lyrica": "pregabalin",
    "neurontin": "gabapentin",
    "cymbalta": "duloxetine",
    "savella": "milnacipran",
    "amitryptiline": "amitriptyline",
    "flexeril": "cyclobenzaprine",
    "oxycontin": "oxycodone",
    "tylenol": "paracetamol",
    "acetaminophen": "paracetamol",
    "valium": "diazepam",
    "ldn": "naltrexone",
    "iv ig": "ivig",
    "immunoglobulin": "ivig",
    "immunoglobulins": "ivig",
}
_MED_NAME_RE = re.compile(rf"\b(?:{MED_NAMES}|ivig|iv ?ig|immunoglobulins?)\b")
_GENERIC = frozenset(
    {"opioid", "opioids", "opiate", "opiates", "nsaid", "nsaids", "benzo", "benzos"}
)


def states_dose(text: str) -> bool:
    """Whether the text gives a dose figure ("450 mg per day", "2 tablets")."""
    return bool(DOSE_RE.search(text))


def medicines_in(text: str) -> set[str]:
    """Named medicines in the text, brand names folded into their generic names."""
    names = set()
    for match in _MED_NAME_RE.finditer(normalise(text)):
        word = match.group(0)
        if word in _GENERIC or word.startswith(("antidepressant", "ssri", "snri", "sleeping")):
            continue
        names.add(_SAME.get(word, word.split()[0]))
    return names


def dose_allowed(sentence: str, question: str, route: Route) -> bool:
    """Whether `sentence` may appear in an answer to `question` on `route` (see module doc)."""
    if not states_dose(sentence):
        return True
    if route == Route.advice_boundary:
        return False
    named = medicines_in(sentence)
    if not named:
        return False
    asked = medicines_in(question)
    return not asked or bool(named & asked)
