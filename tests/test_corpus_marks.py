"""Corpus lint: every summary sentence stands alone and carries its fact mark.

The rules (docs/CORPUS.md, "Statements that stand alone") exist because the extractive composer
quotes single sentences out of their paragraphs: a sentence must be true and clear on its own, and
its mark says which fact-sheet facts it states (for `fact_recall`) and whether it reports an
animal finding (for the mouse caveat). Each failure names the file and the sentence.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from assistant.doses import medicines_in, states_dose
from assistant.marks import Mark
from assistant.sentences import split_sentences
from ingest.loaders import load_file, strip_markdown
from ingest.marks import extract_marks

ROOT = Path(__file__).resolve().parents[1]
CORPUS_FILES = sorted((ROOT / "corpus").glob("*.md"))
FACTS_FILE = ROOT / "tests" / "data" / "facts.md"

_POINTING_OPENER = re.compile(
    r"^(?:this|these|that|those|such|it|its|they|them|their|he|she|his|her|both|"
    r"the former|the latter|here)\b",
    re.IGNORECASE,
)
_POINTING_ANYWHERE = re.compile(
    r"\b(?:this|these|those|above|below|aforementioned|former|latter|such(?! as\b)|"
    r"that (?:study|trial|paper|finding|result|review|requirement|figure|guideline|drug|work))\b",
    re.IGNORECASE,
)
# Connectives that lean on the sentence before ("The mice also moved less.").
_CONNECTIVE = re.compile(
    r"\b(?:also|therefore|further|furthermore|moreover|as well|too|again|likewise|similarly|"
    r"thus|hence)\b",
    re.IGNORECASE,
)
_ANIMAL_WORDS = re.compile(r"\b(?:mice|mouse|murine|rats?|rodents?|animals?)\b", re.IGNORECASE)
_DOCUMENT_WORDS = re.compile(
    r"\b(?:label|labelling|prescribing information|EULAR|NICE|guidelines?|trial|study|review|"
    r"registry|recommendations?)\b",
    re.IGNORECASE,
)
MIN_WORDS, MAX_WORDS = 5, 60


@cache
def _fact_tags() -> dict[str, str]:
    rows = re.findall(
        r"^\|\s*([A-Z]{1,2}\d{1,2})\s*\|[^\n]*\|\s*(\[[^\n|]*?\][^\n|]*?)\s*\|",
        FACTS_FILE.read_text(),
        re.M,
    )
    return {fact: tag for fact, tag in rows}


def _front_matter(path: Path) -> dict[str, object]:
    raw = path.read_text(encoding="utf-8")
    data = yaml.safe_load(raw.split("---", 2)[1])
    assert isinstance(data, dict)
    return data


def _body(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("---", 2)[2]


def _summaries() -> list[Path]:
    return [p for p in CORPUS_FILES if _front_matter(p).get("text_origin") == "summary"]


def _marks(path: Path) -> list[Mark]:
    return list(load_file(path)[0].marks)


def _plain(text: str) -> str:
    return " ".join(strip_markdown(text).split())


@pytest.mark.parametrize("path", _summaries(), ids=lambda p: p.name)
def test_every_sentence_has_its_own_mark(path: Path) -> None:
    """No unmarked sentence, no mark over two sentences, no stray braces left in the text."""
    clean, marks = extract_marks(_body(path))
    marked = {_plain(m.text) for m in marks}
    problems = []
    for line in clean.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("|"):
            problems.append(f"table row (write it as sentences): {line.strip()[:80]}")
            continue
        for sentence in split_sentences(_plain(line)):
            if "{" in sentence.text or "}" in sentence.text:
                problems.append(f"unreadable mark: {sentence.text[:100]}")
            elif sentence.text not in marked:
                problems.append(f"no mark of its own: {sentence.text[:100]}")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_marks_name_listed_verified_facts(path: Path) -> None:
    """Marked IDs exist, are not general knowledge, and match the front matter's `facts` list."""
    tags = _fact_tags()
    listed = {str(f) for f in _front_matter(path).get("facts") or []}  # type: ignore[attr-defined]
    marked: set[str] = set()
    problems = []
    for mark in _marks(path):
        for fact in (*mark.facts, *mark.qualified_by):
            if fact not in tags:
                problems.append(f"{fact} is not in the fact sheet: {mark.text[:80]}")
            elif re.findall(r"\[(\w+)\]", tags[fact]) == ["GK"]:
                problems.append(f"{fact} is general knowledge only; mark it '-': {mark.text[:80]}")
        marked.update(mark.facts)
    if marked:
        if unlisted := marked - listed:
            problems.append(f"marked but not in front matter facts: {sorted(unlisted)}")
        if unstated := listed - marked:
            problems.append(
                f"front matter lists facts no sentence is marked with: {sorted(unstated)}"
            )
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", _summaries(), ids=lambda p: p.name)
def test_sentences_stand_alone(path: Path) -> None:
    """Each sentence names its subject and points at no other sentence."""
    problems = []
    for mark in _marks(path):
        text = _plain(mark.text)
        words = len(text.split())
        if not MIN_WORDS <= words <= MAX_WORDS:
            problems.append(f"{words} words (keep {MIN_WORDS}-{MAX_WORDS}): {text[:100]}")
        if _POINTING_OPENER.match(text):
            problems.append(f"opens by pointing back: {text[:100]}")
        elif found := _POINTING_ANYWHERE.search(text) or _CONNECTIVE.search(text):
            problems.append(f"points elsewhere ({found.group(0)!r}): {text[:100]}")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", _summaries(), ids=lambda p: p.name)
def test_doses_name_their_drug_and_document(path: Path) -> None:
    """ "The maximum dose is 450 mg per day" misleads beside any other medicine."""
    problems = []
    for mark in _marks(path):
        text = _plain(mark.text)
        if not states_dose(text):
            continue
        if not medicines_in(text):
            problems.append(f"dose without its medicine: {text[:100]}")
        if not _DOCUMENT_WORDS.search(text):
            problems.append(f"dose without the document it comes from: {text[:100]}")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_evidence_is_marked_where_it_matters(path: Path) -> None:
    """The mouse caveat follows sentence evidence, so it must be stated where it could be wrong.

    In an `animal` or `mixed` document every mark says which kind each sentence is; anywhere, a
    sentence that mentions animals says whether it reports an animal finding.
    """
    mixed = _front_matter(path).get("evidence") in {"animal", "mixed"}
    is_summary = _front_matter(path).get("text_origin") == "summary"
    problems = []
    for mark in _marks(path):
        if mark.evidence is not None:
            continue
        text = _plain(mark.text)
        if mixed and is_summary:
            problems.append(f"say animal, human or none: {text[:100]}")
        elif _ANIMAL_WORDS.search(text):
            problems.append(f"mentions animals; say animal, human or none: {text[:100]}")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)
