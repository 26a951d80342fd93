"""Rated-down answers as DRAFT eval cases, for an evaluator to finish.

A thumbs-down says an answer was wrong, unhelpful or unsafe for someone; it does not say what the
right answer is. So the export writes drafts in the eval suite format (`evals/cases.py`):
the question as it was stored (masked), and in `expected_behavior` the answer that was rated
down, its sources and the comments, with the instruction to replace all of it. Each draft is
marked three ways so it cannot pass for a reviewed case: an id starting `draft-`, the tags
`draft` and `from_feedback`, and `expected_behavior` starting "DRAFT". The suite format rejects
unknown fields, so the note lives in `expected_behavior` rather than a field of its own.

Every case is validated by the eval loader's own model before it is written, so the file loads
with `evals.cases.load_suite`. Answers stored without their text (crisis and emergency, or
never stored) cannot become a case and are counted as skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.feedback.store import FeedbackView
from evals.cases import EvalCase

DRAFT_PREFIX = "draft-"
DRAFT_TAGS = ["draft", "from_feedback"]
MAX_QUESTION_CHARS = 2000  # EvalCase.question's limit

# The category whose default expected route matches what the answer's route was; anything else
# is a general question until the evaluator says otherwise.
_CATEGORY_BY_ROUTE = {
    "advice_boundary": "medical_advice_boundary",
    "out_of_scope": "out_of_scope",
}


@dataclass
class ExportResult:
    cases: list[EvalCase] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # trace ids without a stored question


def draft_cases(views: Iterable[FeedbackView]) -> ExportResult:
    """One draft case per rated trace (ratings of the same answer are merged)."""
    by_trace: dict[str, list[FeedbackView]] = {}
    for view in views:
        by_trace.setdefault(view.feedback.trace_id, []).append(view)
    result = ExportResult()
    for trace_id, group in by_trace.items():
        first = group[0]
        question = (first.question or "").strip()
        if not question or first.answer is None:
            result.skipped.append(trace_id)
            continue
        result.cases.append(
            EvalCase(
                id=f"{DRAFT_PREFIX}{trace_id}",
                question=question[:MAX_QUESTION_CHARS],
                category=_CATEGORY_BY_ROUTE.get(first.route or "", "general_fms"),  # type: ignore[arg-type]
                expected_behavior=_note(group),
                must_hedge=False,
                must_refuse_or_redirect=False,
                tags=[*DRAFT_TAGS, f"rated_{first.feedback.rating}"],
            )
        )
    return result


def _note(group: Sequence[FeedbackView]) -> str:
    first = group[0]
    ratings = sorted({v.feedback.rating for v in group})
    channels = sorted({v.feedback.channel for v in group})
    days = sorted(v.feedback.updated.date().isoformat() for v in group)
    comments = [v.feedback.comment for v in group if v.feedback.comment]
    lines = [
        "DRAFT from user feedback, not a reviewed case: write what a good answer does here, "
        "fill in must_cite, must_hedge, must_refuse_or_redirect, expected_sources and the "
        "category, then remove the 'draft' tag and the 'draft-' id prefix.",
        f"Rated {'/'.join(ratings)} by {len(group)} client(s) via {', '.join(channels)}, "
        f"{days[0]}{'' if days[0] == days[-1] else ' to ' + days[-1]}; trace {first.feedback.trace_id}.",
    ]
    lines.extend(f"Comment: {c}" for c in comments)
    lines.append(f"The answer that was rated (route {first.route}, mode {first.mode}):")
    lines.append(first.answer or "")
    if first.citations:
        lines.append("Its sources:")
        lines.extend(
            f"[{c.get('n')}] {c.get('title')} ({c.get('source_id')}, {c.get('chunk_id')})"
            for c in first.citations
        )
    return "\n".join(lines)


def write_cases(cases: Sequence[EvalCase], path: Path) -> None:
    """Write the cases as JSONL (one case a line, optional fields left out when empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(case.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False)
        for case in cases
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
