"""Outputs of a run: results.jsonl, summary.json, report.html, the terminal table, thresholds."""

from __future__ import annotations

import html
import json
import math
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .cases import CATEGORIES
from .metrics import LATENCY_KEYS, LOWER_IS_BETTER, SUMMARY_KEYS, aggregate

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"

SHORT_NAMES = {
    "retrieval_hit_at_5": "hit@5",
    "retrieval_mrr": "MRR",
    "citation_validity": "valid",
    "citation_support": "supp(self)",
    "citation_recall": "c.rec",
    "citation_precision": "c.prec",
    "hedge_compliance": "hedge",
    "route_accuracy": "route",
    "refusal_compliance": "refuse",
    "crisis_recall": "crisis",
    "triage_false_fire_rate": "ff",
    "fact_recall": "facts",
    "off_topic_rate": "offtop",
    "off_topic_sentences": "offtop#",
    "mouse_caveat_misplaced": "caveat!",
    "latency_p50_ms": "p50ms",
    "latency_p95_ms": "p95ms",
}


# ---------------------------------------------------------------------------------------------
# Summary


def build_summary(rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any] | None = None) -> dict:
    """``overall``, ``by_category`` (in the canonical category order) and ``by_style``."""
    by_cat: dict[str, list] = defaultdict(list)
    by_style: dict[str, list] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
        if r.get("style"):
            by_style[r["style"]].append(r)
    order = [c for c in CATEGORIES if c in by_cat] + sorted(set(by_cat) - set(CATEGORIES))
    return {
        "meta": dict(meta or {}),
        "overall": aggregate(rows),
        "by_category": {c: aggregate(by_cat[c]) for c in order},
        "by_style": {s: aggregate(by_style[s]) for s in sorted(by_style)},
    }


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_outputs(
    out_dir: Path, rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]
) -> None:
    """Write results.jsonl, summary.json and report.html into ``out_dir`` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / RESULTS_FILE).open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False, default=_json_default) + "\n")
    (out_dir / SUMMARY_FILE).write_text(
        json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n",
        encoding="utf-8",
    )
    (out_dir / REPORT_FILE).write_text(render_html(summary, rows), encoding="utf-8")


def load_run(path: str | Path) -> tuple[dict, list[dict]]:
    """Read a run directory (or its summary.json): returns (summary, rows)."""
    p = Path(path)
    run_dir = p.parent if p.is_file() else p
    summary_path = run_dir / SUMMARY_FILE
    results_path = run_dir / RESULTS_FILE
    if not summary_path.exists():
        raise FileNotFoundError(f"{run_dir}: no {SUMMARY_FILE} (is this an eval output directory?)")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    rows: list[dict] = []
    if results_path.exists():
        for line in results_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return summary, rows


# ---------------------------------------------------------------------------------------------
# Thresholds

KNOWN_THRESHOLD_METRICS = frozenset({*SUMMARY_KEYS, "error_rate"})


class ThresholdError(ValueError):
    pass


def load_thresholds(path: str | Path) -> dict:
    """Read a thresholds TOML file.

    Layout: ``[overall.min]`` / ``[overall.max]`` tables of metric = bound, and optionally
    ``[by_category.<category>.min]`` / ``.max``. Unknown metric names are an error.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdError(f"{p}: no such thresholds file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdError(f"{p}: invalid TOML: {exc}") from None
    scopes: list[tuple[str, Mapping]] = [("overall", data.get("overall", {}))]
    for cat, table in (data.get("by_category") or {}).items():
        scopes.append((f"by_category.{cat}", table))
    for scope, table in scopes:
        for bound, metrics in table.items():
            if bound not in ("min", "max"):
                raise ThresholdError(
                    f"{p}: [{scope}] has {bound!r}; use [{scope}.min] or [{scope}.max]"
                )
            for metric, value in metrics.items():
                if metric not in KNOWN_THRESHOLD_METRICS:
                    raise ThresholdError(
                        f"{p}: [{scope}.{bound}] unknown metric {metric!r}; known: {sorted(KNOWN_THRESHOLD_METRICS)}"
                    )
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ThresholdError(f"{p}: [{scope}.{bound}] {metric} must be a number")
    data["_source"] = str(p)
    return data


def check_thresholds(summary: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[dict]:
    """One check per bound. A metric that does not apply to the run (value None) is skipped and
    reported as passed with ``skipped: true``; a category absent from the run is skipped too."""
    checks: list[dict] = []
    scopes: list[tuple[str, Mapping, Mapping]] = [
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


def _fmt(metric: str, value: Any) -> str:
    if value is None:
        return "-"
    if metric in LATENCY_KEYS:
        return f"{value:.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.2f}"


def format_table(summary: Mapping[str, Any]) -> str:
    """A short fixed-width table: overall and per category."""
    cols = list(SUMMARY_KEYS)
    head = ["scope", "n", "err", *[SHORT_NAMES[c] for c in cols]]
    rows = [("overall", summary["overall"])] + list(summary.get("by_category", {}).items())
    body = [
        [
            name,
            str(m.get("n_cases", "")),
            str(m.get("n_errors", "")),
            *[_fmt(c, m.get(c)) for c in cols],
        ]
        for name, m in rows
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
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

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 6px} h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #dde;padding-bottom:4px}
.meta{color:#556;font-size:13px} .meta span{margin-right:16px}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #dde;padding:4px 8px;text-align:right}
th{background:#eef1f6} td.l,th.l{text-align:left}
.ok{color:#17603a;font-weight:600} .bad{color:#b3261e;font-weight:600} .na{color:#99a}
.case{border:1px solid #dde;background:#fff;border-radius:6px;margin:14px 0;padding:10px 12px}
.case h3{font-size:15px;margin:0 0 8px} .grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.col h4{margin:0 0 6px;font-size:13px;text-transform:uppercase;color:#667;letter-spacing:.04em}
.q{background:#f3f5f9;padding:6px 8px;border-radius:4px;white-space:pre-wrap}
.ans{white-space:pre-wrap;background:#fbfbf3;padding:6px 8px;border-radius:4px}
.tag{display:inline-block;background:#fde7e5;color:#8c1d18;border-radius:10px;padding:1px 8px;margin:2px;font-size:12px}
ul{margin:4px 0 4px 18px;padding:0} li{margin:2px 0;font-size:13px} small{color:#667}
.pass{background:#e3f4e8;color:#17603a;padding:2px 8px;border-radius:10px;font-weight:600}
.fail{background:#fde7e5;color:#b3261e;padding:2px 8px;border-radius:10px;font-weight:600}
"""

HEATMAP_KEYS = (
    "retrieval_hit_at_5",
    "retrieval_mrr",
    "citation_validity",
    "citation_support",
    "citation_recall",
    "citation_precision",
    "hedge_compliance",
    "route_accuracy",
    "refusal_compliance",
    "crisis_recall",
    "triage_false_fire_rate",
    "fact_recall",
    "off_topic_rate",
    "mouse_caveat_misplaced",
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _color(value: float | None, lower_is_better: bool = False) -> str:
    if value is None:
        return "#eceef2"
    good = 1.0 - value if lower_is_better else value
    good = min(1.0, max(0.0, good))
    # red (0) -> amber (0.5) -> green (1)
    if good < 0.5:
        t = good / 0.5
        r, g, b = 214, int(64 + (180 - 64) * t), 60
    else:
        t = (good - 0.5) / 0.5
        r, g, b = int(214 - (214 - 46) * t), int(180 - (180 - 150) * t), int(60 + (90 - 60) * t)
    return f"#{r:02x}{g:02x}{b:02x}"


def svg_heatmap(summary: Mapping[str, Any]) -> str:
    """Per-category score heatmap (rows: overall + categories; columns: metrics)."""
    rows = [("overall", summary["overall"]), *summary.get("by_category", {}).items()]
    cell_w, cell_h, left, top = 62, 24, 190, 70
    width = left + cell_w * len(HEATMAP_KEYS) + 10
    height = top + cell_h * len(rows) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="Per-category scores" font-family="system-ui,sans-serif" font-size="11">'
    ]
    for j, key in enumerate(HEATMAP_KEYS):
        x = left + j * cell_w + cell_w / 2
        parts.append(
            f'<text x="{x:.0f}" y="{top - 8}" text-anchor="start" transform="rotate(-35 {x:.0f} {top - 8})">{_e(SHORT_NAMES[key])}</text>'
        )
    for i, (name, m) in enumerate(rows):
        y = top + i * cell_h
        label = f"{name} (n={m.get('n_cases', 0)})"
        weight = ' font-weight="700"' if name == "overall" else ""
        parts.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end"{weight}>{_e(label)}</text>'
        )
        for j, key in enumerate(HEATMAP_KEYS):
            v = m.get(key)
            x = left + j * cell_w
            fill = _color(v, key in LOWER_IS_BETTER)
            text = "n/a" if v is None else f"{v:.2f}"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}" rx="2">'
                f"<title>{_e(name)} {_e(key)}: {_e(text)}</title></rect>"
            )
            parts.append(
                f'<text x="{x + cell_w / 2 - 1:.0f}" y="{y + 16}" text-anchor="middle" fill="#1d2330">{text}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def svg_pass_bars(rows: Sequence[Mapping[str, Any]]) -> str:
    """Horizontal bars: share of cases passing every check, per category."""
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(bool(r.get("passed")))
    cats = [c for c in CATEGORIES if c in by_cat] + sorted(set(by_cat) - set(CATEGORIES))
    left, bar_w, bar_h, top = 190, 360, 18, 10
    height = top + (bar_h + 6) * len(cats) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + bar_w + 90}" height="{height}" role="img" '
        f'aria-label="Cases passing per category" font-family="system-ui,sans-serif" font-size="11">'
    ]
    for i, cat in enumerate(cats):
        vals = by_cat[cat]
        share = sum(vals) / len(vals)
        y = top + i * (bar_h + 6)
        parts.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{_e(cat)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{bar_w}" height="{bar_h}" fill="#eceef2" rx="2"/>'
        )
        parts.append(
            f'<rect x="{left}" y="{y}" width="{bar_w * share:.1f}" height="{bar_h}" fill="{_color(share)}" rx="2">'
            f"<title>{_e(cat)}: {sum(vals)}/{len(vals)} passed</title></rect>"
        )
        parts.append(
            f'<text x="{left + bar_w + 6}" y="{y + 13}">{sum(vals)}/{len(vals)} ({share:.0%})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_latency(rows: Sequence[Mapping[str, Any]], p50: float | None, p95: float | None) -> str:
    """Latency histogram with p50 and p95 markers."""
    lat = sorted(
        r["latency_ms"] for r in rows if r.get("latency_ms") is not None and not r.get("error")
    )
    width, height, left, bottom, top = 640, 220, 50, 30, 16
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="Latency distribution" font-family="system-ui,sans-serif" font-size="11">'
    ]
    if not lat:
        parts.append('<text x="10" y="30">no latency data</text></svg>')
        return "".join(parts)
    lo, hi = 0.0, max(lat) * 1.05 or 1.0
    nbins = min(30, max(5, int(math.sqrt(len(lat))) * 2))
    step = (hi - lo) / nbins
    counts = [0] * nbins
    for v in lat:
        counts[min(nbins - 1, int((v - lo) / step))] += 1
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max(counts)
    bw = plot_w / nbins
    for i, c in enumerate(counts):
        h = plot_h * c / peak if peak else 0
        x = left + i * bw
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bw - 1, 1):.1f}" height="{h:.1f}" fill="#5b7fc7">'
            f"<title>{lo + i * step:.0f}-{lo + (i + 1) * step:.0f} ms: {c}</title></rect>"
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#445"/>'
    )
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        x = left + plot_w * k / 4
        parts.append(f'<text x="{x:.0f}" y="{height - 10}" text-anchor="middle">{v:.0f} ms</text>')
    parts.append(f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">{peak}</text>')
    for name, v, colour in (("p50", p50, "#17603a"), ("p95", p95, "#b3261e")):
        if v is None:
            continue
        x = left + plot_w * (v - lo) / (hi - lo)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{colour}" stroke-dasharray="4 3" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{x + 4:.1f}" y="{top + 10}" fill="{colour}">{name} {v:.0f} ms</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _overall_table(summary: Mapping[str, Any]) -> str:
    checks: dict[str, list[dict]] = defaultdict(list)
    for c in (summary.get("thresholds") or {}).get("checks", []):
        if c["scope"] == "overall":
            checks[c["metric"]].append(c)
    out = ['<table><tr><th class="l">metric</th><th>value</th><th class="l">threshold</th></tr>']
    for key in (*SUMMARY_KEYS, "error_rate"):
        v = summary["overall"].get(key)
        cs = checks.get(key, [])
        if cs:
            cls = "ok" if all(c["passed"] for c in cs) else "bad"
            th = ", ".join(f"{c['op']} {c['threshold']}" for c in cs)
        else:
            cls, th = "", ""
        out.append(
            f'<tr><td class="l">{_e(key)}</td><td class="{cls}">{_e(_fmt(key, v))}</td><td class="l">{_e(th)}</td></tr>'
        )
    out.append("</table>")
    return "".join(out)


def _case_block(r: Mapping[str, Any]) -> str:
    ans = r.get("answer") or {}
    hist = "".join(
        f"<li><b>{_e(t['role'])}:</b> {_e(t['content'])}</li>" for t in r.get("history") or []
    )
    expected = [
        f'<div class="q">{_e(r["question"])}</div>',
        f"<ul>{hist}</ul>" if hist else "",
        f"<p>{_e(r.get('expected_behavior'))}</p>",
        "<ul>",
        f"<li><b>route:</b> {_e(' or '.join(r.get('expected_routes') or []))}</li>",
        f"<li><b>sources:</b> {_e(', '.join(r.get('expected_sources') or []) or '-')}</li>",
        f"<li><b>must hedge:</b> {_e(r.get('must_hedge'))}; <b>must refuse/redirect:</b> {_e(r.get('must_refuse_or_redirect'))}</li>",
        "</ul>",
    ]
    if r.get("must_cite"):
        expected.append(
            "<b>must cite</b><ul>" + "".join(f"<li>{_e(m)}</li>" for m in r["must_cite"]) + "</ul>"
        )
    details = r.get("details") or {}
    got: list[str] = []
    if r.get("error"):
        got.append(f'<p class="bad">error: {_e(r["error"])}</p>')
    if ans:
        got.append(
            f"<ul><li><b>route:</b> {_e(ans.get('route'))} &middot; <b>mode:</b> {_e(ans.get('mode'))}"
            f" &middot; <b>latency:</b> {_e(_fmt('latency_p50_ms', r.get('latency_ms')))} ms</li></ul>"
        )
        got.append(f'<div class="ans">{_e(ans.get("answer"))}</div>')
        if ans.get("hedges"):
            got.append(
                "<b>hedges</b><ul>" + "".join(f"<li>{_e(h)}</li>" for h in ans["hedges"]) + "</ul>"
            )
        if ans.get("citations"):
            got.append(
                "<b>citations</b><ul>"
                + "".join(
                    f"<li>[{_e(c['n'])}] {_e(c.get('source_id'))} <small>({_e(c.get('evidence'))})</small>: "
                    f"&ldquo;{_e((c.get('quote') or '')[:300])}&rdquo;</li>"
                    for c in ans["citations"]
                )
                + "</ul>"
            )
        top = ans.get("retrieved") or []
        if top:
            got.append(
                "<b>retrieved (top 5)</b><ul>"
                + "".join(
                    f"<li>{_e(p.get('rank'))}. {_e(p.get('source_id'))} <small>{_e(', '.join(p.get('topics') or []))}</small></li>"
                    for p in sorted(top, key=lambda p: p.get("rank", 0))[:5]
                )
                + "</ul>"
            )
    for problem in details.get("citation_problems", []):
        got.append(f'<p class="bad">{_e(problem)}</p>')
    unsupported = [s for s in details.get("sentences", []) if not s.get("supported")]
    if unsupported:
        got.append(
            "<b>unsupported sentences</b><ul>"
            + "".join(
                f"<li>{_e(s['sentence'])} <small>cites {_e(s['cited'] or 'nothing')}</small></li>"
                for s in unsupported
            )
            + "</ul>"
        )
    if details.get("verifier_error"):
        got.append(f'<p class="bad">verifier: {_e(details["verifier_error"])}</p>')
    tags = "".join(f'<span class="tag">{_e(f)}</span>' for f in r.get("failures") or [])
    style = f" <small>{_e(r['style'])}</small>" if r.get("style") else ""
    return (
        f'<div class="case" id="case-{_e(r["id"])}"><h3>{_e(r["id"])} <small>{_e(r["category"])}</small>{style} {tags}</h3>'
        f'<div class="grid"><div class="col"><h4>Expected</h4>{"".join(expected)}</div>'
        f'<div class="col"><h4>Got</h4>{"".join(got)}</div></div></div>'
    )


def _case_link(r: Mapping[str, Any]) -> str:
    if r.get("passed"):
        return _e(r["id"])
    return f'<a href="#case-{_e(r["id"])}">{_e(r["id"])}</a>'


def render_html(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """A self-contained page: inline CSS and SVG only, no scripts, no external resources."""
    meta = summary.get("meta", {})
    overall = summary["overall"]
    th = summary.get("thresholds")
    verdict = ""
    if th:
        verdict = (
            '<span class="pass">thresholds met</span>'
            if th["passed"]
            else '<span class="fail">thresholds missed</span>'
        )
    meta_bits = "".join(
        f"<span><b>{_e(k)}:</b> {_e(', '.join(map(str, v)) if isinstance(v, list) else v)}</span>"
        for k, v in meta.items()
    )
    failing = [r for r in rows if not r.get("passed")]
    all_rows = "".join(
        f'<tr><td class="l">{_case_link(r)}</td><td class="l">{_e(r["category"])}</td>'
        f'<td class="l">{_e(r.get("route") or "-")}</td><td class="l">{_e(" or ".join(r.get("expected_routes") or []))}</td>'
        f"<td>{_e(_fmt('latency_p50_ms', r.get('latency_ms')))}</td>"
        f'<td class="{"ok" if r.get("passed") else "bad"}">{"pass" if r.get("passed") else _e(", ".join(r.get("failures") or []))}</td></tr>'
        for r in rows
    )
    by_cat_rows = []
    for name, m in [("overall", overall), *summary.get("by_category", {}).items()]:
        cells = "".join(f"<td>{_e(_fmt(k, m.get(k)))}</td>" for k in SUMMARY_KEYS)
        by_cat_rows.append(
            f'<tr><td class="l">{_e(name)}</td><td>{m.get("n_cases", 0)}</td>{cells}</tr>'
        )
    head = "".join(f"<th>{_e(SHORT_NAMES[k])}</th>" for k in SUMMARY_KEYS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fibro eval report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>fibro eval report {verdict}</h1>
<div class="meta">{meta_bits}</div>
<p>{overall.get("n_cases", 0)} cases, {overall.get("n_failed", 0)} failing, {overall.get("n_errors", 0)} errors.</p>
<h2>Overall</h2>
{_overall_table(summary)}
<h2>Scores per category</h2>
{svg_heatmap(summary)}
<h2>Cases passing every check, per category</h2>
{svg_pass_bars(rows)}
<h2>Latency distribution</h2>
{svg_latency(rows, overall.get("latency_p50_ms"), overall.get("latency_p95_ms"))}
<h2>Per-category table</h2>
<table><tr><th class="l">scope</th><th>n</th>{head}</tr>{"".join(by_cat_rows)}</table>
<h2>Failing cases ({len(failing)})</h2>
{"".join(_case_block(r) for r in failing) or "<p>None.</p>"}
<h2>All cases</h2>
<table><tr><th class="l">id</th><th class="l">category</th><th class="l">route</th><th class="l">expected</th><th>ms</th><th class="l">result</th></tr>{all_rows}</table>
</body></html>
"""
