"""The extractive composer's sentence handling (pure functions; no model needed)."""

from __future__ import annotations

from assistant.compose.extractive import Candidate, arrange, needs_context, with_context


def cand(
    text: str, offset: int, previous: tuple[tuple[str, int], ...] = (), passage: int = 0
) -> Candidate:
    return Candidate(passage, text, offset, 0.5, previous)


def test_a_pronoun_sentence_brings_the_sentence_that_names_its_subject() -> None:
    named = ("Dr Andersson of King's College London commented on the study.", 0)
    chosen = [cand("He describes fibromyalgia as autoimmune.", 70, (named,))]
    texts = [c.text for c in arrange(with_context(chosen))]
    assert texts == [named[0], "He describes fibromyalgia as autoimmune."]


def test_a_chain_of_pronouns_is_followed_back() -> None:
    first = ("Patient pages such as nidirect list further fibromyalgia symptoms.", 0)
    second = ("These include stiffness and headaches.", 70)
    chosen = [cand('They also include "fibro fog".', 110, (second, first))]
    assert [c.offset for c in with_context(chosen)] == [0, 70, 110]


def test_a_bare_pronoun_with_nothing_before_it_is_dropped() -> None:
    assert with_context([cand("It says these mice moved less.", 0)]) == []


def test_sentences_that_stand_alone_are_kept_as_they_are() -> None:
    alone = cand("The mice recovered after a few weeks.", 0)
    assert with_context([alone]) == [alone]
    assert not needs_context(alone.text)
    assert needs_context("In the paper, that finding comes from mice.")
