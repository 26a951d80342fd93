"""The eval suites load, validate and cover what the core suite promises."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from evals.cases import (
    CASES_DIR,
    CATEGORIES,
    CORE_SUITE,
    DEFAULT_THRESHOLDS,
    CaseLoadError,
    filter_cases,
    load_cases,
    load_suite,
    parse_cases,
)
from evals.report import load_thresholds
from tests.support import DATA

EXAMPLES = CASES_DIR / "examples.jsonl"
# The repository's copy of the team's fact sheet (the corpus lint reads the same file).
FACTS = DATA / "facts.md"


@pytest.fixture(scope="module")
def core():
    return load_suite(CORE_SUITE)


def test_all_suites_load():
    files = sorted(CASES_DIR.glob("*.jsonl"))
    assert {f.name for f in files} >= {"core.jsonl", "examples.jsonl"}
    for f in files:
        assert load_suite(f)
    # Loading the whole directory merges identical duplicates (the examples are in core too).
    assert len(load_cases([CASES_DIR])) == len(load_suite(CORE_SUITE))


def test_core_size_and_categories(core):
    assert len(core) >= 120
    counts = Counter(c.category for c in core)
    assert set(counts) == set(CATEGORIES)
    examples = load_suite(EXAMPLES)
    assert {c.category for c in examples} <= set(counts)
    assert counts["emergency"] >= 10
    for cat in CATEGORIES:
        assert counts[cat] >= 5, cat


def test_core_contains_every_example(core):
    by_id = {c.id: c for c in core}
    for ex in load_suite(EXAMPLES):
        assert by_id.get(ex.id) == ex


def test_multi_turn_and_patient_typed(core):
    multi = [c for c in core if c.history]
    assert len(multi) >= 10
    assert all(c.history for c in core if c.category == "multi_turn")
    assert any(c.history for c in core if c.category == "emergency")
    for c in multi:
        assert c.history[-1].role == "assistant", (
            f"{c.id}: history should end with the assistant's turn"
        )
    typed = [c for c in core if c.style == "patient_typed"]
    assert len(typed) >= 20
    assert len({c.category for c in typed}) >= 8


def test_expected_routes(core):
    by_id = {c.id: c for c in core}
    assert (
        by_id["EM-01"].expected_routes == {"crisis", "emergency"}
        and by_id["EM-01"].expects_safety_route
    )
    assert by_id["OS-01"].expected_routes == {"out_of_scope"}
    assert by_id["MA-01"].expected_routes == {"advice_boundary"}
    assert by_id["PI-01"].expected_routes == {"answer", "out_of_scope"}
    assert by_id["SF-01"].is_ordinary and by_id["SF-01"].retrieval_applies
    assert not by_id["EM-01"].retrieval_applies
    assert by_id["MT-105"].expected_routes == {"advice_boundary"}
    safety = [c for c in core if c.expects_safety_route]
    assert len(safety) >= 10


def test_case_fields_are_sensible(core):
    for c in core:
        if c.category == "out_of_scope":
            assert c.must_refuse_or_redirect and not c.expected_sources and not c.must_cite, c.id
        if c.category in ("emergency", "medical_advice_boundary"):
            assert c.must_refuse_or_redirect, c.id
        if c.category == "emergency":
            assert c.expected_sources == ["safety_crisis"], c.id
        if c.category not in ("out_of_scope", "prompt_injection") and not c.expected_route:
            assert c.expected_sources, c.id


def test_must_cite_ids_exist_in_fact_sheet(core):
    facts = set(
        re.findall(r"^\| \**([A-Z]{1,2}\d{1,2})\** \|", FACTS.read_text(encoding="utf-8"), re.M)
    )
    assert len(facts) > 90
    for c in core:
        missing = [f for f in c.fact_ids if f not in facts]
        assert not missing, f"{c.id}: unknown fact ids {missing}"


def test_thresholds_file():
    th = load_thresholds(DEFAULT_THRESHOLDS)
    assert th["overall"]["min"]["citation_validity"] == 1.0
    assert th["overall"]["min"]["crisis_recall"] == 1.0
    assert th["overall"]["max"]["triage_false_fire_rate"] <= 0.05


# ---------------------------------------------------------------------------------------------
# Validation errors name file and line

GOOD = {
    "id": "X-1",
    "question": "q?",
    "category": "general_fms",
    "expected_behavior": "b",
    "must_cite": ["A1: text"],
    "must_hedge": False,
    "must_refuse_or_redirect": False,
    "expected_sources": ["fms_management"],
}


def _write(tmp_path: Path, rows: list) -> Path:
    p = tmp_path / "suite.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return p


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**GOOD, "id": "X-2", "category": "astrology"}, "category"),
        ({**GOOD, "id": "X-2", "expected_sources": ["nope"]}, "unknown topics"),
        ({**GOOD, "id": "X-2", "must_cite": ["cite the paper"]}, "must_cite"),
        ({**GOOD, "id": "X-2", "must_hegde": True}, "must_hegde"),
        ({k: v for k, v in GOOD.items() if k != "must_hedge"} | {"id": "X-2"}, "must_hedge"),
        ({**GOOD, "id": "X-2", "expected_route": "panic"}, "expected_route"),
        ({**GOOD, "id": "X-2", "history": [{"role": "system", "content": "x"}]}, "history"),
        ("{not json", "invalid JSON"),
        ({**GOOD}, "duplicate case id 'X-1'"),
    ],
)
def test_errors_name_file_and_line(tmp_path, bad, message):
    p = _write(tmp_path, [GOOD, "", bad])
    with pytest.raises(CaseLoadError) as err:
        load_suite(p)
    text = str(err.value)
    assert f"{p}:3:" in text
    assert message in text


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(CaseLoadError, match="no such case file"):
        load_suite(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(CaseLoadError, match="no cases"):
        load_suite(tmp_path / "empty.jsonl")


def test_conflicting_ids_across_files(tmp_path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text(json.dumps(GOOD) + "\n")
    b.write_text(json.dumps({**GOOD, "question": "other?"}) + "\n")
    with pytest.raises(CaseLoadError, match="different content"):
        load_cases([a, b])


def test_optional_fields_and_filters():
    cases = parse_cases(
        json.dumps(
            {
                **GOOD,
                "expected_route": ["answer", "no_evidence"],
                "style": "patient_typed",
                "history": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ],
            }
        )
    )
    assert cases[0].expected_routes == {"answer", "no_evidence"}
    assert not cases[0].is_ordinary
    core = load_cases()
    assert {c.category for c in filter_cases(core, categories=["emergency"])} == {"emergency"}
    assert [c.id for c in filter_cases(core, ids=["SF-01"])] == ["SF-01"]
    assert len(filter_cases(core, limit=3)) == 3
    with pytest.raises(CaseLoadError):
        filter_cases(core, categories=["astrology"])
