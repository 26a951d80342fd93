"""Masking: what leaves the process or is stored about a patient's words is masked first.

Patients write about their health and sometimes add an e-mail address or phone number. Before
a question, answer or comment is exported (tracing) or stored (feedback), `mask` replaces
e-mail addresses, phone numbers, URLs carrying tokens or keys, and long digit runs (record,
card and insurance numbers) with placeholders. It walks strings, lists, tuples and dicts, because
tracing libraries hand it whatever they are about to send.
"""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A URL whose query or fragment carries something secret-looking (token=, key=, sig=...).
_TOKEN_URL = re.compile(
    r"https?://[^\s\"'<>]*[?#&](?:[^\s\"'<>]*?)"
    r"(?:token|key|secret|sig|signature|auth|session|code|password|pwd)=[^\s\"'<>]+",
    re.IGNORECASE,
)
# Phone numbers: an optional +country code, then 7 or more digits with spaces, dots, dashes or
# brackets between them ("+44 20 7946 0958", "(555) 123-4567").
_PHONE = re.compile(
    r"(?<![\w])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d(?:[\s.-]?\d){6,}(?![\w])"
)
_LONG_DIGITS = re.compile(r"\d{9,}")

EMAIL = "[email]"
PHONE = "[phone]"
URL = "[url]"
NUMBER = "[number]"


def mask_text(text: str) -> str:
    """The text with e-mails, token URLs, phone numbers and long digit runs replaced."""
    text = _TOKEN_URL.sub(URL, text)
    text = _EMAIL.sub(EMAIL, text)
    text = _PHONE.sub(_phone_or_year, text)
    return _LONG_DIGITS.sub(NUMBER, text)


def _phone_or_year(match: re.Match[str]) -> str:
    # "2016 2021" or "2010-2016" are years, not a phone number: keep runs of years.
    digits = re.sub(r"\D", "", match.group(0))
    groups = re.findall(r"\d+", match.group(0))
    if all(len(g) == 4 and g[:2] in ("19", "20") for g in groups) and len(digits) % 4 == 0:
        return match.group(0)
    return PHONE


def mask(value: Any) -> Any:
    """`mask_text` applied to every string inside `value` (strings, lists, tuples, dicts)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, tuple):
        return tuple(mask(item) for item in value)
    return value
