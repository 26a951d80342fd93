"""`fibro bench load`: many concurrent clients against the real app in a process of its own.

The app (extractive composer, default gate settings: `max_concurrent_answers`,
`max_queued_answers`, `queue_timeout_seconds`) serves a synthetic index (as `fibro bench
answer` builds it) from a uvicorn subprocess, so the load generator does not share a
process, or the GIL, with the server. For each client count (default 50, then 200) the clients
ask questions for `--seconds` (default 30); a client refused with a 503 waits what its
`Retry-After` asks (the contract a polite client keeps) and asks again. Measured in the same
run, while the load is on, by a process of its own (so the load generator's busy event loop
does not delay them): a crisis message sent every second (its reply must not wait behind the
answers), `/healthz` and `/readyz`. The baseline is the same crisis message and status
routes on the idle server just before the load starts.

Printed per client count: throughput (answers a second), p50/p95 of answered requests, the
503 count and how fast they came, other errors, crisis-reply p50/p95/max and its ratio to idle,
and the status routes' p95. See docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.settings import PROJECT_ROOT, quiet_third_parties
from benchmarks.common import Progress, percentile, print_table
from tests.support import free_port, make_settings, wait_for

DEFAULT_CLIENTS = (50, 200)
DEFAULT_SECONDS = 30.0
DEFAULT_CHUNKS = 2000
REQUEST_TIMEOUT = 180.0
CRISIS = "I want to kill myself tonight"
CRISIS_EVERY = 1.0
STATUS_EVERY = 0.5
IDLE_SAMPLES = 5


def _ms(values: list[float], q: float) -> float:
    return percentile(values, q, scale=1000.0) if values else 0.0


def _server_env(data_dir: Path) -> dict[str, str]:
    """The server's environment: ours without FIBRO_/LANGFUSE_ variables, plus the bench's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIBRO_", "LANGFUSE_"))}
    env.update(
        {
            "FIBRO_DATA_DIR": str(data_dir),
            "FIBRO_COLLECTION": "bench",
            # Synthetic vectors are random: no passage would clear the floor (benchmarks/answer.py).
            "FIBRO_RELEVANCE_FLOOR": "-1",
            "FIBRO_INDEX_REFRESH_SECONDS": "2",
            "FIBRO_LOG_LEVEL": "WARNING",
            # One address asks everything here; per-client limits would measure themselves.
            "FIBRO_RATE_PER_MINUTE": "0",
            "FIBRO_SESSION_RATE_PER_MINUTE": "0",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    return env


class AppProcess:
    """The real app under uvicorn in a subprocess, on a free loopback port."""

    def __init__(self, data_dir: Path, startup_seconds: float = 1200.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.startup_seconds = startup_seconds
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AppProcess:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "assistant.api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        # cwd: the data folder, so no developer .env is read.
        self.proc = subprocess.Popen(command, cwd=self.data_dir, env=_server_env(self.data_dir))
        proc = self.proc
        try:
            wait_for(self.url + "/healthz", self.startup_seconds, alive=lambda: proc.poll() is None)
            self._wait_ready()
        except BaseException:
            self.__exit__()  # __exit__ does not run when __enter__ raises: no server left behind
            raise
        return self

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if httpx.get(self.url + "/readyz", timeout=30).status_code == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.url}/readyz did not turn ready in {self.startup_seconds} s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


async def _idle(url: str) -> dict[str, float]:
    """Crisis reply and status routes on the idle server: the baseline of the same run."""
    import httpx

    crisis: list[float] = []
    status: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT) as http:
        for _ in range(IDLE_SAMPLES):
            t0 = time.perf_counter()
            r = await http.post("/v1/answer", json={"question": CRISIS})
            crisis.append(time.perf_counter() - t0)
            if r.status_code != 200 or r.json()["route"] != "crisis":
                raise RuntimeError(f"the crisis message was not answered as one: {r.text[:200]}")
            t0 = time.perf_counter()
            await http.get("/readyz")
            status.append(time.perf_counter() - t0)
    return {"crisis_idle_p50_ms": _ms(crisis, 50), "readyz_idle_p50_ms": _ms(status, 50)}


async def _probes(url: str, seconds: float) -> dict[str, Any]:
    """A crisis message every second and the status routes every half second, for `seconds`."""
    import httpx

    crisis: list[float] = []
    crisis_wrong = 0
    healthz: list[float] = []
    readyz: list[float] = []
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT) as http:

        async def crisis_probe() -> None:
            nonlocal crisis_wrong
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await http.post("/v1/answer", json={"question": CRISIS})
                crisis.append(time.perf_counter() - t0)
                if r.status_code != 200 or r.json().get("route") != "crisis":
                    crisis_wrong += 1
                await asyncio.sleep(CRISIS_EVERY)

        async def status_probe(path: str, into: list[float]) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await http.get(path)
                into.append(time.perf_counter() - t0)
                await asyncio.sleep(STATUS_EVERY)

        await asyncio.gather(
            crisis_probe(), status_probe("/healthz", healthz), status_probe("/readyz", readyz)
        )
    return {"crisis": crisis, "crisis_wrong": crisis_wrong, "healthz": healthz, "readyz": readyz}


@contextmanager
def _prober() -> Iterator[ProcessPoolExecutor]:
    """A process for the probes, up before the load starts and stopped however the run ends."""
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        pool.submit(int).result()
        yield pool
    finally:
        # An interrupted run (Ctrl-C, SIGTERM) must not wait out the probes' remaining seconds.
        for child in multiprocessing.active_children():
            child.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _probe_process(url: str, seconds: float) -> dict[str, Any]:
    """`_probes` in a process of its own (the entry point a process pool can call)."""
    return asyncio.run(_probes(url, seconds))


async def _load(
    url: str, questions: list[str], clients: int, seconds: float, prober: ProcessPoolExecutor
) -> dict[str, Any]:
    import httpx

    ok: list[float] = []
    refused: list[float] = []
    errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    started = time.perf_counter()
    deadline = started + seconds
    # The probes are another user, in another process: timed on a loop that is not also
    # driving the load's hundreds of clients (that loop's own lag would count as the server's).
    probed = asyncio.get_running_loop().run_in_executor(prober, _probe_process, url, seconds)

    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT, limits=limits) as http:

        async def client(n: int) -> None:
            i = n
            while time.perf_counter() < deadline:
                q = questions[i % len(questions)]
                i += clients
                t0 = time.perf_counter()
                try:
                    r = await http.post("/v1/answer", json={"question": q})
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                spent = time.perf_counter() - t0
                if r.status_code == 200:
                    ok.append(spent)
                elif r.status_code == 503:
                    refused.append(spent)
                    wait = float(r.headers.get("retry-after") or 1)
                    await asyncio.sleep(max(0.0, min(wait, deadline - time.perf_counter())))
                else:
                    errors[f"http_{r.status_code}"] += 1

        tasks = [asyncio.create_task(client(n)) for n in range(clients)]
        done, pending = await asyncio.wait(tasks, timeout=seconds + REQUEST_TIMEOUT + 5)
        for task in pending:
            task.cancel()
            errors["unfinished"] += 1
        await asyncio.gather(*pending, return_exceptions=True)
    probes = await probed
    crisis, healthz, readyz = probes["crisis"], probes["healthz"], probes["readyz"]
    crisis_wrong = probes["crisis_wrong"]
    elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "answered": len(ok),
        "throughput_per_s": round(len(ok) / elapsed, 2),
        "answer_p50_ms": _ms(ok, 50),
        "answer_p95_ms": _ms(ok, 95),
        "answer_max_ms": round(max(ok) * 1000, 1) if ok else 0.0,
        "refused_503": len(refused),
        "refused_p95_ms": _ms(refused, 95),
        "other_errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "crisis_replies": len(crisis),
        "crisis_not_crisis": crisis_wrong,
        "crisis_p50_ms": _ms(crisis, 50),
        "crisis_p95_ms": _ms(crisis, 95),
        "crisis_max_ms": round(max(crisis) * 1000, 1) if crisis else 0.0,
        "healthz_p95_ms": _ms(healthz, 95),
        "healthz_max_ms": round(max(healthz) * 1000, 1) if healthz else 0.0,
        "readyz_p95_ms": _ms(readyz, 95),
    }


def load_bench(
    clients: tuple[int, ...] = DEFAULT_CLIENTS,
    seconds: float = DEFAULT_SECONDS,
    chunks: int = DEFAULT_CHUNKS,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the load benchmark for each client count and return its figures."""
    quiet_third_parties()
    from assistant.index.embedder import get_embedder
    from benchmarks.answer import build_index, make_questions

    step = Progress("load", verbose)
    figures: dict[str, Any] = {"chunks": chunks}
    with tempfile.TemporaryDirectory(prefix="fibro-bench-load-") as tmp:
        data_dir = Path(tmp)
        settings = make_settings(data_dir, collection="bench", relevance_floor=-1.0)
        # FIBRO_BENCH_CACHE: another folder holding a current triage classifier cache.
        cache = Path(os.environ.get("FIBRO_BENCH_CACHE") or PROJECT_ROOT / "data" / "cache")
        if cache.is_dir():  # the triage classifier's embeddings: start-up in seconds
            shutil.copytree(cache, data_dir / "cache")
        step(f"building an index of {chunks} synthetic chunks")
        embedder = get_embedder(settings.embedding_model_path)
        store = build_index(settings, chunks, embedder.dimension)
        del store
        figures["gate"] = {
            "max_concurrent_answers": settings.max_concurrent_answers,
            "max_queued_answers": settings.max_queued_answers,
            "queue_timeout_seconds": settings.queue_timeout_seconds,
        }
        questions = make_questions(400)
        step("starting the app in a subprocess (until /readyz is 200)")
        started = time.perf_counter()
        with AppProcess(data_dir) as app, _prober() as prober:
            figures["ready_after_s"] = round(time.perf_counter() - started, 1)
            figures.update(asyncio.run(_idle(app.url)))
            for n in clients:
                step(f"{n} clients for {seconds:g} s")
                result = asyncio.run(_load(app.url, questions, n, seconds, prober))
                idle = figures["crisis_idle_p50_ms"] or 1.0
                result["crisis_p95_to_idle"] = round(result["crisis_p95_ms"] / idle, 1)
                figures[f"load_{n}"] = result
    if verbose:
        print_table("load benchmark", figures, sys.stderr)
        for n in clients:
            print_table(f"  {n} clients", figures[f"load_{n}"], sys.stderr)
    return figures


def run_load_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Entry point of `fibro bench load [--clients 50,200] [--seconds S] [--chunks N]`."""
    raw = getattr(args, "clients", None)
    clients = tuple(int(c) for c in raw.split(",")) if raw else DEFAULT_CLIENTS
    return load_bench(
        clients=clients,
        seconds=getattr(args, "seconds", None) or DEFAULT_SECONDS,
        chunks=getattr(args, "chunks", None) or DEFAULT_CHUNKS,
    )
