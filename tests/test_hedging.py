"""Hedges come from source metadata, in code: mouse findings and press-release claims."""

from __future__ import annotations

import re

import pytest

from assistant.hedge import ANIMAL_HEDGE, PRESS_RELEASE_HEDGE, attribute_to_press_release
from assistant.models import Route

pytestmark = pytest.mark.slow


def test_press_release_only_claims_are_attributed(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    questions = [
        "How did the King's College researchers describe the IoPPN study in their announcement?",
        "What did Dr David Andersson say about the study?",
        "Did the mice given fibromyalgia antibodies recover?",
    ]
    reached = 0
    for question in questions:
        answer = corpus_pipeline.answer(question)
        release = {c.n for c in answer.citations if c.source_type == "press_release"}
        reached += bool(release)
        for sentence in re.split(r"(?<=[.!?])\s+", answer.answer):
            numbers = {int(n) for n in re.findall(r"\[(\d+)\]", sentence)}
            if numbers and numbers <= release:
                assert "press release" in sentence.lower(), sentence
        if release:
            assert PRESS_RELEASE_HEDGE in answer.hedges and PRESS_RELEASE_HEDGE in answer.answer
    assert reached, "none of the questions reached the press release itself"


def test_animal_evidence_brings_the_mouse_hedge(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    answer = corpus_pipeline.answer("Did the mice get better after the antibodies cleared?")
    assert any(c.evidence == "animal" for c in answer.citations)
    assert ANIMAL_HEDGE in answer.hedges and answer.answer.endswith(answer.hedges[-1])


def test_human_only_answers_carry_no_mouse_hedge(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    answer = corpus_pipeline.answer("How common is fibromyalgia in the general population?")
    assert answer.route is Route.answer
    if all(c.evidence != "animal" for c in answer.citations):
        assert ANIMAL_HEDGE not in answer.hedges


def test_the_paper_is_preferred_to_the_release(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    answer = corpus_pipeline.answer("Is fibromyalgia an autoimmune disease now?")
    first = answer.citations[0]
    assert first.source_type != "press_release", first


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            "Furthermore, the mice recovered after a few weeks.",
            "According to the press release, the mice recovered after a few weeks.",
        ),
        ("IoPPN led the work.", "According to the press release, IoPPN led the work."),
        ("We found antibodies.", "The press release quotes: \u201cWe found antibodies.\u201d"),
    ],
)
def test_attribution_wording(sentence: str, expected: str) -> None:
    assert attribute_to_press_release(sentence) == expected
