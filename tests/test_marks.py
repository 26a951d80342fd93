"""Fact marks: read from documents, removed from the text, kept by every chunk of a real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.marks import ChunkMark, marks_from_json, marks_to_json
from ingest.loaders import LoadError, load_file
from ingest.marks import extract_marks
from tests.support import make_settings

FRONT = """---
id: {id}
title: "A test summary about fibromyalgia"
source_type: review
evidence: {evidence}
text_origin: summary
---
"""


def test_a_mark_covers_its_sentence_and_leaves_the_text() -> None:
    text, marks = extract_marks(
        "# Heading\n\nMice given patient IgG became sensitive to cold. {A4 animal}\n"
        "The effect wore off after weeks\nonce the IgG cleared. {A13 animal vs:L10}\n"
    )
    assert "{" not in text and "Mice given patient IgG" in text
    assert [m.text for m in marks] == [
        "Mice given patient IgG became sensitive to cold.",
        "The effect wore off after weeks\nonce the IgG cleared.",
    ]
    assert marks[0].facts == ("A4",) and marks[0].evidence == "animal"
    assert marks[1].qualified_by == ("L10",)


def test_a_mark_at_the_end_of_a_paragraph_covers_the_paragraph() -> None:
    _, marks = extract_marks("First sentence here. Second sentence here. {P3 human}\n\nNext one.")
    assert marks[0].text == "First sentence here. Second sentence here."


def test_list_items_and_dashes_are_separate_marks() -> None:
    _, marks = extract_marks("- one item is here. {D1}\n- another item is here. {-}\n")
    assert [m.facts for m in marks] == [("D1",), ()]


def test_two_kinds_of_evidence_in_one_mark_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text(FRONT.format(id="bad", evidence="none") + "A sentence. {A1 animal human}\n")
    with pytest.raises(LoadError, match="two kinds of evidence"):
        load_file(path)


def test_documents_without_marks_load_as_before(tmp_path: Path) -> None:
    body = "# Notes\n\nFibromyalgia is common. Braces {like these} stay as text.\n"
    path = tmp_path / "plain.md"
    path.write_text(body)
    source = load_file(path)[0]
    assert source.marks == ()
    assert "Braces {like these} stay as text." in source.text


def test_marks_survive_the_json_round_trip() -> None:
    marks = [ChunkMark(0, 10, ("A1", "A2"), "animal", ("L10",)), ChunkMark(11, 20, (), None)]
    assert list(marks_from_json(marks_to_json(marks))) == marks
    assert marks_from_json("") == ()


@pytest.mark.slow
def test_an_indexed_chunk_keeps_the_marks_of_its_sentences(tmp_path: Path) -> None:
    from assistant.pipeline import Pipeline
    from ingest.job import run_ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sentences = [
        ("In the test study, mice given patient antibodies moved less than control mice.", "A4"),
        ("The test study tested no treatment in people with fibromyalgia.", "L1"),
        ("Fibromyalgia affects about two in a hundred people in the test review.", "E1"),
    ]
    body = " ".join(
        f"{text} {{{fact} {'animal' if fact == 'A4' else 'none'}}}" for text, fact in sentences
    )
    (corpus / "marked.md").write_text(FRONT.format(id="marked", evidence="animal") + body + "\n")
    settings = make_settings(tmp_path / "data")
    assert run_ingest([corpus], settings, progress=False).ok
    pipeline = Pipeline.from_settings(settings)
    chunk = pipeline.store.snapshot().chunks[0]
    assert "{" not in chunk.text
    for text, fact in sentences:
        at = chunk.text.index(text)
        mark = chunk.mark_at(at, at + len(text))
        assert mark is not None and mark.facts == (fact,), (text, chunk.marks)
    view = pipeline.get_chunk(chunk.id)
    assert view is not None
    assert [m.facts for m in view.marks] == [["A4"], ["L1"], ["E1"]]
    assert [m.evidence for m in view.marks] == ["animal", "none", "none"]
