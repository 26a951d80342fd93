"""The `fibro` command line: ingest, serve, ask, eval, feedback, bench.

Heavy libraries (torch, chromadb, litellm) are imported inside each command so that
`fibro --help` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.errors import InputError
from assistant.limits import check_question
from assistant.settings import Settings, get_settings


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `fibro` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except InputError as exc:
        print(f"fibro: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fibro", description="Grounded, cited answers about fibromyalgia research."
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("ingest", help="Index sources into the store (default: the bundled corpus).")
    p.add_argument(
        "paths", nargs="*", type=Path, help="Files or folders (default: the corpus folder)."
    )
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.set_defaults(handler=_cmd_ingest)

    p = sub.add_parser(
        "serve", help="Run the HTTP API (ingests the corpus first if the index is empty)."
    )
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument(
        "--no-auto-ingest", action="store_true", help="Do not ingest when the index is empty."
    )
    p.set_defaults(handler=_cmd_serve)

    p = sub.add_parser("slack", help="Run the Slack bot in Socket Mode (FIBRO_SLACK_APP_TOKEN).")
    p.set_defaults(handler=_cmd_slack)

    p = sub.add_parser("ask", help="Answer one question in the terminal.")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="Print the whole answer object as JSON.")
    p.set_defaults(handler=_cmd_ask)

    from evals.cli import add_eval_parser

    add_eval_parser(sub)

    from assistant.feedback.cli import add_feedback_parser

    add_feedback_parser(sub)

    p = sub.add_parser("bench", help="Benchmarks that print figures (ratios against baselines).")
    p.add_argument("target", choices=["ingest", "answer", "triage"])
    p.add_argument("--json", type=Path, default=None, help="Also write the figures to this file.")
    p.add_argument("--chunks", type=int, default=None, help="Synthetic chunks to use.")
    p.add_argument("--seconds", type=float, default=None, help="Load-test duration (answer).")
    p.set_defaults(handler=_cmd_bench)
    return parser


def _cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.job import run_ingest

    settings = get_settings()
    paths = args.paths or [settings.corpus_dir]
    try:
        report = run_ingest(paths, settings, progress=False if args.quiet else None)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for message in report.duplicates_across:
        print(f"duplicate across sources: {message}", file=sys.stderr)
    for error in report.errors:
        print(f"skipped {error.path}: {error.reason}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from assistant.api.app import create_app

    settings = get_settings()
    if not args.no_auto_ingest:
        _ingest_if_empty(settings)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
    )
    return 0


def _cmd_slack(args: argparse.Namespace) -> int:
    from assistant.slack.socket import run_socket_mode

    run_socket_mode(get_settings())
    return 0


def _ingest_if_empty(settings: Settings) -> None:
    """First start of `fibro serve`: index the bundled corpus so the service can answer."""
    from assistant.index.store import Store
    from ingest.job import run_ingest

    store = Store(settings)
    if store.manifest():
        return
    print(f"index is empty: ingesting {settings.corpus_dir}", file=sys.stderr)
    report = run_ingest([settings.corpus_dir], settings, store=store)
    print(report.summary(), file=sys.stderr)


def _cmd_ask(args: argparse.Namespace) -> int:
    from assistant.pipeline import Pipeline

    settings = get_settings()
    question = check_question(args.question, settings)
    pipeline = Pipeline.from_settings(settings)
    # Crisis and emergency replies need no index: triage before anything can fail.
    verdict = pipeline.triage(question)
    if not verdict.fixed and pipeline.is_empty():
        print("The index is empty: run `fibro ingest` first.", file=sys.stderr)
        return 1
    answer = pipeline.answer(question, [], verdict, channel="cli")
    if args.json:
        print(answer.model_dump_json(indent=2))
        return 0
    print(answer.answer)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            link = f" {c.url}" if c.url else ""
            print(f"  [{c.n}] {c.title}{link}")
            print(f'      "{c.quote}"')
    if answer.resources:
        print("\nHelp now:")
    for resource in answer.resources:
        print(f"  - {resource.name}: {resource.contact} ({resource.region})")
    print(f"\n{answer.disclaimer}")
    print(
        f"(route: {answer.route.value}, mode: {answer.mode}, trace: {answer.trace_id})",
        file=sys.stderr,
    )
    from assistant import tracing

    tracing.flush()  # a short-lived process: send the trace before exiting
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if not _benchmarks_on_path():
        print(
            "fibro bench: the benchmarks run from a source checkout (benchmarks/ beside "
            "assistant/); this installation has none",
            file=sys.stderr,
        )
        return 2
    import benchmarks

    figures = benchmarks.run(args.target, args)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def _benchmarks_on_path() -> bool:
    """Make the checkout's `benchmarks` package importable; False when there is no checkout.

    benchmarks/ (and the tests/support/ helpers it uses) sit beside assistant/ in the
    repository and are left out of the wheel. An editable install maps only the packaged names
    (assistant, ingest, evals), so when `fibro` runs from the checkout the repository root is
    not on sys.path: it is put first here. The root is found from where assistant/ lives, not
    from the working directory, so `fibro bench` works from any folder and never imports an
    unrelated benchmarks/ or tests/ there; pyproject.toml beside it tells a checkout from
    site-packages, where assistant/ lives after a wheel install.
    """
    from assistant.settings import PROJECT_ROOT

    checkout = (PROJECT_ROOT / "pyproject.toml").is_file()
    if not checkout or not (PROJECT_ROOT / "benchmarks" / "__init__.py").is_file():
        return False
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
