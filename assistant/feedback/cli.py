"""`fibro feedback list` and `fibro feedback export`: reading the feedback store.

The store is the one the service writes (`FIBRO_DATABASE_URL`, else `<data_dir>/feedback.sqlite3`),
read with the same settings. Text is shown as it was stored, that is masked. SQLAlchemy is
imported inside the commands so `fibro --help` stays quick.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.settings import get_settings

if TYPE_CHECKING:
    from assistant.feedback.store import FeedbackView


def add_feedback_parser(sub: Any) -> None:
    """Add `feedback list` and `feedback export` to the `fibro` subcommands."""
    p = sub.add_parser("feedback", help="Stored ratings of answers: list them, export drafts.")
    commands = p.add_subparsers(title="feedback commands", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="Print ratings with the question and answer.")
    listing.add_argument(
        "--rating", choices=["up", "down"], default=None, help="Only these ratings (default: all)."
    )
    listing.add_argument(
        "--since",
        type=_day,
        default=None,
        metavar="YYYY-MM-DD",
        help="Rated on or after (UTC; default: any day).",
    )
    listing.add_argument("--json", action="store_true", help="Print a JSON array (default: text).")
    listing.set_defaults(handler=_cmd_list)

    export = commands.add_parser(
        "export", help="Write rated-down answers as draft eval cases (JSONL) to finish by hand."
    )
    export.add_argument(
        "--cases",
        type=Path,
        required=True,
        metavar="FILE",
        help="JSONL file to write the drafts to.",
    )
    export.add_argument(
        "--rating", choices=["up", "down"], default="down", help="Which ratings (default: down)."
    )
    export.set_defaults(handler=_cmd_export)


def _day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _views(rating: str | None, since: datetime | None) -> list[FeedbackView]:
    from assistant.feedback.store import get_store

    return get_store(get_settings()).list_feedback(rating=rating, since=since)


def _cmd_list(args: argparse.Namespace) -> int:
    from assistant.errors import FeedbackStoreError

    try:
        views = _views(args.rating, args.since)
    except FeedbackStoreError as exc:
        print(f"fibro: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([_as_json(v) for v in views], indent=2, ensure_ascii=False))
        return 0
    if not views:
        print("no feedback stored", file=sys.stderr)
    for view in views:
        fb = view.feedback
        print(
            f"{_stamp(fb.updated)}  {fb.rating:<4}  {fb.channel:<6}  trace {fb.trace_id}"
            f"  route {view.route or '?'}"
        )
        if view.route is None:
            print("  (answer not stored)")
        elif view.question is None:
            print(f"  ({view.route}: question and answer are never stored)")
        else:
            print(f"  Q: {view.question}")
            print(_indent(f"A: {view.answer}"))
            for c in view.citations:
                print(f"     [{c.get('n')}] {c.get('title')} ({c.get('source_id')})")
        if fb.comment:
            print(_indent(f"comment: {fb.comment}"))
        print()
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from assistant.errors import FeedbackStoreError
    from assistant.feedback.export import draft_cases, write_cases

    try:
        views = _views(args.rating, None)
    except FeedbackStoreError as exc:
        print(f"fibro: {exc}", file=sys.stderr)
        return 1
    result = draft_cases(views)
    if result.skipped:
        print(
            f"skipped {len(result.skipped)} rated answer(s) with no stored question "
            "(crisis or emergency replies, or answers this store never saw)",
            file=sys.stderr,
        )
    if not result.cases:
        print(f"no {args.rating}-rated answers with a stored question to export", file=sys.stderr)
        return 1
    write_cases(result.cases, args.cases)
    print(f"wrote {len(result.cases)} draft case(s) to {args.cases}")
    return 0


def _as_json(view: FeedbackView) -> dict[str, Any]:
    fb = view.feedback
    return {
        "id": fb.id,
        "trace_id": fb.trace_id,
        "rating": fb.rating,
        "comment": fb.comment,
        "channel": fb.channel,
        "created": _stamp(fb.created),
        "updated": _stamp(fb.updated),
        "route": view.route,
        "mode": view.mode,
        "question": view.question,
        "answer": view.answer,
        "citations": view.citations,
    }


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
