"""`fibro bench ingest|answer|triage|load|faults`: figures measured against baselines in the same run.

The benchmarks live beside the tests, not in the wheel: they build synthetic corpora, start the
app on loopback with the tests' helpers (tests/support/), and are for developers working from a
source checkout. `assistant.cli` imports this package only when `fibro bench` runs, and says so
when it is missing. Each target's module is imported only when that target runs, so one bench
does not pay for another's imports. See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

# target -> (module, entry point); every entry point takes the parsed `fibro bench` arguments.
RUNNERS = {
    "ingest": ("benchmarks.ingest", "run_ingest_bench"),
    "answer": ("benchmarks.answer", "run_answer_bench"),
    "triage": ("benchmarks.triage", "run_triage_bench"),
    "load": ("benchmarks.load", "run_load_bench"),
    "faults": ("benchmarks.faults", "run_faults_bench"),
}

# About how long each target runs with its defaults on two cores (docs/BENCHMARKS.md).
DURATIONS = {
    "ingest": "about 6 minutes",
    "answer": "about 3 minutes",
    "triage": "about 30 seconds",
    "load": "about 2 minutes",
    "faults": "about 2 minutes",
}


def run(target: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one benchmark and return its figures (the CLI prints them and writes --json)."""
    module, name = RUNNERS[target]
    print(
        f"fibro bench {target}: runs for {DURATIONS[target]} with the defaults; "
        "figures are printed at the end",
        file=sys.stderr,
        flush=True,
    )
    figures: dict[str, Any] = getattr(importlib.import_module(module), name)(args)
    return figures
