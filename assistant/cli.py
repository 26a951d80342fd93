"""The `fibro` command line: ingest, serve, ask, eval, feedback, bench.

Heavy libraries (torch, chromadb, litellm) are imported inside each command so that
`fibro --help` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import NoReturn

from pydantic import ValidationError

from assistant.errors import FibroError, InputError
from assistant.limits import check_question
from assistant.settings import Settings, get_settings

# What `fibro ask` costs, said in its help: it loads everything for one answer.
ASK_DESCRIPTION = (
    "Answer one question in the terminal. Each call loads the embedding model and the index "
    "(about 15 s) before answering; for many questions, run `fibro serve` once and ask it over "
    "HTTP (POST /v1/answer), which answers in well under a second."
)


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
    except FibroError as exc:
        # Our errors say what went wrong and what to do (an index that is down, a write that
        # failed mid-ingest): that sentence, not a traceback.
        print(f"fibro: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        for line in settings_errors(exc):
            print(f"fibro: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per bad setting: the variable, what it accepts and the value given."""
    lines = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"][:1]).upper() or "SETTINGS"
        given = error.get("input")
        got = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        lines.append(f"FIBRO_{name}: {error['msg']}{got}")
    return lines


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fibro-assistant")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fibro", description="Grounded, cited answers about fibromyalgia research."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("ingest", help="Index sources into the store (default: the bundled corpus).")
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="Files or folders (default: the corpus folder, FIBRO_CORPUS_DIR).",
    )
    p.add_argument(
        "--quiet", action="store_true", help="No progress bar (default: a bar on a terminal)."
    )
    p.set_defaults(handler=_cmd_ingest)

    p = sub.add_parser(
        "serve", help="Run the HTTP API (ingests the corpus first if the index is empty)."
    )
    p.add_argument(
        "--host", default=None, help="Interface to listen on (default: FIBRO_HOST, 127.0.0.1)."
    )
    p.add_argument(
        "--port", type=int, default=None, help="Port to listen on (default: FIBRO_PORT, 8000)."
    )
    p.add_argument(
        "--no-auto-ingest",
        action="store_true",
        help="Do not ingest when the index is empty (default: ingest the corpus).",
    )
    p.set_defaults(handler=_cmd_serve)

    p = sub.add_parser("slack", help="Run the Slack bot in Socket Mode (FIBRO_SLACK_APP_TOKEN).")
    p.set_defaults(handler=_cmd_slack)

    p = sub.add_parser(
        "ask",
        help="Answer one question in the terminal (loads the model: about 15 s).",
        description=ASK_DESCRIPTION,
    )
    p.add_argument(
        "question",
        help="The question: at most FIBRO_MAX_QUESTION_CHARS characters (default: 2000).",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="Print the whole answer object as JSON (default: text and numbered sources).",
    )
    p.set_defaults(handler=_cmd_ask)

    from evals.cli import add_eval_parser

    add_eval_parser(sub)

    from assistant.feedback.cli import add_feedback_parser

    add_feedback_parser(sub)

    from assistant.manage import add_config_parser, add_sources_parser

    add_config_parser(sub)
    add_sources_parser(sub)

    p = sub.add_parser("bench", help="Benchmarks that print figures (ratios against baselines).")
    p.add_argument("target", choices=["ingest", "answer", "triage", "load", "faults"])
    p.add_argument(
        "--json", type=Path, default=None, help="Also write the figures to this file (default: no)."
    )
    p.add_argument(
        "--chunks",
        type=int,
        default=None,
        help="Synthetic chunks to use (default: 2,000 for ingest, 20,000 for answer).",
    )
    p.add_argument(
        "--seconds", type=float, default=None, help="Load-test duration of answer (default: 30)."
    )
    p.add_argument(
        "--clients",
        default=None,
        help="Concurrent clients of load, comma-separated runs (default: 50,200).",
    )
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
    for path, reason in report.unsupported:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    # Before anything loads: a port in use is one line, not a model load and a crash.
    problem = port_problem(host, port)
    if problem:
        print(f"fibro serve: {problem}", file=sys.stderr)
        return 1
    # Stopping is clean at any moment: SIGTERM stops ingest and loading as Ctrl-C does (uvicorn
    # handles both while it serves, then raises them again here once it has shut down).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        import uvicorn

        from assistant.api.app import create_app

        if not args.no_auto_ingest:
            _ingest_if_empty(settings)
        app = create_app(settings)

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                # uvicorn would wait for the model to finish loading; during start-up, leave now.
                if not self.started:
                    _exit_now(130, "fibro serve: stopped during start-up")
                super().handle_exit(sig, frame)

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            server_header=False,  # no `server: uvicorn` banner
            # X-Forwarded-For is read by the app, from FIBRO_TRUSTED_PROXIES only (ratelimit.py).
            proxy_headers=False,
        )
        server = Server(config)
        server.run()
    except KeyboardInterrupt:
        _exit_now(130, "fibro serve: stopped")
    except FileNotFoundError as exc:  # the corpus folder to ingest, say
        _exit_now(2, f"fibro serve: {exc}")
    # Not started: uvicorn has logged why (say, the port was taken after the check above).
    _exit_now(0 if server.started else 1)


def port_problem(host: str, port: int) -> str | None:
    """Why `fibro serve` could not listen on host:port, or None when it can."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        # SO_REUSEADDR (set by create_server) as uvicorn does, so a port in TIME_WAIT is free.
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return (
                f"port {port} on {host} is already in use (another `fibro serve`, or "
                "`chroma run`?); choose another with --port or FIBRO_PORT"
            )
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _exit_now(code: int, message: str | None = None) -> NoReturn:
    """Leave without interpreter teardown: torch and Chroma threads (the warm-up among them) can
    abort or segfault when Python finalises under them. The index needs no teardown: every write
    is a committed transaction, and an interrupted ingest is swept by the next one."""
    if message:
        print(message, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
    settings = get_settings()
    question = check_question(args.question, settings)  # before anything heavy is imported
    from assistant.pipeline import Pipeline

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

    # SIGTERM unwinds like Ctrl-C, so the servers and temporary folders a benchmark started are
    # stopped and removed on the way out instead of being left running.
    signal.signal(signal.SIGTERM, _interrupt)
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
