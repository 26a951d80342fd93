"""Text normalisation shared by every triage layer.

Patterns are written for families of phrasings on a normalised text (lower case, straight quotes,
apostrophes dropped so "can't" == "cant", whitespace collapsed, a few patient spellings mapped).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["WS_RE", "looks_spanish", "normalise", "soft_normalise"]

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
WS_RE = re.compile(r"\s+")


def soft_normalise(text: str) -> str:
    """Unicode-normalise, straighten quotes and collapse whitespace; keep case and apostrophes."""
    text = unicodedata.normalize("NFKC", text or "").translate(_TRANSLATE)
    return WS_RE.sub(" ", text).strip()


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
    text = soft_normalise(text).lower().replace("'", "")
    return _TOKEN_RE.sub(lambda m: _SPELLINGS.get(m.group(0), m.group(0)), text)


# Frequent Spanish function words that are rare in English messages.
_SPANISH = frozenset(
    [
        "que",
        "no",
        "me",
        "mi",
        "mis",
        "el",
        "la",
        "los",
        "las",
        "de",
        "del",
        "y",
        "por",
        "para",
        "con",
        "estoy",
        "quiero",
        "puedo",
        "tengo",
        "siento",
        "nadie",
        "nada",
        "ya",
        "mas",
        "más",
        "esta",
        "está",
        "este",
        "esto",
        "todo",
        "todos",
        "cuando",
        "porque",
        "pero",
        "muy",
        "hoy",
        "vida",
        "dolor",
        "ayuda",
        "hijo",
        "hija",
        "madre",
        "padre",
        "tomé",
        "tome",
        "pastillas",
    ]
)


def looks_spanish(text: str) -> bool:
    """Whether a message is probably written in Spanish (so help can be offered in Spanish too)."""
    words = re.findall(r"[a-záéíóúñü]+", text.lower())
    if len(words) < 2:
        return False
    hits = sum(w in _SPANISH for w in words)
    return hits >= 2 and hits / len(words) >= 0.25
