"""`fibro bench faults`: each provider fault through the fake provider, and what users got.

The app runs on loopback (tests/support LiveServer) over a synthetic index (as `fibro bench
answer` builds it), with the LLM composer pointed at the fake OpenAI server of the tests
(tests/fakes/openai_server.py), one fallback model and one retry. For each fault the same
questions are asked; printed per fault: the share answered usefully (a 200 with the answer
route and at least one citation: verified model sentences or the extractive fallback), the
answer modes, the model calls per answer and the time each took. The baseline is the healthy
provider in the same run. A last run shows the circuit breaker: a hanging provider, answered
one after another with `breaker_failures` = 3.

Faults: hang (no response), 429 with a `Retry-After` that fits the deadline and one that does
not, 500 everywhere, garbage text, a stream cut mid-event, a stall mid-answer, and invented
citations (markers to passages that were not given).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.settings import PROJECT_ROOT, Settings, quiet_third_parties
from benchmarks.common import Progress, percentile, print_table
from tests.fakes.openai_server import (
    FakeOpenAI,
    Hold,
    RecordedRequest,
    Reply,
    well_cited,
    well_cited_text,
)
from tests.support import LiveServer, make_settings

DEFAULT_QUESTIONS = 5
DEFAULT_TIMEOUT = 3.0
DEFAULT_CHUNKS = 1000
BREAKER_ANSWERS = 8
PRIMARY, BACKUP = "fake-model", "backup-model"


def good(request: RecordedRequest) -> str:
    return well_cited_text(request, 3)


def invented(request: RecordedRequest) -> str:
    # Real sentences, but cited to passage numbers the prompt never had.
    return " ".join(f"{s[:-1]} [{n + 40}]." for n, s in well_cited(request, 3))


GARBAGE = "zxq vlorp ## {]} 42 42 42 ... ok ok ok NaN undefined <|endoftext|> lorem ipsum"

# fault -> what the fake does: (default reply, replies scripted per question for one model).
Fault = tuple[Reply, list[tuple[Reply, str]]]


def faults(hold: Hold) -> dict[str, Fault]:
    return {
        "healthy": (Reply(text=good), []),
        "hang": (Reply(hang=hold), []),
        "429_retry_after_fits": (
            Reply(text=good),
            [(Reply(status=429, headers={"Retry-After": "1"}), PRIMARY)],
        ),
        "429_retry_after_too_long": (
            Reply(text=good),
            [(Reply(status=429, headers={"Retry-After": "600"}), PRIMARY)],
        ),
        "500_everywhere": (Reply(status=500), []),
        "garbage": (Reply(text=GARBAGE), []),
        "cut_stream": (Reply(text=good, fragment=5, cut_after=4), []),
        "stall_mid_answer": (Reply(text=good, fragment=20, stall_after=2, stall=hold), []),
        "invented_citations": (Reply(text=invented), []),
    }


def _ask(url: str, question: str) -> tuple[dict[str, Any] | None, float]:
    import httpx

    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/answer", json={"question": question}, timeout=300)
    spent = time.perf_counter() - started
    return (response.json() if response.status_code == 200 else None), spent


def _useful(body: dict[str, Any] | None) -> bool:
    return body is not None and body.get("route") == "answer" and bool(body.get("citations"))


def _run(
    app_for: Callable[[Settings], Any],
    settings: Settings,
    fake: FakeOpenAI,
    fault: Fault,
    questions: list[str],
) -> dict[str, Any]:
    default, scripted = fault
    fake.reset(default=default)
    times: list[float] = []
    modes: Counter[str] = Counter()
    useful = 0
    with LiveServer(app_for(settings)) as server:
        for question in questions:
            for reply, model in scripted:
                fake.script(reply, model=model)
            body, spent = _ask(server.url, question)
            times.append(spent)
            useful += _useful(body)
            modes[body["mode"] if body else "error"] += 1
    return {
        "answered_usefully": round(useful / len(questions), 2),
        "modes": dict(modes),
        "model_calls_per_answer": round(len(fake.models_called()) / len(questions), 2),
        "p50_s": percentile(times, 50),
        "max_s": round(max(times), 2),
    }


def faults_bench(
    questions: int = DEFAULT_QUESTIONS,
    timeout: float = DEFAULT_TIMEOUT,
    chunks: int = DEFAULT_CHUNKS,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run every fault and the breaker run; return the figures."""
    quiet_third_parties()
    from assistant.api.app import create_app
    from assistant.index.embedder import get_embedder
    from assistant.pipeline import Pipeline
    from benchmarks.answer import build_index, make_questions

    step = Progress("faults", verbose)
    figures: dict[str, Any] = {"questions": questions, "llm_timeout_seconds": timeout}
    asked = make_questions(questions)
    hold = Hold()  # never released: the fake lets go of it when it stops
    with tempfile.TemporaryDirectory(prefix="fibro-bench-faults-") as tmp, FakeOpenAI() as fake:
        data_dir = Path(tmp)
        # FIBRO_BENCH_CACHE: another folder holding a current triage classifier cache.
        cache = Path(os.environ.get("FIBRO_BENCH_CACHE") or PROJECT_ROOT / "data" / "cache")
        if cache.is_dir():  # the triage classifier's embeddings: start-up in seconds
            shutil.copytree(cache, data_dir / "cache")
        base = make_settings(
            data_dir, collection="bench", relevance_floor=-1.0, log_level="WARNING"
        )
        settings = fake.settings_for(
            base,
            fallback_models=[f"openai/{BACKUP}"],
            llm_retries=1,
            llm_timeout_seconds=timeout,
            rate_per_minute=0,
            session_rate_per_minute=0,
        )
        step(f"building an index of {chunks} synthetic chunks")
        embedder = get_embedder(settings.embedding_model_path)
        store = build_index(settings, chunks, embedder.dimension)

        def app_for(s: Settings) -> Any:
            pipeline = Pipeline(s, store, embedder)
            pipeline.warm()
            return create_app(s, pipeline)

        for name, fault in faults(hold).items():
            step(f"{name}: {questions} questions")
            figures[name] = _run(app_for, settings, fake, fault, asked)
        healthy = figures["healthy"]["p50_s"] or 1.0
        for name in faults(hold):
            figures[name]["p50_to_healthy"] = round(figures[name]["p50_s"] / healthy, 2)

        step(f"breaker: a hanging provider, {BREAKER_ANSWERS} answers in a row")
        fake.reset(default=Reply(hang=hold))
        with_breaker = settings.model_copy(
            update={"breaker_failures": 3, "breaker_cooldown_seconds": 600.0}
        )
        times: list[float] = []
        with LiveServer(app_for(with_breaker)) as server:
            for i in range(BREAKER_ANSWERS):
                body, spent = _ask(server.url, asked[i % len(asked)])
                times.append(round(spent, 2))
        figures["breaker_hang"] = {
            "seconds_per_answer": times,
            "model_calls": len(fake.models_called()),
        }
    if verbose:
        print(f"\nfaults benchmark (llm timeout {timeout:g} s)", file=sys.stderr)
        for name in faults(hold):
            print_table(f"  {name}", figures[name], sys.stderr)
        print(f"  breaker_hang: {figures['breaker_hang']}", file=sys.stderr)
    return figures


def run_faults_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Entry point of `fibro bench faults [--seconds LLM_TIMEOUT] [--chunks N]`."""
    return faults_bench(
        timeout=getattr(args, "seconds", None) or DEFAULT_TIMEOUT,
        chunks=getattr(args, "chunks", None) or DEFAULT_CHUNKS,
    )
