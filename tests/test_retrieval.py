"""Hybrid retrieval over the real corpus index: coverage, source diversity, follow-ups."""

from __future__ import annotations

from collections import Counter

import pytest

from assistant.models import Route, Turn

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "question",
    [
        "Is fibromyalgia hereditary?",
        "does diet help fibromyalgia",
        "What is the best brand of running shoes for fibromyalgia?",
    ],
)
def test_questions_the_sources_do_not_cover_get_no_evidence(corpus_pipeline, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = corpus_pipeline.answer(question)
    assert answer.route is Route.no_evidence
    assert answer.citations == []


@pytest.mark.parametrize(
    "question",
    [
        "whats fibro fog",
        "Can children get fibromyalgia?",
        "is fibro genetic",
        "how do you diagnose FMS",
        "what are the antibdies in fibro",  # typo
        "This pain is killing me, what actually helps with fibro pain",
    ],
)
def test_covered_questions_are_answered(corpus_pipeline, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = corpus_pipeline.answer(question)
    assert answer.route is Route.answer, answer.answer
    assert answer.citations


def test_no_source_fills_more_than_two_passages(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    retrieval = corpus_pipeline.retriever.retrieve("What did the King's College press release say?")
    counts = Counter(p.chunk.source_id for p in retrieval.passages)
    assert max(counts.values()) <= corpus_pipeline.settings.max_chunks_per_source


def test_treatment_questions_reach_the_guidelines(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    for question in ("how is fibromyalgia treated", "what is the best first treatment for fibro?"):
        topics = {
            t
            for p in corpus_pipeline.retriever.retrieve(question).passages[:5]
            for t in p.chunk.topics
        }
        assert "fms_management" in topics, question


def test_follow_up_keeps_the_subject_of_the_conversation(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    history = [
        Turn(
            role="user", content="Did the Seefried study find antibodies in fibromyalgia patients?"
        ),
        Turn(role="assistant", content="Yes, in a subgroup of patients."),
    ]
    passages = corpus_pipeline.retriever.retrieve("and was that in all of them?", history).passages
    # Summaries name the study in every sentence about it, wherever it is discussed.
    assert any("Seefried" in p.chunk.text for p in passages[:5])


def test_examples_retrieve_an_expected_topic_in_the_top_5(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    """Issue 4's bar: >= 90% of the shipped examples that expect sources hit one in the top 5."""
    from evals.cases import CASES_DIR, load_suite

    # Crisis resources back the fixed safety replies and are never retrieved, by design.
    cases = [
        c
        for c in load_suite(CASES_DIR / "examples.jsonl")
        if set(c.expected_sources) - {"safety_crisis"}
    ]
    hits = []
    for case in cases:
        passages = corpus_pipeline.retriever.retrieve(case.question).passages[:5]
        expected = set(case.expected_sources)
        hits.append(any(expected & ({p.chunk.source_id} | set(p.chunk.topics)) for p in passages))
    rate = sum(hits) / len(cases)
    missed = [c.id for c, hit in zip(cases, hits, strict=True) if not hit]
    print(f"examples with an expected topic in the top 5: {sum(hits)}/{len(cases)} = {rate:.2f}")
    assert rate >= 0.9, missed
