"""Compare two eval runs: what got better and what got worse, overall, per category, per case.

Which metrics are compared, and which way is better, comes from evals/registry.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import BY_SUMMARY_KEY, CASE_METRICS, METRICS, Metric
from .report import load_run
from .results import CaseResult

EPS = 1e-9
# Latency changes smaller than this share are noise, not a change.
LATENCY_REL_TOL = 0.10
LATENCY_ABS_TOL_MS = 25.0


@dataclass
class MetricDelta:
    """One summary metric of one scope (overall or a category) in runs A and B."""

    scope: str
    metric: str  # summary name (evals/registry.py)
    a: float | None
    b: float | None

    @property
    def registered(self) -> Metric:
        return BY_SUMMARY_KEY[self.metric]

    @property
    def is_latency(self) -> bool:
        return self.registered.kind == "latency"

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def direction(self) -> str:
        """'better', 'worse', 'same' or 'n/a'."""
        d = self.delta
        if d is None:
            return "n/a" if self.a == self.b else ("new" if self.a is None else "gone")
        if self.is_latency:
            base = max(abs(self.a or 0.0), 1.0)
            if abs(d) / base < LATENCY_REL_TOL or abs(d) < LATENCY_ABS_TOL_MS:
                return "same"
        elif abs(d) <= EPS:
            return "same"
        return "better" if (d < 0) == self.registered.lower_is_better else "worse"


@dataclass
class CaseChange:
    id: str
    category: str
    a_passed: bool | None
    b_passed: bool | None
    better: list[str] = field(default_factory=list)  # "route_accuracy 0.00 -> 1.00"
    worse: list[str] = field(default_factory=list)
    a_route: str | None = None
    b_route: str | None = None

    @property
    def verdict(self) -> str:
        if self.a_passed and self.b_passed is False:
            return "regressed"
        if self.a_passed is False and self.b_passed:
            return "fixed"
        if self.worse and not self.better:
            return "worse"
        if self.better and not self.worse:
            return "better"
        return "mixed" if self.better or self.worse else "same"


@dataclass
class Comparison:
    a: str
    b: str
    overall: list[MetricDelta]
    by_category: list[MetricDelta]
    cases: list[CaseChange]
    only_in_a: list[str]
    only_in_b: list[str]

    @property
    def regressions(self) -> list[CaseChange]:
        return [c for c in self.cases if c.verdict in ("regressed", "worse", "mixed") and c.worse]

    @property
    def improvements(self) -> list[CaseChange]:
        return [c for c in self.cases if c.better]

    def as_dict(self) -> dict[str, Any]:
        def md(d: MetricDelta) -> dict[str, Any]:
            return {
                "scope": d.scope,
                "metric": d.metric,
                "a": d.a,
                "b": d.b,
                "delta": d.delta,
                "direction": d.direction,
            }

        return {
            "a": self.a,
            "b": self.b,
            "overall": [md(d) for d in self.overall],
            "by_category": [md(d) for d in self.by_category if d.direction not in ("same", "n/a")],
            "cases": [
                {
                    "id": c.id,
                    "category": c.category,
                    "verdict": c.verdict,
                    "a_passed": c.a_passed,
                    "b_passed": c.b_passed,
                    "a_route": c.a_route,
                    "b_route": c.b_route,
                    "better": c.better,
                    "worse": c.worse,
                }
                for c in self.cases
                if c.verdict != "same"
            ],
            "only_in_a": self.only_in_a,
            "only_in_b": self.only_in_b,
        }


def _metric_deltas(
    scope: str, a: Mapping[str, Any] | None, b: Mapping[str, Any] | None
) -> list[MetricDelta]:
    a = a or {}
    b = b or {}
    return [
        MetricDelta(scope, m.summary_key, a.get(m.summary_key), b.get(m.summary_key))
        for m in METRICS
    ]


def _case_change(ra: CaseResult, rb: CaseResult) -> CaseChange:
    change = CaseChange(
        id=ra.id,
        category=rb.category or ra.category,
        a_passed=ra.passed,
        b_passed=rb.passed,
        a_route=ra.route,
        b_route=rb.route,
    )
    for m in CASE_METRICS:
        va, vb = ra.score(m.name), rb.score(m.name)
        if va is None or vb is None:
            # The metric stopped or started applying (e.g. the route changed); route_accuracy and
            # the error field carry that change.
            continue
        d = vb - va
        if abs(d) <= EPS:
            continue
        text = f"{m.name} {va:.2f} -> {vb:.2f}"
        (change.better if (d < 0) == m.lower_is_better else change.worse).append(text)
    if (ra.error is None) != (rb.error is None):
        (change.worse if rb.error else change.better).append(
            f"error: {rb.error or 'none (was: ' + str(ra.error) + ')'}"
        )
    return change


def compare_runs(a_path: str | Path, b_path: str | Path) -> Comparison:
    """Compare run A (baseline) with run B (candidate). Inputs are run directories."""
    sa, rows_a = load_run(a_path)
    sb, rows_b = load_run(b_path)
    overall = _metric_deltas("overall", sa.get("overall"), sb.get("overall"))
    cats = list(dict.fromkeys([*sa.get("by_category", {}), *sb.get("by_category", {})]))
    by_cat: list[MetricDelta] = []
    for cat in cats:
        by_cat.extend(
            _metric_deltas(
                cat, sa.get("by_category", {}).get(cat), sb.get("by_category", {}).get(cat)
            )
        )
    ia = {r.id: r for r in rows_a}
    ib = {r.id: r for r in rows_b}
    cases = [_case_change(ia[i], ib[i]) for i in ia if i in ib]
    return Comparison(
        a=str(a_path),
        b=str(b_path),
        overall=overall,
        by_category=by_cat,
        cases=cases,
        only_in_a=[i for i in ia if i not in ib],
        only_in_b=[i for i in ib if i not in ia],
    )


_ARROW = {"better": "better", "worse": "WORSE", "same": "", "n/a": "", "new": "new", "gone": "gone"}


def format_comparison(cmp: Comparison, *, max_cases: int = 50) -> str:
    """Text report: overall deltas, category changes, then case by case."""
    lines = [f"A (baseline):  {cmp.a}", f"B (candidate): {cmp.b}", "", "Overall:"]
    for d in cmp.overall:
        m = d.registered
        delta = "" if d.delta is None else f"{d.delta:+.0f}" if d.is_latency else f"{d.delta:+.2f}"
        lines.append(
            f"  {d.metric:<24} {m.format(d.a):>8} -> {m.format(d.b):>8}  {delta:>7}  {_ARROW[d.direction]}"
        )
    # Per-category latency over a handful of cases is noise; latency is compared overall only.
    changed = [
        d for d in cmp.by_category if d.direction in ("better", "worse") and not d.is_latency
    ]
    if changed:
        lines.append("\nBy category (changed):")
        for d in changed:
            lines.append(
                f"  {d.scope:<24} {d.metric:<24} {d.registered.format(d.a):>8} -> {d.registered.format(d.b):>8}  {_ARROW[d.direction]}"
            )
    groups = [
        ("Regressed (passed in A, fails in B)", [c for c in cmp.cases if c.verdict == "regressed"]),
        ("Fixed (failed in A, passes in B)", [c for c in cmp.cases if c.verdict == "fixed"]),
        ("Worse", [c for c in cmp.cases if c.verdict == "worse"]),
        ("Better", [c for c in cmp.cases if c.verdict == "better"]),
        ("Mixed", [c for c in cmp.cases if c.verdict == "mixed"]),
    ]
    for title, items in groups:
        if not items:
            continue
        lines.append(f"\n{title}: {len(items)}")
        for c in items[:max_cases]:
            route = f" route {c.a_route}->{c.b_route}" if c.a_route != c.b_route else ""
            bits = [*(f"+ {b}" for b in c.better), *(f"- {w}" for w in c.worse)]
            lines.append(f"  {c.id} ({c.category}){route}: {'; '.join(bits)}")
        if len(items) > max_cases:
            lines.append(f"  ... and {len(items) - max_cases} more")
    if cmp.only_in_a:
        lines.append(f"\nOnly in A: {', '.join(cmp.only_in_a)}")
    if cmp.only_in_b:
        lines.append(f"\nOnly in B: {', '.join(cmp.only_in_b)}")
    same = sum(1 for c in cmp.cases if c.verdict == "same")
    lines.append(f"\n{len(cmp.cases)} cases in both runs; {same} unchanged.")
    return "\n".join(lines)
