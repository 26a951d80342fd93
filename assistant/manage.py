"""`fibro config` and `fibro sources`: what the settings are, and what the index holds.

`fibro config` prints every setting's effective value and where it came from: the
environment, the `.env` file of the working folder, or the default. Secrets are masked.
`fibro sources` lists the indexed sources; `fibro sources remove ID...` takes sources out of
the index through the same path an ingest uses when a file is deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from assistant.settings import Settings, get_settings
from assistant.settings_doc import env_name

# Fields whose default is read from another variable when the FIBRO_ one is unset.
_FALLBACK_VARIABLES = {
    "langfuse_host": ("LANGFUSE_HOST", "LANGFUSE_BASE_URL"),
    "langfuse_public_key": ("LANGFUSE_PUBLIC_KEY",),
    "langfuse_secret_key": ("LANGFUSE_SECRET_KEY",),
}
_SECRET_NAME = re.compile(r"key|token|secret|password", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@]+):[^@/]+@")
MASK = "********"


@dataclass(frozen=True)
class SettingRow:
    """One setting as `fibro config` shows it."""

    variable: str
    value: str
    source: str  # "environment", ".env file" or "default" (with the variable when it is another)


def is_secret(name: str, value: object) -> bool:
    return isinstance(value, SecretStr) or bool(_SECRET_NAME.search(name))


def shown_value(name: str, value: object) -> str:
    """A value as text, with secrets masked and passwords in URLs hidden."""
    if value is None or value == []:
        return "unset"
    if is_secret(name, value):
        return MASK
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _URL_PASSWORD.sub(r"\1:" + MASK + "@", str(value))


def effective_settings(
    settings: Settings | None = None,
    environ: dict[str, str] | None = None,
    env_file: Path | None = Path(".env"),
) -> list[SettingRow]:
    """Every setting with its effective value and its origin, in declaration order.

    The origin follows pydantic-settings' own precedence: the environment wins over the `.env`
    file, which wins over the default. Variable names are matched without regard to case, as
    pydantic-settings reads them.
    """
    from dotenv import dotenv_values

    settings = settings or get_settings()
    env = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}
    dotenv: dict[str, str | None] = {}
    if env_file is not None and env_file.is_file():
        dotenv = {k.upper(): v for k, v in dotenv_values(env_file).items()}
    rows = []
    for name in Settings.model_fields:
        variable = env_name(name)
        if variable in env:
            source = "environment"
        elif variable in dotenv:
            source = ".env file"
        else:
            others = [v for v in _FALLBACK_VARIABLES.get(name, ()) if env.get(v, "").strip()]
            source = f"environment ({others[0]})" if others else "default"
        rows.append(SettingRow(variable, shown_value(name, getattr(settings, name)), source))
    return rows


def _cmd_config(args: argparse.Namespace) -> int:
    rows = effective_settings()
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return 0
    width = max(len(r.variable) for r in rows)
    value_width = min(48, max(len(r.value) for r in rows))
    for r in rows:
        print(f"{r.variable:<{width}}  {r.value:<{value_width}}  ({r.source})")
    return 0


def add_config_parser(sub: Any) -> None:
    p = sub.add_parser(
        "config",
        help="Print the effective settings and where each came from (secrets masked).",
        description="Every FIBRO_ setting with its value and its origin: environment, "
        ".env file or default. Secrets are masked.",
    )
    p.add_argument(
        "--json", action="store_true", help="Print the rows as JSON (default: aligned text)."
    )
    p.set_defaults(handler=_cmd_config)


# ---- sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    """One indexed source as `fibro sources` lists it."""

    source_id: str
    title: str
    chunks: int
    ingested: str  # ISO time of the run that wrote this version; "" for older indexes
    path: str


def list_sources(settings: Settings, store: Any | None = None) -> list[SourceRow]:
    """Every visible source in the index, by id."""
    from assistant.index.store import Store

    store = store or Store(settings)
    manifest = store.manifest()
    # Indexes written before titles were kept in the manifest: read each first chunk's.
    missing = [e.chunk_ids[0] for e in manifest.values() if "title" not in e.meta and e.chunk_ids]
    titles = {
        m.get("source_id"): m.get("title", "") for m in store.chunk_metadata(missing).values()
    }
    return [
        SourceRow(
            sid,
            str(entry.meta.get("title") or titles.get(sid) or ""),
            len(entry.chunk_ids),
            str(entry.meta.get("ingested", "")),
            str(entry.meta.get("path", "")),
        )
        for sid, entry in sorted(manifest.items())
    ]


def _cmd_sources(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.action == "remove":
        return _remove(args.ids, settings)
    rows = list_sources(settings)
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return 0
    if not rows:
        print("The index is empty: run `fibro ingest` first.", file=sys.stderr)
        return 0
    for r in rows:
        when = _short_time(r.ingested) or "-"
        print(f"{r.source_id}  {r.chunks} chunks  {when}  {r.title}")
        if r.path:
            print(f"    {r.path}")
    print(f"{len(rows)} sources, {sum(r.chunks for r in rows)} chunks")
    return 0


def _remove(ids: list[str], settings: Settings) -> int:
    from ingest.job import remove_sources

    if not ids:
        print("fibro sources remove: name at least one source id", file=sys.stderr)
        return 2
    removed, unknown, chunks = remove_sources(ids, settings)
    for sid in unknown:
        print(f"no such source: {sid} (see `fibro sources`)", file=sys.stderr)
    print(f"removed {len(removed)} sources ({chunks} chunks)")
    return 1 if unknown else 0


def _short_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ""


def add_sources_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sources",
        help="List the indexed sources, or remove some: `fibro sources remove ID ...`.",
        description="Without arguments: every indexed source with its id, chunk count, when "
        "it was ingested and the file it came from. `remove ID ...` takes sources and their "
        "chunks out of the index (a later ingest of their file adds them back).",
    )
    p.add_argument(
        "action", nargs="?", choices=["list", "remove"], default="list", help="(default: list)"
    )
    p.add_argument(
        "ids", nargs="*", metavar="ID", help="Source ids to remove (see `fibro sources`)."
    )
    p.add_argument("--json", action="store_true", help="List as JSON (default: text).")
    p.set_defaults(handler=_cmd_sources)
