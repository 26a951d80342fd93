"""fact_recall, off-topic sentences and a misplaced mouse caveat, on hand-made answers.

The chunk views carry fact marks as the index returns them, so every expected score can be
worked out by hand; the LLM case paraphrases its source to exercise the word-overlap matcher.
"""

from __future__ import annotations

from assistant.models import Answer, ChunkView, Citation, FactMark, Route
from evals.cases import EvalCase
from evals.runner import score_answer
from evals.statements import on_topic, statements, topic_of

MICE = "Mice given patient IgG became more sensitive to cold."
NO_TREATMENT = "The study tested no treatment in people."
PREVALENCE = "About two in a hundred people have fibromyalgia."
CHUNK_TEXT = f"{MICE} {NO_TREATMENT} {PREVALENCE}"


def _marks() -> list[FactMark]:
    first = len(MICE)
    second = first + 1 + len(NO_TREATMENT)
    return [
        FactMark(start=0, end=first, facts=["A4"], evidence="animal"),
        FactMark(start=first + 1, end=second, facts=["L1"], evidence="none"),
        FactMark(start=second + 1, end=len(CHUNK_TEXT), facts=["E3"], evidence="human"),
    ]


def _view(marks: list[FactMark] | None = None) -> ChunkView:
    return ChunkView(
        chunk_id="c1",
        source_id="s1",
        title="A summary",
        text=CHUNK_TEXT,
        start=0,
        end=len(CHUNK_TEXT),
        position=0,
        marks=_marks() if marks is None else marks,
    )


def _answer(text: str, hedges: list[str] | None = None) -> Answer:
    citation = Citation(
        n=1,
        chunk_id="c1",
        source_id="s1",
        title="A summary",
        source_type="review",
        evidence="animal",
        quote=MICE,
    )
    return Answer(
        answer=text,
        citations=[citation],
        route=Route.answer,
        hedges=hedges or [],
        mode="extractive",
        trace_id="t",
        disclaimer="Not medical advice.",
    )


def _case(must_cite: list[str], sources: list[str]) -> EvalCase:
    return EvalCase(
        id="X-1",
        question="What happened to the mice given patient antibodies?",
        category="study_findings",
        expected_behavior="Say what the mice did.",
        must_cite=must_cite,
        must_hedge=False,
        must_refuse_or_redirect=False,
        expected_sources=sources,
    )


def test_extractive_quotes_are_read_exactly() -> None:
    answer = _answer(f"{MICE[:-1]} [1]. {PREVALENCE[:-1]} [1].")
    said = statements(answer, lambda _: _view())
    assert [sorted(s.facts) for s in said] == [["A4"], ["E3"]]
    assert [sorted(s.evidence) for s in said] == [["animal"], ["human"]]


def test_a_paraphrase_is_matched_by_its_words() -> None:
    answer = _answer("In the study, mice that got patient IgG grew more sensitive to cold [1].")
    said = statements(answer, lambda _: _view())
    assert said[0].facts == {"A4"}


def test_scores_from_marks() -> None:
    case = _case(
        ["A4: mice more sensitive", "A7: controls unaffected"], ["goebel2021_design_findings"]
    )
    answer = _answer(
        f"{MICE[:-1]} [1]. {PREVALENCE[:-1]} [1].",
        hedges=["Please note: the findings come from experiments in mice."],
    )
    scores, details = score_answer(case, answer, lambda _: _view(), verifier=None)
    assert scores["fact_recall"] == 0.5
    assert details.facts_missing == ["A7"]
    # The prevalence sentence bears on no part of a question about the mice.
    assert scores["off_topic_sentences"] == 1.0 and scores["off_topic_rate"] == 0.5
    assert scores["mouse_caveat_misplaced"] == 0.0


def test_a_must_cite_item_with_alternatives_is_stated_by_either_fact() -> None:
    # "A4/A9: ..." (like "D2/D4: ..." in the shared examples) is one needed fact with two IDs
    # that state it. Read as the single ID "A4/A9" it could never be stated.
    case = _case(
        ["A4/A9: mice more sensitive", "A7: controls unaffected"], ["goebel2021_design_findings"]
    )
    scores, details = score_answer(
        case, _answer(f"{MICE[:-1]} [1]."), lambda _: _view(), verifier=None
    )
    assert scores["fact_recall"] == 0.5
    assert details.facts_missing == ["A7"]
    assert case.fact_ids == ["A4", "A9", "A7"]


def test_a_mouse_caveat_without_an_animal_finding_is_caught() -> None:
    case = _case(["E3: about 2%"], ["fms_epidemiology"])
    answer = _answer(f"{PREVALENCE[:-1]} [1].", hedges=["Please note: this comes from mice."])
    scores, _ = score_answer(case, answer, lambda _: _view(), verifier=None)
    assert scores["mouse_caveat_misplaced"] == 1.0
    assert scores["fact_recall"] == 1.0


def test_unmarked_sources_are_not_scored() -> None:
    case = _case(["A4: mice more sensitive"], ["goebel2021_design_findings"])
    answer = _answer(f"{MICE[:-1]} [1].", hedges=["mice"])
    scores, _ = score_answer(case, answer, lambda _: _view(marks=[]), verifier=None)
    assert scores["fact_recall"] is None and scores["mouse_caveat_misplaced"] is None


def test_topics_and_words_decide_on_topic() -> None:
    said = statements(_answer(f"{NO_TREATMENT[:-1]} [1]."), lambda _: _view())[0]
    assert topic_of("SF2") == "small_fibre_pathology" and topic_of("MH1") == "mouse_to_human"
    assert on_topic(said, "Was any treatment tested in people?", [], [])
    assert not on_topic(said, "How common is it in women?", ["E4: sex ratio"], ["fms_epidemiology"])
