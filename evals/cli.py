"""``fibro eval``, ``fibro eval compare A B`` and ``fibro eval triage``.

Wiring into the ``fibro`` CLI::

    from evals.cli import add_eval_parser, run_eval
    add_eval_parser(subparsers)    # adds "eval"; sets handler=run_eval (and func=run_eval)
    ...
    return args.handler(args)

Standalone, without the ``fibro`` entry point, the same arguments follow ``python -m evals.cli``:
``python -m evals.cli [--cases ...]``, ``python -m evals.cli compare A B``,
``python -m evals.cli triage``. A leading ``eval`` is accepted too (``python -m evals.cli eval
compare A B``), so a ``fibro eval ...`` line works with ``fibro`` replaced.

Exit codes: 0 all thresholds met (or compare without regressions), 1 a threshold missed (or
``--fail-on-regression`` with regressions), 2 bad cases/thresholds/arguments or the target could
not be built.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .cases import (
    CATEGORIES,
    CORE_SUITE,
    DEFAULT_THRESHOLDS,
    CaseLoadError,
    filter_cases,
    load_cases,
)

if TYPE_CHECKING:
    from assistant.settings import Settings

    from .cases import EvalCase
    from .runner import RunOutcome, Target

# Where `--url` runs find the key of a service that sets FIBRO_API_KEYS.
API_KEY_ENV = "FIBRO_EVAL_API_KEY"


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cases",
        nargs="+",
        action="extend",
        metavar="PATH",
        help=f"JSONL suite files or directories (default: {CORE_SUITE.relative_to(CORE_SUITE.parents[2])})",
    )
    p.add_argument(
        "--url", help="evaluate a running service (POST {url}/v1/answer) instead of in-process"
    )
    p.add_argument(
        "--model",
        help="LLM model for the in-process pipeline (default: settings; none = extractive)",
    )
    p.add_argument(
        "--judge-model",
        help="LLM judge (litellm model string) for citation support instead of the built-in verifier",
    )
    p.add_argument(
        "--judge-api-base", help="api_base for the judge model (OpenAI-compatible servers)"
    )
    p.add_argument("--out", type=Path, help="output directory (default: eval-runs/<timestamp>)")
    p.add_argument("--workers", type=int, default=4, help="parallel cases (default: 4)")
    p.add_argument(
        "--thresholds",
        type=Path,
        default=DEFAULT_THRESHOLDS,
        help="thresholds TOML (default: evals/thresholds.toml)",
    )
    p.add_argument("--no-thresholds", action="store_true", help="do not gate on thresholds")
    p.add_argument(
        "--category",
        nargs="+",
        action="extend",
        choices=CATEGORIES,
        metavar="CATEGORY",
        help="only these categories",
    )
    p.add_argument(
        "--id", nargs="+", action="extend", dest="ids", metavar="ID", help="only these case ids"
    )
    p.add_argument("--limit", type=int, help="only the first N cases (after filtering)")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="HTTP timeout per request in seconds (--url)"
    )
    p.add_argument(
        "--api-key",
        default=None,
        help=f"key for a service that sets FIBRO_API_KEYS (--url); default: ${API_KEY_ENV}, "
        "which keeps the key out of the process list",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: a bar on a terminal only)",
    )
    p.add_argument(
        "--langfuse",
        action="store_true",
        help="also record the suite as a Langfuse dataset and the run as an experiment with "
        "each case's scores (needs the FIBRO_LANGFUSE_* keys)",
    )
    p.add_argument(
        "--dataset",
        metavar="NAME",
        help="Langfuse dataset name with --langfuse (default: fibro-<suite file stem>)",
    )


DESCRIPTION = (
    "Run eval cases in-process (default) or against --url, score them and write "
    "results.jsonl, summary.json and report.html to --out. Exits 1 when a threshold is missed."
)


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``eval`` (with its ``compare`` and ``triage`` sub-commands) to a ``fibro`` sub-parser
    collection."""
    parser = subparsers.add_parser(
        "eval", help="run the eval suite and score groundedness and safety", description=DESCRIPTION
    )
    _configure(parser)
    return parser


def _configure(parser: argparse.ArgumentParser) -> None:
    """The eval arguments and sub-commands, shared by ``fibro eval`` and ``python -m evals.cli``
    so the two cannot drift apart."""
    _add_run_args(parser)
    sub = parser.add_subparsers(dest="eval_command", metavar="{compare,triage}")
    cmp = sub.add_parser(
        "compare",
        help="compare two eval runs case by case",
        description="Compare run A (baseline) with run B.",
    )
    cmp.add_argument("a", type=Path, help="baseline run directory")
    cmp.add_argument("b", type=Path, help="candidate run directory")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cmp.add_argument(
        "--max-cases", type=int, default=50, help="cases listed per group (default: 50)"
    )
    cmp.add_argument(
        "--fail-on-regression", action="store_true", help="exit 1 when any case regressed"
    )
    from .triage import add_triage_parser

    add_triage_parser(sub)
    parser.set_defaults(func=run_eval, handler=run_eval, eval_command=None)


def _run_compare(args: argparse.Namespace) -> int:
    from .compare import compare_runs, format_comparison
    from .report import RunLoadError

    try:
        cmp = compare_runs(args.a, args.b)
    except (FileNotFoundError, RunLoadError) as exc:
        print(f"fibro eval compare: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(cmp.as_dict(), indent=2))
    else:
        print(format_comparison(cmp, max_cases=args.max_cases))
    return 1 if args.fail_on_regression and cmp.regressions else 0


def _build_target(args: argparse.Namespace) -> Target:
    from .runner import HttpTarget, InProcessTarget

    if args.url:
        if args.model:
            print(
                "fibro eval: --model is ignored with --url (the service's settings choose the model)",
                file=sys.stderr,
            )
        key = args.api_key or os.environ.get(API_KEY_ENV)
        headers = {"Authorization": f"Bearer {key}"} if key else None
        return HttpTarget(args.url, timeout=args.timeout, headers=headers)
    return InProcessTarget.from_settings(model=args.model)


def run_eval(args: argparse.Namespace) -> int:
    """Run the eval (or ``compare``) from parsed arguments; returns the exit code."""
    if getattr(args, "eval_command", None) == "compare":
        return _run_compare(args)
    if getattr(args, "eval_command", None) == "triage":
        from .triage import run_triage_eval

        return run_triage_eval(args)
    from .report import ThresholdError, format_table, load_thresholds
    from .runner import run_suite
    from .verifiers import make_verifier

    try:
        cases = load_cases(args.cases or [CORE_SUITE])
        cases = filter_cases(cases, categories=args.category, ids=args.ids, limit=args.limit)
        thresholds = None if args.no_thresholds else load_thresholds(args.thresholds)
    except (CaseLoadError, ThresholdError) as exc:
        print(f"fibro eval: {exc}", file=sys.stderr)
        return 2
    if not cases:
        print("fibro eval: no cases selected", file=sys.stderr)
        return 2
    langfuse_settings = None
    if getattr(args, "langfuse", False):
        from assistant.settings import Settings
        from assistant.tracing import enabled

        from .langfuse_export import missing_keys_message

        # Checked before the run, so a long eval never ends in "could not record it".
        langfuse_settings = Settings()
        if not enabled(langfuse_settings):
            print(f"fibro eval: {missing_keys_message()}", file=sys.stderr)
            return 2
    out = args.out or Path("eval-runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    judge_kwargs = {"api_base": args.judge_api_base} if args.judge_api_base else {}
    verifier = make_verifier(args.judge_model, **judge_kwargs)
    try:
        target = _build_target(args)
    except Exception as exc:
        print(f"fibro eval: cannot start the target: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    meta = {
        "cases": [str(p) for p in (args.cases or [CORE_SUITE])],
        "requested_model": args.model,
        "judge_model": args.judge_model,
        "thresholds_file": None if thresholds is None else str(args.thresholds),
    }
    exported: str | None = None
    try:
        outcome = run_suite(
            cases,
            target,
            out,
            workers=args.workers,
            verifier=verifier,
            thresholds=thresholds,
            meta=meta,
            progress=not args.no_progress and sys.stderr.isatty(),  # no bar in logs
        )
        if langfuse_settings is not None:
            exported = _export_to_langfuse(args, langfuse_settings, cases, outcome, target, out)
    finally:
        target.close()
    print(format_table(outcome.summary))
    print(f"\nWrote {out / 'results.jsonl'}, {out / 'summary.json'}, {out / 'report.html'}")
    if langfuse_settings is not None:
        if exported is None:
            return 2
        print(exported)
    return outcome.exit_code


def _export_to_langfuse(
    args: argparse.Namespace,
    settings: Settings,
    cases: Sequence[EvalCase],
    outcome: RunOutcome,
    target: Target,
    out: Path,
) -> str | None:
    """``--langfuse``: the dataset, the experiment and the scores (evals/langfuse_export.py).
    Returns the line to print, or None after printing why it failed (the run's files are
    written either way; the exit code is then 2, since the recording asked for did not
    happen)."""
    from .langfuse_export import (
        default_dataset_name,
        export_run,
        run_metadata,
        traced_in_process,
        tracer_or_error,
    )

    dataset = args.dataset or default_dataset_name(args.cases or [CORE_SUITE])
    try:
        traced = traced_in_process(target, tracer_or_error(settings))
        report = export_run(
            settings,
            cases,
            outcome.rows,
            run_name=out.name,
            dataset=dataset,
            run_meta=run_metadata(outcome.summary),
            traced=traced,
        )
    except Exception as exc:
        print(f"fibro eval: Langfuse export failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    return (
        f"Langfuse: dataset {report.dataset!r} ({report.items} items), run {report.run_name!r} "
        f"(experiment {report.experiment_id}), {report.scores} scores"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evals.cli``: the arguments of ``fibro eval``, with or without ``eval`` first."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["eval"]:
        args_in = args_in[1:]
    parser = argparse.ArgumentParser(prog="python -m evals.cli", description=DESCRIPTION)
    _configure(parser)
    args = parser.parse_args(args_in)
    return run_eval(args)


if __name__ == "__main__":
    raise SystemExit(main())
