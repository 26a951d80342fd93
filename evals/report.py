"""Outputs of a run: results.jsonl, summary.json, report.html, the terminal table, thresholds.

Every metric name, label and direction comes from evals/registry.py. The HTML page is the Jinja2
template ``templates/report.html.j2``; this module only gathers the numbers it shows.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from pydantic import ValidationError

from assistant.errors import RunLoadError, ThresholdError

from .cases import CATEGORIES, format_validation_error
from .metrics import aggregate
from .registry import BY_SUMMARY_KEY, METRICS, SUMMARY_NAMES, Metric, format_value
from .results import CaseResult

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"


# ---------------------------------------------------------------------------------------------
# Summary


def category_order(categories: Iterable[str]) -> list[str]:
    """The canonical category order (evals/cases.py), then any other category by name."""
    present = set(categories)
    return [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES))


def build_summary(
    rows: Sequence[CaseResult], meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``overall``, ``by_category`` (in the canonical category order) and ``by_style``."""
    by_cat: dict[str, list[CaseResult]] = defaultdict(list)
    by_style: dict[str, list[CaseResult]] = defaultdict(list)
    for r in rows:
        by_cat[r.category].append(r)
        if r.style:
            by_style[r.style].append(r)
    return {
        "meta": dict(meta or {}),
        "overall": aggregate(rows),
        "by_category": {c: aggregate(by_cat[c]) for c in category_order(by_cat)},
        "by_style": {s: aggregate(by_style[s]) for s in sorted(by_style)},
    }


def _json_default(obj: Any) -> Any:
    """Meta values that JSON cannot hold as they are (paths, sets of names)."""
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_outputs(out_dir: Path, rows: Sequence[CaseResult], summary: Mapping[str, Any]) -> None:
    """Write results.jsonl, summary.json and report.html into ``out_dir`` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / RESULTS_FILE).open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    (out_dir / SUMMARY_FILE).write_text(
        json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n",
        encoding="utf-8",
    )
    (out_dir / REPORT_FILE).write_text(render_html(summary, rows), encoding="utf-8")


def load_run(path: str | Path) -> tuple[dict[str, Any], list[CaseResult]]:
    """Read a run directory (or its summary.json): returns (summary, results).

    FileNotFoundError when there is no summary.json; RunLoadError when a file is not valid JSON
    or a results line does not fit ``CaseResult``."""
    p = Path(path)
    run_dir = p.parent if p.is_file() else p
    summary_path = run_dir / SUMMARY_FILE
    results_path = run_dir / RESULTS_FILE
    if not summary_path.exists():
        raise FileNotFoundError(f"{run_dir}: no {SUMMARY_FILE} (is this an eval output directory?)")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunLoadError(f"{summary_path}: invalid JSON: {exc}") from None
    rows: list[CaseResult] = []
    if results_path.exists():
        lines = results_path.read_text(encoding="utf-8").splitlines()
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(CaseResult.from_json(json.loads(line)))
            except json.JSONDecodeError as exc:
                raise RunLoadError(f"{results_path}:{lineno}: invalid JSON: {exc}") from None
            except ValidationError as exc:
                raise RunLoadError(
                    f"{results_path}:{lineno}: {format_validation_error(exc)}"
                ) from None
    return summary, rows


# ---------------------------------------------------------------------------------------------
# Thresholds


def load_thresholds(path: str | Path) -> dict[str, Any]:
    """Read a thresholds TOML file.

    Layout: ``[overall.min]`` / ``[overall.max]`` tables of metric = bound, and optionally
    ``[by_category.<category>.min]`` / ``.max``. Metric names are the registry's summary names
    (evals/registry.py); an unknown one is an error.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdError(f"{p}: no such thresholds file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdError(f"{p}: invalid TOML: {exc}") from None
    scopes: list[tuple[str, Mapping[str, Any]]] = [("overall", data.get("overall", {}))]
    for cat, table in (data.get("by_category") or {}).items():
        scopes.append((f"by_category.{cat}", table))
    for scope, table in scopes:
        for bound, bounds in table.items():
            if bound not in ("min", "max"):
                raise ThresholdError(
                    f"{p}: [{scope}] has {bound!r}; use [{scope}.min] or [{scope}.max]"
                )
            for metric, value in bounds.items():
                if metric not in BY_SUMMARY_KEY:
                    raise ThresholdError(
                        f"{p}: [{scope}.{bound}] unknown metric {metric!r}; known: {sorted(SUMMARY_NAMES)}"
                    )
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ThresholdError(f"{p}: [{scope}.{bound}] {metric} must be a number")
    data["_source"] = str(p)
    return data


def _fmt(metric: str, value: float | int | None) -> str:
    """A summary value as text, formatted as its registered metric (plain 2dp otherwise)."""
    m = BY_SUMMARY_KEY.get(metric)
    return m.format(value) if m is not None else format_value(value)


def check_thresholds(
    summary: Mapping[str, Any], thresholds: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One check per bound. A metric that does not apply to the run (value None) is skipped and
    reported as passed with ``skipped: true``; a category absent from the run is skipped too."""
    checks: list[dict[str, Any]] = []
    scopes: list[tuple[str, Mapping[str, Any], Mapping[str, Any] | None]] = [
        ("overall", thresholds.get("overall", {}), summary.get("overall", {}))
    ]
    for cat, table in (thresholds.get("by_category") or {}).items():
        scopes.append((cat, table, summary.get("by_category", {}).get(cat)))
    for scope, table, values in scopes:
        for bound in ("min", "max"):
            for metric, limit in (table.get(bound) or {}).items():
                value = None if values is None else values.get(metric)
                op = ">=" if bound == "min" else "<="
                skipped = value is None
                passed = skipped or (value >= limit if bound == "min" else value <= limit)
                shown = "n/a" if value is None else _fmt(metric, value)
                checks.append(
                    {
                        "scope": scope,
                        "metric": metric,
                        "op": op,
                        "threshold": limit,
                        "value": value,
                        "passed": passed,
                        "skipped": skipped,
                        "description": f"{scope} {metric} {shown} (needs {op} {limit})",
                    }
                )
    return checks


# ---------------------------------------------------------------------------------------------
# Terminal table

TABLE_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.in_table)
# The heatmap's colour scale runs over [0, 1]: per-case fractions only (no counts, no latency).
HEATMAP_METRICS: tuple[Metric, ...] = tuple(
    m for m in METRICS if m.level == "case" and m.is_fraction
)


def format_table(summary: Mapping[str, Any]) -> str:
    """A short fixed-width table: overall and per category."""
    head = ["scope", "n", "err", *[m.label for m in TABLE_METRICS]]
    rows = [("overall", summary["overall"]), *summary.get("by_category", {}).items()]
    body = [
        [
            name,
            str(values.get("n_cases", "")),
            str(values.get("n_errors", "")),
            *[m.format(values.get(m.summary_key)) for m in TABLE_METRICS],
        ]
        for name, values in rows
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(cells, widths, strict=True))
        )

    lines = [line(head), "  ".join("-" * w for w in widths), *(line(r) for r in body)]
    th = summary.get("thresholds")
    if th:
        failed = [c for c in th["checks"] if not c["passed"]]
        if failed:
            lines.append(f"\nTHRESHOLDS MISSED ({len(failed)}):")
            lines.extend(f"  - {c['description']}" for c in failed)
        else:
            lines.append(f"\nAll {len(th['checks'])} thresholds met.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# HTML report


def colour(value: float | None, lower_is_better: bool = False) -> str:
    """Cell colour for a value in [0, 1]: red (bad) through amber to green (good); grey for n/a."""
    if value is None:
        return "#eceef2"
    good = 1.0 - value if lower_is_better else value
    good = min(1.0, max(0.0, good))
    if good < 0.5:
        t = good / 0.5
        r, g, b = 214, int(64 + (180 - 64) * t), 60
    else:
        t = (good - 0.5) / 0.5
        r, g, b = int(214 - (214 - 46) * t), int(180 - (180 - 150) * t), int(60 + (90 - 60) * t)
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True)
class OverallRow:
    """One line of the overall table: the value and the thresholds it was checked against."""

    metric: Metric
    value: str
    status: str  # "ok", "bad" or "" (no threshold)
    bounds: str


@dataclass(frozen=True)
class PassBar:
    """Cases of one category that pass every check."""

    category: str
    passed: int
    total: int

    @property
    def share(self) -> float:
        return self.passed / self.total


@dataclass(frozen=True)
class LatencyHistogram:
    """Latency counts per bin (``edges`` has one more item than ``counts``) and percentiles."""

    counts: list[int]
    edges: list[float]
    p50: float | None
    p95: float | None

    @property
    def peak(self) -> int:
        return max(self.counts)

    @property
    def hi(self) -> float:
        return self.edges[-1]


def latency_histogram(
    rows: Sequence[CaseResult], p50: float | None, p95: float | None
) -> LatencyHistogram | None:
    """Histogram of the successful cases' latencies from 0 to just above the slowest one, with
    about twice the square root of the case count in bins (5 to 30); None without latencies."""
    lat = [r.latency_ms for r in rows if r.latency_ms is not None and not r.error]
    if not lat:
        return None
    hi = max(lat) * 1.05 or 1.0
    bins = min(30, max(5, int(math.sqrt(len(lat))) * 2))
    counts, edges = np.histogram(lat, bins=bins, range=(0.0, hi))
    return LatencyHistogram(
        counts=[int(c) for c in counts], edges=[float(e) for e in edges], p50=p50, p95=p95
    )


def _pass_bars(rows: Sequence[CaseResult]) -> list[PassBar]:
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_cat[r.category].append(r.passed)
    return [PassBar(c, sum(by_cat[c]), len(by_cat[c])) for c in category_order(by_cat)]


def _overall_rows(summary: Mapping[str, Any]) -> list[OverallRow]:
    checks: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for c in (summary.get("thresholds") or {}).get("checks", []):
        if c["scope"] == "overall":
            checks[c["metric"]].append(c)
    out = []
    for m in METRICS:
        cs = checks.get(m.summary_key, [])
        status = ("ok" if all(c["passed"] for c in cs) else "bad") if cs else ""
        bounds = ", ".join(f"{c['op']} {c['threshold']}" for c in cs)
        out.append(OverallRow(m, m.format(summary["overall"].get(m.summary_key)), status, bounds))
    return out


def _meta_text(value: Any) -> Any:
    return ", ".join(map(str, value)) if isinstance(value, list) else value


@cache
def _environment() -> jinja2.Environment:
    """Autoescaping everywhere (answers, questions and errors are untrusted text); ``None``
    renders as nothing, as an absent value."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evals", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=lambda value: "" if value is None else value,
    )
    env.globals.update(colour=colour, ms=lambda v: format_value(v, latency=True))
    return env


def render_html(summary: Mapping[str, Any], rows: Sequence[CaseResult]) -> str:
    """A self-contained page: inline CSS and SVG only, no scripts, no external resources."""
    overall = summary["overall"]
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            meta=[(k, _meta_text(v)) for k, v in summary.get("meta", {}).items()],
            thresholds=summary.get("thresholds"),
            overall=overall,
            overall_rows=_overall_rows(summary),
            scopes=[("overall", overall), *summary.get("by_category", {}).items()],
            heatmap_metrics=HEATMAP_METRICS,
            table_metrics=TABLE_METRICS,
            pass_bars=_pass_bars(rows),
            latency=latency_histogram(
                rows, overall.get("latency_p50_ms"), overall.get("latency_p95_ms")
            ),
            failing=[r for r in rows if not r.passed],
            rows=rows,
        )
    )
