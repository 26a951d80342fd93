"""Eval cases: the JSONL format, loading and validation.

One case per line. The format of the team's shared examples (``cases/examples.jsonl``, kept unchanged) is accepted as it
is (``id``, ``question``, ``category``, ``expected_behavior``, ``must_cite``, ``must_hedge``,
``must_refuse_or_redirect``, ``expected_sources``); the optional fields ``history``,
``expected_route``, ``style`` and ``tags`` are this project's own. Unknown fields are rejected so a
typo (``must_hegde``) cannot silently turn a check off.

Errors name the file and line: ``evals/cases/core.jsonl:17: must_cite.0: ...``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assistant.errors import CaseLoadError
from assistant.models import TOPICS, Route, Turn

EVALS_DIR = Path(__file__).resolve().parent
CASES_DIR = EVALS_DIR / "cases"
CORE_SUITE = CASES_DIR / "core.jsonl"
DEFAULT_THRESHOLDS = EVALS_DIR / "thresholds.toml"

Category = Literal[
    "study_findings",
    "mouse_to_human",
    "treatment",
    "diagnosis",
    "general_fms",
    "out_of_scope",
    "medical_advice_boundary",
    "emergency",
    "prompt_injection",
    "misinformation_premise",
    "multi_turn",
]
# The canonical category order (reports list categories in it), from the one definition above.
CATEGORIES: tuple[str, ...] = get_args(Category)
Style = Literal["patient_typed", "clinician", "standard"]
STYLES: tuple[str, ...] = get_args(Style)

# Routes that answer with research content vs. the fixed triage replies.
SAFETY_ROUTES = frozenset({Route.crisis.value, Route.emergency.value})
TRIAGE_ROUTES = frozenset(
    {
        Route.crisis.value,
        Route.emergency.value,
        Route.advice_boundary.value,
        Route.out_of_scope.value,
    }
)

# Expected route(s) when a case does not give `expected_route`.
CATEGORY_ROUTES: dict[str, frozenset[str]] = {
    "emergency": SAFETY_ROUTES,
    "out_of_scope": frozenset({Route.out_of_scope.value}),
    "medical_advice_boundary": frozenset({Route.advice_boundary.value}),
    "prompt_injection": frozenset({Route.answer.value, Route.out_of_scope.value}),
}
DEFAULT_ROUTES = frozenset({Route.answer.value})

# "A3: patient IgG injected", "D2/D4: criteria", "M13/M14: ..."
_MUST_CITE_RE = re.compile(r"^[A-Z]{1,2}\d{1,2}(?:/[A-Z]{1,2}\d{1,2})*: \S.*$")
_CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class EvalCase(BaseModel):
    """One eval case (one JSONL line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    question: str = Field(min_length=1, max_length=2000)
    category: Category
    expected_behavior: str = Field(min_length=1)
    must_cite: list[str] = Field(default_factory=list)
    must_hedge: bool
    must_refuse_or_redirect: bool
    expected_sources: list[str] = Field(default_factory=list)
    # Optional, this project's own fields.
    history: list[Turn] = Field(default_factory=list, max_length=40)
    expected_route: Route | list[Route] | None = None
    style: Style | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id_ok(cls, value: str) -> str:
        if not _CASE_ID_RE.match(value):
            raise ValueError("id must be 1-64 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must contain some text")
        return value

    @field_validator("must_cite")
    @classmethod
    def _must_cite_format(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not _MUST_CITE_RE.match(item)]
        if bad:
            raise ValueError(
                f"must_cite items must look like 'A3: short text' (fact IDs from FACTS.md); got {bad}"
            )
        return value

    @field_validator("expected_sources")
    @classmethod
    def _sources_known(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topics {unknown}; use topic names from FACTS.md: {TOPICS}")
        return value

    @field_validator("expected_route", mode="after")
    @classmethod
    def _route_list_not_empty(cls, value: Route | list[Route] | None) -> Route | list[Route] | None:
        if isinstance(value, list) and not value:
            raise ValueError("expected_route list must not be empty (omit the field instead)")
        return value

    # ---- derived expectations -------------------------------------------------------------

    @property
    def expected_routes(self) -> frozenset[str]:
        """Routes that count as correct: `expected_route` when given, else by category."""
        if self.expected_route is not None:
            routes = (
                self.expected_route
                if isinstance(self.expected_route, list)
                else [self.expected_route]
            )
            return frozenset(Route(r).value for r in routes)
        return CATEGORY_ROUTES.get(self.category, DEFAULT_ROUTES)

    @property
    def expects_safety_route(self) -> bool:
        """Crisis/emergency case: counts towards crisis recall."""
        return bool(self.expected_routes) and self.expected_routes <= SAFETY_ROUTES

    @property
    def is_ordinary(self) -> bool:
        """Ordinary question (expected route is exactly `answer`): counts for triage false-fire."""
        return self.expected_routes == DEFAULT_ROUTES

    @property
    def retrieval_applies(self) -> bool:
        """Retrieval is scored when sources are expected and the reply is not a fixed safety reply
        (crisis/emergency replies are answered before retrieval)."""
        return bool(self.expected_sources) and not self.expects_safety_route

    @property
    def needed_facts(self) -> list[tuple[str, ...]]:
        """One entry per `must_cite` item: the fact IDs that state it (see `must_cite_facts`)."""
        return [must_cite_facts(item) for item in self.must_cite]

    @property
    def fact_ids(self) -> list[str]:
        """Every fact ID named in `must_cite` ("D2/D4: ..." gives D2 and D4)."""
        return [fact for item in self.needed_facts for fact in item]


def must_cite_facts(item: str) -> tuple[str, ...]:
    """The fact IDs of one `must_cite` item: "A7: healthy-control IgG had no effect" -> ("A7",).

    "D2/D4: established ACR diagnostic criteria" names alternatives, ("D2", "D4"): the item is
    stated when either fact is. The one reading of the item format in evals (validated above by
    `_MUST_CITE_RE`).
    """
    return tuple(fact.strip() for fact in item.split(":", 1)[0].split("/"))


def format_validation_error(err: ValidationError) -> str:
    """One line per problem, "field.path: message", for errors that name a file and line."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(case)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def parse_cases(text: str, source: str = "<string>") -> list[EvalCase]:
    """Parse JSONL text. Blank lines are skipped; every error names `source:line`."""
    cases: list[EvalCase] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CaseLoadError(
                f"{source}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        if not isinstance(raw, dict):
            raise CaseLoadError(f"{source}:{lineno}: each line must be a JSON object")
        try:
            case = EvalCase.model_validate(raw)
        except ValidationError as exc:
            case_id = raw.get("id", "?")
            raise CaseLoadError(
                f"{source}:{lineno}: case {case_id!r}: {format_validation_error(exc)}"
            ) from None
        if case.id in seen:
            raise CaseLoadError(
                f"{source}:{lineno}: duplicate case id {case.id!r} (first on line {seen[case.id]})"
            )
        seen[case.id] = lineno
        cases.append(case)
    return cases


def load_suite(path: str | Path) -> list[EvalCase]:
    """Load one JSONL suite file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseLoadError(f"{p}: no such case file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseLoadError(f"{p}: cannot read: {exc}") from None
    cases = parse_cases(text, source=str(p))
    if not cases:
        raise CaseLoadError(f"{p}: no cases in file")
    return cases


def load_cases(paths: Iterable[str | Path] | None = None) -> list[EvalCase]:
    """Load and merge suites (default: the core suite). A directory loads every *.jsonl in it.

    The same id in two files is an error unless both cases are identical (for example the shared
    examples, which the core suite also contains); then the first one is kept.
    """
    files: list[Path] = []
    for path in paths or [CORE_SUITE]:
        p = Path(path)
        if p.is_dir():
            found = sorted(p.glob("*.jsonl"))
            if not found:
                raise CaseLoadError(f"{p}: directory has no *.jsonl case files")
            files.extend(found)
        else:
            files.append(p)
    merged: list[EvalCase] = []
    origin: dict[str, tuple[Path, EvalCase]] = {}
    for f in files:
        for case in load_suite(f):
            if case.id in origin:
                first_file, first = origin[case.id]
                if first == case:
                    continue
                raise CaseLoadError(
                    f"{f}: case id {case.id!r} is also in {first_file} with different content"
                )
            origin[case.id] = (f, case)
            merged.append(case)
    return merged


def filter_cases(
    cases: Sequence[EvalCase],
    categories: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[EvalCase]:
    """Select cases by category and/or id (for quick local runs)."""
    out = list(cases)
    if categories:
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise CaseLoadError(f"unknown categories {sorted(unknown)}; known: {CATEGORIES}")
        out = [c for c in out if c.category in categories]
    if ids:
        wanted = set(ids)
        out = [c for c in out if c.id in wanted]
    if limit is not None:
        out = out[:limit]
    return out
