"""The sentence splitter's abbreviation check looks back a bounded window, with the same result
as searching the whole text before each full stop (which made splitting quadratic)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.sentences import ABBREVIATIONS, WORD_WINDOW, is_abbreviation, split_sentences


def unbounded(text: str, dot: int) -> bool:
    """The check as it was: the word before the dot, searched in all the text before it."""
    if text[dot] != ".":
        return False
    word = re.search(r"([A-Za-z][A-Za-z.]*)$", text[:dot])
    if not word:
        return False
    token = word.group(1).lower().rstrip(".")
    if token in ABBREVIATIONS:
        return True
    return len(token) == 1 or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", token))


PIECES = st.sampled_from(
    [
        "Dr",
        "e.g",
        "U.K",
        "A",
        "et al",
        "vs",
        "Goebel",
        "mice",
        " ",
        ". ",
        ".",
        "é",
        "2021",
        "x" * 70,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_the_window_decides_as_the_whole_text_did(text: str) -> None:
    for dot, char in enumerate(text):
        if char == ".":
            assert is_abbreviation(text, dot) == unbounded(text, dot), (text, dot)


def test_a_word_longer_than_the_window_ends_its_sentence() -> None:
    long_word = "a" * (WORD_WINDOW + 10)
    sentences = split_sentences(f"It was {long_word}. The mice recovered.")
    assert [s.text for s in sentences] == [f"It was {long_word}.", "The mice recovered."]


def test_initials_and_abbreviations_still_do_not_end_a_sentence() -> None:
    text = "Goebel A. et al. showed it in 2021. The U.K. team used mice. Dr. Smith agreed."
    assert [s.text for s in split_sentences(text)] == [
        "Goebel A. et al. showed it in 2021.",
        "The U.K. team used mice.",
        "Dr. Smith agreed.",
    ]
