"""Answer planning: the question's kind and parts, the opener, no fact twice, qualifiers, hedges.

Unit tests cover the plan's pure functions; the rest run the real pipeline over a small marked
corpus in a real index, so the opener, repetition and the mouse caveat are seen as a user sees
them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.compose.extractive import Candidate, plan_answer, qualify
from assistant.compose.plan import QuestionKind, plan_question, question_kind, question_parts
from assistant.hedge import ANIMAL_HEDGE
from assistant.index.embedder import get_embedder
from assistant.models import Route
from tests.support import make_settings


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Can fibromyalgia shorten your life?", QuestionKind.yes_no),
        ("does it run in families", QuestionKind.yes_no),
        ("i read that it spreads between people, is that true?", QuestionKind.yes_no),
        ("How many people took part in the trial?", QuestionKind.quantity),
        ("what percentage of patients are women", QuestionKind.quantity),
        ("When did the guideline come out?", QuestionKind.when),
        ("Who ran the trial?", QuestionKind.who),
        ("Which university led the work?", QuestionKind.which),
        ("What does nociception mean?", QuestionKind.definition),
        ("Why did the symptoms stop?", QuestionKind.reason),
        ("How does the test work?", QuestionKind.process),
        ("How do the two guidelines differ on exercise?", QuestionKind.comparison),
        ("What are the main symptoms?", QuestionKind.listing),
        ("Tell me about the trial", QuestionKind.open),
    ],
)
def test_question_kinds(question: str, kind: QuestionKind) -> None:
    assert question_kind(question) == kind


def test_the_focus_word_of_which_and_who_questions() -> None:
    assert plan_question("Which journal carried the paper?").focus == "journ"
    assert plan_question("who paid for the research?").focus == "paid"
    assert plan_question("Is it common?").focus is None


def test_a_question_asking_several_things_has_parts() -> None:
    parts = question_parts("who ran the study, where were they based and who paid for it?")
    assert parts == ["who ran the study", "where were they based", "who paid for it"]
    assert question_parts("What is passive transfer?") == ["What is passive transfer?"]


def _cand(
    text: str, relevance: float, facts: tuple[str, ...] = (), offset: int = 0, **extra: object
) -> Candidate:
    return Candidate(
        passage=0,
        text=text,
        offset=offset,
        relevance=relevance,
        facts=facts,
        **extra,  # type: ignore[arg-type]
    )


def test_nothing_relevant_enough_gives_no_answer() -> None:
    weak = [_cand("A sentence that is only loosely related to the question.", 0.35)]
    assert plan_answer(weak, 5, get_embedder()) == []


def test_a_qualified_claim_is_followed_by_what_qualifies_it() -> None:
    claim = _cand(
        "The release says the therapies are likely to work.", 0.8, ("P4",), qualified_by=("L10",)
    )
    paper = _cand(
        "The paper says only that the therapies may be effective.", 0.4, ("L10",), offset=90
    )
    other = _cand("The mice recovered after some weeks.", 0.7, ("A13",), offset=200)
    assert qualify([claim, other], [claim, other, paper]) == [claim, paper, other]
    # Already stated: nothing is added.
    assert qualify([claim, paper], [claim, paper]) == [claim, paper]


# ---- the pipeline over a small marked corpus --------------------------------------------------

DOCUMENTS = {
    "course-review": (
        "review",
        "human",
        "# The course of fibromyalgia\n\n"
        "Fibromyalgia symptoms go up and down over time, with flare-ups. {Y3 human} "
        "Fibromyalgia is not life-threatening and does not destroy body tissue. {Y4 human} "
        "Widespread pain is the main symptom of fibromyalgia. {Y1 human}\n\n"
        "# How common fibromyalgia is\n\n"
        "The EULAR 2016 recommendations say about 2% of people have fibromyalgia. {E3 none} "
        "Fibromyalgia is much more common in women than in men. {E4 human}\n",
    ),
    "second-review": (
        "review",
        "human",
        "# Fibromyalgia and the body\n\n"
        "A second review also finds that fibromyalgia does not destroy tissue and is not "
        "life-threatening. {Y4 human} "
        "Diagnosis of fibromyalgia rests on symptoms, because blood tests are usually normal. "
        "{D5 none}\n",
    ),
    "mouse-study": (
        "primary_study",
        "animal",
        "# The Goebel 2021 mouse experiments\n\n"
        "In the Goebel 2021 study, mice given IgG from fibromyalgia patients became more "
        "sensitive to cold and pressure. {A4 animal} "
        "The Goebel 2021 mice recovered after a few weeks, once the IgG had cleared. {A13 animal} "
        "The Goebel 2021 study tested no treatment in people with fibromyalgia. {L1 none}\n",
    ),
}


@pytest.fixture(scope="module")
def small_pipeline(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from assistant.pipeline import Pipeline
    from ingest.job import run_ingest

    root: Path = tmp_path_factory.mktemp("plan-corpus")
    corpus = root / "corpus"
    corpus.mkdir()
    for doc_id, (source_type, evidence, body) in DOCUMENTS.items():
        front = (
            f'---\nid: {doc_id}\ntitle: "{doc_id.replace("-", " ")}"\n'
            f"source_type: {source_type}\nevidence: {evidence}\ntext_origin: summary\n---\n"
        )
        (corpus / f"{doc_id}.md").write_text(front + body)
    settings = make_settings(root / "data")
    assert run_ingest([corpus], settings, progress=False).ok
    return Pipeline.from_settings(settings)


@pytest.mark.slow
def test_a_yes_no_question_opens_with_the_deciding_sentence(small_pipeline) -> None:  # type: ignore[no-untyped-def]
    answer = small_pipeline.answer("Can fibromyalgia kill you or is it life-threatening?")
    assert answer.route is Route.answer
    first = answer.answer.split(" [")[0]
    assert "not life-threatening" in first, answer.answer


@pytest.mark.slow
def test_a_fact_is_not_stated_twice_from_two_sources(small_pipeline) -> None:  # type: ignore[no-untyped-def]
    answer = small_pipeline.answer("Is fibromyalgia life-threatening?")
    assert answer.answer.count("life-threatening") == 1, answer.answer


@pytest.mark.slow
def test_the_mouse_caveat_follows_animal_findings_only(small_pipeline) -> None:  # type: ignore[no-untyped-def]
    mice = small_pipeline.answer("What happened to the mice given IgG from patients?")
    assert "mice" in mice.answer and ANIMAL_HEDGE in mice.hedges
    common = small_pipeline.answer("How common is fibromyalgia in women and in everyone?")
    assert common.route is Route.answer
    assert ANIMAL_HEDGE not in common.hedges, common.answer


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "Is fibromyalgia life-threatening?",
        "Which hotel did the Goebel 2021 authors stay in while writing about the mice?",
        "What colour were the fibromyalgia review's figures?",
    ],
)
def test_the_stream_announces_the_route_it_ends_with(small_pipeline, question: str) -> None:  # type: ignore[no-untyped-def]
    """meta's route is the done event's route, also when no sentence answers the question."""
    events = list(small_pipeline.events(question))
    meta = next(data for name, data in events if name == "meta")
    done = next(data for name, data in events if name == "done")
    assert meta["route"] == done["route"], (question, done["answer"])
