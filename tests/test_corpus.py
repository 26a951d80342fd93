"""Tests of the source corpus in corpus/*.md.

Checks front matter (parsed with yaml.safe_load and validated as SourceMeta), topic coverage,
identifiers against the fact sheet, copied sentences, the press-release text and the triage
(crisis) document. Everything the tests compare against lives in tests/data/; no network.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from assistant.models import TOPICS, SourceMeta
from ingest.marks import extract_marks

ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = ROOT / "corpus"
DATA_DIR = Path(__file__).resolve().parent / "data"
FACTS_FILE = DATA_DIR / "facts.md"
IDENTIFIERS_FILE = DATA_DIR / "facts_identifiers.txt"
PRESS_RELEASE_FILE = DATA_DIR / "press-release.txt"
PRESS_RELEASE_DOC = CORPUS_DIR / "press-release-kcl-2021.md"

MIN_DOCUMENTS = 15
MIN_COPY_WORDS = 12
REQUIRED_FIELDS = (
    "id",
    "title",
    "publisher",
    "published",
    "source_type",
    "evidence",
    "topics",
    "text_origin",
    "note",
)
PUBLISHED_RE = re.compile(r"^(\d{4}(-\d{2}(-\d{2})?)?|undated)$")
DOI_RE = re.compile(r"10\.\d{4,9}/[^\s;,)\"'\]]+")
PMID_RE = re.compile(r"PMID\s+(?:is\s+)?(?:probably\s+)?(\d{6,9})", re.IGNORECASE)
TRIAGE_STRINGS = ("116 123", "988", "999", "112", "911", "NHS 111")

CORPUS_FILES = sorted(CORPUS_DIR.glob("*.md"))


def _name(path: Path) -> str:
    return f"corpus/{path.name}"


@cache
def _split(path: Path) -> tuple[str, dict, str]:
    """Return (raw front matter, parsed front matter, body) of one corpus document."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        pytest.fail(f"{_name(path)}: first line must be '---' (front matter start)")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        pytest.fail(f"{_name(path)}: no closing '---' line after the front matter")
    raw = "\n".join(lines[1:end])
    try:
        meta = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        pytest.fail(f"{_name(path)}: front matter is not valid YAML: {exc}")
    if not isinstance(meta, dict):
        pytest.fail(f"{_name(path)}: front matter must be a YAML mapping, got {type(meta)}")
    # Fact marks are not text: the body is compared and searched without them.
    body, _ = extract_marks("\n".join(lines[end + 1 :]))
    return raw, meta, body


def _meta(path: Path) -> SourceMeta:
    _, meta, _ = _split(path)
    try:
        return SourceMeta.model_validate(meta)
    except ValidationError as exc:
        pytest.fail(f"{_name(path)}: front matter does not validate as SourceMeta:\n{exc}")


def _normalise(text: str) -> str:
    text = text.replace("*", "").replace("`", "")
    return re.sub(r"\s+", " ", text).strip().lower()


def _sentences(body: str) -> list[str]:
    out: list[str] = []
    for line in body.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.extend(s for s in re.split(r"(?<=[.!?])\s+", line) if s.strip())
    return out


@cache
def _facts_text() -> str:
    return FACTS_FILE.read_text(encoding="utf-8")


@cache
def _identifiers() -> frozenset[str]:
    lines = IDENTIFIERS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


@cache
def _fact_ids() -> frozenset[str]:
    return frozenset(re.findall(r"^\|\s*([A-Z]{1,2}\d{1,2})\s*\|", _facts_text(), re.MULTILINE))


@cache
def _source_keys() -> frozenset[str]:
    return frozenset(re.findall(r"\*\*(S\d{1,2}b?)\*\*", _facts_text()))


# --- collection-level checks -------------------------------------------------------------


def test_corpus_has_enough_documents() -> None:
    assert len(CORPUS_FILES) >= MIN_DOCUMENTS, (
        f"expected at least {MIN_DOCUMENTS} documents in {CORPUS_DIR}, found {len(CORPUS_FILES)}"
    )


def test_ids_are_unique() -> None:
    seen: dict[str, str] = {}
    for path in CORPUS_FILES:
        doc_id = _meta(path).id
        assert doc_id not in seen, f"duplicate id {doc_id!r} in {_name(path)} and {seen[doc_id]}"
        seen[doc_id] = _name(path)


def test_every_topic_is_covered() -> None:
    covered = {topic for path in CORPUS_FILES for topic in _meta(path).topics}
    missing = [topic for topic in TOPICS if topic not in covered]
    assert not missing, f"topics with no corpus document: {missing}"


def test_only_the_press_release_is_original() -> None:
    originals = [_name(p) for p in CORPUS_FILES if _meta(p).text_origin == "original"]
    assert originals == [_name(PRESS_RELEASE_DOC)], (
        f"only {_name(PRESS_RELEASE_DOC)} may have text_origin 'original'; found {originals}"
    )


def test_test_data_is_present() -> None:
    for path in (FACTS_FILE, IDENTIFIERS_FILE, PRESS_RELEASE_FILE):
        assert path.is_file(), f"missing test data file {path}"
    assert _identifiers(), f"{IDENTIFIERS_FILE} is empty"


# --- per-document checks -----------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_front_matter_validates(path: Path) -> None:
    _, meta, body = _split(path)
    missing = [f for f in REQUIRED_FIELDS if f not in meta or meta[f] in (None, "", [])]
    assert not missing, f"{_name(path)}: missing or empty required fields {missing}"
    model = _meta(path)
    assert model.topics, f"{_name(path)}: topics must not be empty"
    assert PUBLISHED_RE.match(model.published), (
        f"{_name(path)}: published {model.published!r} must be YYYY, YYYY-MM, YYYY-MM-DD or 'undated'"
    )
    assert body.strip(), f"{_name(path)}: document body is empty"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_summary_note_says_summary(path: Path) -> None:
    model = _meta(path)
    if model.text_origin == "summary":
        assert "summary" in model.note.lower(), (
            f"{_name(path)}: text_origin is 'summary' but the note does not say it is a summary"
        )


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_identifiers_come_from_the_fact_sheet(path: Path) -> None:
    raw, _, body = _split(path)
    model = _meta(path)
    known = _identifiers()
    found: set[str] = set()
    if model.doi:
        found.add(model.doi)
    if model.pmid:
        found.add(model.pmid)
    for text in (raw, body):
        found.update(d.rstrip(".") for d in DOI_RE.findall(text))
        found.update(PMID_RE.findall(text))
    unknown = sorted(x for x in found if x.lower() not in known)
    assert not unknown, (
        f"{_name(path)}: identifiers not printed in the fact sheet ({IDENTIFIERS_FILE.name}): "
        f"{unknown}"
    )
    if model.pmid:
        assert model.pmid.isdigit(), f"{_name(path)}: pmid {model.pmid!r} must be digits only"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_fact_ids_and_source_keys_exist(path: Path) -> None:
    _, meta, _ = _split(path)
    facts = [str(f) for f in meta.get("facts") or []]
    unknown_facts = [f for f in facts if f not in _fact_ids()]
    assert not unknown_facts, f"{_name(path)}: fact IDs not in the fact sheet: {unknown_facts}"
    sources = [str(s) for s in meta.get("sources") or []]
    unknown_sources = [s for s in sources if s not in _source_keys()]
    assert not unknown_sources, (
        f"{_name(path)}: source keys not in the fact sheet's register: {unknown_sources}"
    )


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_summaries_do_not_copy_sentences(path: Path) -> None:
    _, meta, body = _split(path)
    if meta.get("text_origin") != "summary":
        pytest.skip("original text")
    facts = _normalise(_facts_text())
    press = _normalise(PRESS_RELEASE_FILE.read_text(encoding="utf-8"))
    copied = []
    for sentence in _sentences(body):
        norm = _normalise(sentence).rstrip(".!?;:")
        if len(norm.split()) < MIN_COPY_WORDS:
            continue
        if norm in facts:
            copied.append(f"[facts.md] {sentence}")
        if norm in press:
            copied.append(f"[press-release.txt] {sentence}")
    assert not copied, f"{_name(path)}: sentences copied verbatim:\n" + "\n".join(copied)


# --- special documents -------------------------------------------------------------------


def test_press_release_document() -> None:
    assert PRESS_RELEASE_DOC.is_file(), f"missing {_name(PRESS_RELEASE_DOC)}"
    model = _meta(PRESS_RELEASE_DOC)
    assert model.id == "kcl-press-release-2021", f"{_name(PRESS_RELEASE_DOC)}: wrong id"
    assert model.source_type == "press_release", f"{_name(PRESS_RELEASE_DOC)}: wrong source_type"
    assert model.text_origin == "original", f"{_name(PRESS_RELEASE_DOC)}: must be 'original'"
    assert model.topics == ["press_release"], f"{_name(PRESS_RELEASE_DOC)}: wrong topics"
    assert model.published == "2021-07-01", f"{_name(PRESS_RELEASE_DOC)}: wrong date"
    _, _, body = _split(PRESS_RELEASE_DOC)
    expected = PRESS_RELEASE_FILE.read_text(encoding="utf-8").rstrip("\n")
    assert body.rstrip("\n") == expected, (
        f"{_name(PRESS_RELEASE_DOC)}: body differs from {PRESS_RELEASE_FILE} "
        f"({len(body.rstrip(chr(10)))} vs {len(expected)} characters)"
    )


def test_triage_document() -> None:
    triage = [p for p in CORPUS_FILES if _meta(p).use == "triage"]
    assert triage, "no corpus document has 'use: triage' (crisis and emergency resources)"
    for path in triage:
        model = _meta(path)
        assert "safety_crisis" in model.topics, f"{_name(path)}: triage doc needs safety_crisis"
        text = path.read_text(encoding="utf-8")
        missing = [s for s in TRIAGE_STRINGS if s not in text]
        assert not missing, f"{_name(path)}: triage document lacks {missing}"
