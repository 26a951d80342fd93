"""The benchmarks at small scale: they run end to end and report every figure as a number.

They live in benchmarks/ beside the tests, outside the wheel: `fibro bench` finds them from a
checkout wherever it is run, and an installation without one says so.
"""

from __future__ import annotations

import json
import numbers
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.settings import PROJECT_ROOT
from tests.support import VENV_BIN

INGEST_KEYS = [
    "chunks",
    "job_seconds",
    "job_chunks_per_s",
    "encode_seconds",
    "encode_chunks_per_s",
    "throughput_ratio",
    "reingest_seconds",
    "reingest_fraction",
    "reingest_embedded",
    "peak_rss_mb",
]
ANSWER_KEYS = [
    "chunks",
    "retrieval_p50_ms",
    "retrieval_p95_ms",
    "floor_p50_ms",
    "floor_p95_ms",
    "retrieval_floor_ratio",
    "answer_p50_ms",
    "answer_p95_ms",
    "answer_warm_p50_ms",
    "answer_warm_p95_ms",
    "answer_warm_to_retrieval_p95",
    "load_rps",
    "load_errors",
    "load_requests",
    "load_clients",
    "load_seconds",
    "peak_rss_mb",
]


def _check_numeric(figures: dict, keys: list[str]) -> None:
    missing = [k for k in keys if k not in figures]
    assert not missing, f"missing keys: {missing}"
    for key in keys:
        value = figures[key]
        assert isinstance(value, numbers.Real) and not isinstance(value, bool), (key, value)
        assert value >= 0, (key, value)
    assert isinstance(figures["targets"], dict) and figures["targets"]


@pytest.mark.slow
def test_ingest_bench_tiny(tmp_path: Path) -> None:
    """Through the console script, from outside the checkout: `fibro bench ingest --chunks 60`.

    The editable install does not put the repository root on sys.path; the CLI finds
    benchmarks/ (and tests/support/) from where assistant/ lives, not from the working folder.
    """
    out = tmp_path / "ingest.json"
    result = subprocess.run(
        [str(VENV_BIN / "fibro"), "bench", "ingest", "--chunks", "60", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert json.loads(result.stdout) == figures
    assert "ingest benchmark" in result.stderr
    _check_numeric(figures, INGEST_KEYS)
    assert figures["chunks"] >= 60
    assert figures["reingest_embedded"] == 0
    assert figures["throughput_ratio"] > 0


@pytest.mark.slow
def test_answer_bench_tiny() -> None:
    from benchmarks.answer import answer_bench

    figures = answer_bench(chunks=500, seconds=3, clients=5, queries=30, answers=5, verbose=False)
    _check_numeric(figures, ANSWER_KEYS)
    assert figures["chunks"] == 500
    assert figures["load_clients"] == 5
    assert figures["load_requests"] > 0
    assert figures["load_errors"] == 0
    # Every answer went through retrieval and the extractive composer.
    assert set(figures["answer_routes"]) == {"answer/extractive"}
    assert set(figures["answer_warm_routes"]) == {"answer/extractive"}


TRIAGE_KEYS = [
    "messages",
    "utterances",
    "regex_p50_ms",
    "regex_p95_ms",
    "triage_p50_ms",
    "triage_p95_ms",
    "triage_to_regex_p95_ratio",
    "cold_history_messages",
    "cold_history_p95_ms",
    "forward_eager_p50_ms",
    "forward_eager_p95_ms",
    "forward_traced_p50_ms",
    "forward_traced_p95_ms",
    "traced_to_eager_p95_ratio",
    "train_s",
]


@pytest.mark.slow
def test_triage_bench(tmp_path: Path) -> None:
    """Through the real CLI: `fibro bench triage --json FILE` (the unseen set, about 20 s)."""
    from assistant.cli import main

    out = tmp_path / "triage.json"
    assert main(["bench", "triage", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    _check_numeric(figures, TRIAGE_KEYS)
    assert figures["messages"] >= 150
    assert figures["triage_p95_ms"] >= figures["regex_p95_ms"]
    assert figures["cold_history_messages"] >= 10  # the multi-turn messages
    assert figures["forward_traced_p50_ms"] > 0 and figures["forward_eager_p50_ms"] > 0


def test_an_installation_without_the_checkout_says_so(tmp_path: Path) -> None:
    """assistant/ alone in a site-packages-like folder, as a wheel installs it: one line, exit 2."""
    site = tmp_path / "site-packages"
    shutil.copytree(
        PROJECT_ROOT / "assistant", site / "assistant", ignore=shutil.ignore_patterns("__pycache__")
    )
    # A benchmarks/ in the working folder (first on sys.path under -c) is not a checkout's.
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__init__.py").write_text("raise SystemExit('decoy imported')\n")
    # PYTHONPATH comes before the editable install's finder, so the copy is what runs.
    script = (
        f"import sys, assistant; assert assistant.__file__.startswith({str(site)!r}); "
        "from assistant.cli import main; sys.exit(main(['bench', 'answer']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "source checkout" in lines[0], result.stderr


def _descendants(pid: int) -> set[int]:
    """Processes started, directly or not, by `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces; the fields after its ")" are plain.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_a_terminated_load_bench_stops_the_server_it_started(tmp_path: Path) -> None:
    """SIGTERM during `fibro bench load` unwinds like Ctrl-C: the app it started is stopped,
    not left holding a port."""
    bench = subprocess.Popen(
        [str(VENV_BIN / "fibro"), "bench", "load", "--clients", "2", "--seconds", "300"]
        + ["--chunks", "60"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert bench.stderr is not None
        for line in bench.stderr:  # the load starts once the app is ready
            if "clients for" in line:
                break
        else:
            pytest.fail(f"the load bench ended before its load began (exit {bench.wait()})")
        started = _descendants(bench.pid)
        assert started, "the bench started no server process"
        bench.terminate()
        assert bench.wait(120) == 130
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in started if _running(pid)]
    finally:
        if bench.poll() is None:
            bench.kill()
