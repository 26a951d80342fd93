"""Two `fibro serve` processes on one `chroma run` server and one redis-server act as one service.

They share a rate limit (the buckets live in Redis), and an ingest made while both run is seen
by both within FIBRO_INDEX_REFRESH_SECONDS (the index lives in the Chroma server). The workers
are real processes as a deployment runs them, so this also checks what `fibro serve` itself
adds: no `server` banner and access log lines without query strings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.pipeline import Pipeline
from assistant.settings import Settings
from ingest.job import run_ingest
from tests.support import CORPUS, free_port, make_settings, wait_for
from tests.support.redis import MISSING, RedisServer, redis_binary

pytestmark = [pytest.mark.slow, pytest.mark.skipif(redis_binary() is None, reason=MISSING)]

STARTING_SOURCES = ["goebel2021-jci-summary.md", "goebel2021-limits.md"]
QUESTION = "Did the mice in the antibody study recover?"
CRISIS = "I want to kill myself tonight"
NEW_QUESTION = "What did the Quillmark survey find about fibromyalgia and sleep?"
NEW_SOURCE = """---
id: quillmark-sleep-survey
title: "The Quillmark survey of sleep in fibromyalgia"
source_type: patient_info
evidence: human
text_origin: summary
---
# The Quillmark survey

The Quillmark survey asked people with fibromyalgia about their sleep. The Quillmark survey
found that most of them woke unrefreshed and that poor sleep went with worse pain the next day.
The Quillmark survey was small, so its findings about fibromyalgia and sleep need repeating in
a larger group before anyone relies on them.
"""
KEY = "staff-key"
REFRESH_SECONDS = 1.0
Service = tuple[list["Worker"], Path, Settings]


class Worker:
    """One `fibro serve` process and the file its output goes to."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str, seed: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        data = workdir / name
        # The triage classifier's cache (fitted model, utterance vectors) from an earlier start:
        # two workers fitting it at once on a busy machine is minutes, and not what is tested.
        # None is written when the shipped utterance vectors are current: nothing to copy.
        seed_cache = workdir / seed / "cache"
        if seed_cache.is_dir():
            shutil.copytree(seed_cache, data / "cache")
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "assistant.cli", "serve", "--port", str(self.port)],
                cwd=workdir,  # no developer .env is read
                env={**env, "FIBRO_DATA_DIR": str(data)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def ready(self, seconds: float) -> None:
        try:
            wait_for(self.url + "/healthz", seconds, alive=lambda: self.proc.poll() is None)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log.read_text(errors='replace')[-3000:]}") from None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def stream(self, question: str) -> httpx.Response:
        """A question as the demo page asks it: no key, the worker's own Origin."""
        return httpx.post(
            self.url + "/v1/answer/stream",
            json={"question": question},
            headers={"origin": self.url},
            timeout=120,
        )

    def ask_as_staff(self, question: str) -> dict[str, Any]:
        response = httpx.post(
            self.url + "/v1/answer",
            json={"question": question},
            headers={"authorization": f"Bearer {KEY}"},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def service(
    chroma_server: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    host, port = chroma_server
    workdir = tmp_path_factory.mktemp("multiworker")
    corpus = workdir / "corpus"
    corpus.mkdir()
    for name in STARTING_SOURCES:
        shutil.copy(CORPUS / name, corpus)
    collection = f"mw_{uuid.uuid4().hex[:8]}"  # the Chroma server is shared with other tests
    settings = make_settings(
        workdir / "ingest", chroma_host=host, chroma_port=port, collection=collection
    )
    report = run_ingest([corpus], settings, progress=False)
    assert report.ok, report.errors
    Pipeline.from_settings(settings)  # fills <data_dir>/cache for the workers to start from
    with RedisServer() as redis_server:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "HF_HUB_OFFLINE": "1",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "ANONYMIZED_TELEMETRY": "False",
            "FIBRO_CHROMA_HOST": host,
            "FIBRO_CHROMA_PORT": str(port),
            "FIBRO_COLLECTION": collection,
            "FIBRO_REDIS_URL": redis_server.url,
            "FIBRO_INDEX_REFRESH_SECONDS": str(REFRESH_SECONDS),
            "FIBRO_API_KEYS": KEY,
            # 1 a minute after a burst of 3: the fourth question from one address is refused.
            "FIBRO_RATE_PER_MINUTE": "1",
            "FIBRO_RATE_BURST": "3",
            "FIBRO_SESSION_RATE_PER_MINUTE": "0",
        }
        workers = [Worker(env, workdir, "a", seed="ingest")]
        try:
            workers[0].ready(600)
            workers.append(Worker(env, workdir, "b", seed="a"))  # a's cache is complete now
            workers[1].ready(600)
            yield workers, corpus, settings
        finally:
            for worker in workers:
                worker.stop()


def test_the_workers_share_one_rate_limit(service: Service) -> None:
    (a, b), _, _ = service
    statuses = [w.stream(QUESTION).status_code for w in (a, b, a)]
    assert statuses == [200, 200, 200], "the burst of 3, spent on two workers"
    refused = b.stream(QUESTION)
    assert refused.status_code == 429, "b knows what a spent: the bucket is in Redis"
    assert int(refused.headers["retry-after"]) >= 1
    assert a.stream(QUESTION).status_code == 429
    crisis = b.stream(CRISIS)
    assert crisis.status_code == 200 and "event: done" in crisis.text, "never rate-limited"


def test_an_ingest_while_they_run_reaches_both(service: Service) -> None:
    workers, corpus, settings = service
    for worker in workers:
        before = worker.ask_as_staff(NEW_QUESTION)
        cited = {c["source_id"] for c in before["citations"]}
        assert "quillmark-sleep-survey" not in cited
    (corpus / "quillmark.md").write_text(NEW_SOURCE)
    report = run_ingest([corpus], settings, progress=False)
    assert report.ok, report.errors
    ingested = time.monotonic()
    for worker in workers:
        # Within the refresh interval, plus what one answer takes on a busy machine.
        deadline = ingested + REFRESH_SECONDS + 60
        while True:
            answer = worker.ask_as_staff(NEW_QUESTION)
            cited = {c["source_id"] for c in answer["citations"]}
            if "quillmark-sleep-survey" in cited:
                break
            assert time.monotonic() < deadline, f"{worker.url} never saw the new source: {answer}"
            time.sleep(0.5)


def test_serve_sends_no_banner_and_logs_no_query_strings(
    service: Service,
) -> None:
    workers, _, _ = service
    for worker in workers:
        response = httpx.get(worker.url + "/healthz?token=do-not-log-me", timeout=30)
        assert response.status_code == 200
        assert "server" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
    time.sleep(0.5)  # let the access log line reach the file
    for worker in workers:
        logged = worker.log.read_text(errors="replace")
        assert "GET /healthz HTTP/1.1" in logged, logged[-2000:]
        assert "do-not-log-me" not in logged
