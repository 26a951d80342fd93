"""Fault injection for crash tests: kill the process at a named point of an index write.

`FIBRO_INGEST_CRASH_AT=<point>` makes the process SIGKILL itself when it reaches that point, so
a test can interrupt `fibro ingest` exactly between two writes instead of at a random time and
then check that the next run repairs the index. It is a test hook, not a setting: it is not in
`Settings`, it is inert when unset, and an unknown name is refused before anything is written
(a typo must not make a crash test pass by never crashing). `POINTS` lists the points in the
order a run reaches them, with the state the index is left in.
"""

from __future__ import annotations

import os
import signal
import sys

from assistant.errors import IngestError

ENV = "FIBRO_INGEST_CRASH_AT"

POINTS: dict[str, str] = {
    "chunks_partly_written": "the first batch of new chunk rows is written, the rest are not",
    "chunks_written": "every new chunk row is written, no manifest row names them yet",
    "manifest_upserted": "changed sources' manifest rows are flipped, the generation is not bumped",
    "source_removed": "a removed source's manifest row is deleted, the generation is not bumped",
    "generation_bumped": "the generation is bumped, retired rows are not swept",
    "orphans_partly_swept": "the first batch of orphan rows is deleted",
}


def armed_point() -> str | None:
    """The point named in the environment, or None; raises for a name that is not a point."""
    name = os.environ.get(ENV, "").strip()
    if not name:
        return None
    if name not in POINTS:
        raise IngestError(f"{ENV}={name!r} names no crash point; use one of {sorted(POINTS)}")
    return name


def crash_point(name: str) -> None:
    """Die here, as `kill -9` would, when the environment names this point; else do nothing."""
    if name not in POINTS:  # a caller's typo: fail the run, never silently skip a point
        raise IngestError(f"unknown crash point {name!r}")
    if os.environ.get(ENV, "").strip() != name:
        return
    # The test reads this line to know the process died here and not somewhere else.
    print(f"fault injection: crashing at {name}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
