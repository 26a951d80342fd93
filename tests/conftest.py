"""Shared fixtures: real index folders, a real `chroma run` server, the real app over HTTP.

Nothing of our own is mocked. Outside services (LLM providers) are replaced at the network
boundary by local servers in tests/fakes/. This file holds fixtures only; the helpers they use
live in tests/support/, which is where test modules import them from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

# Before anything imports the libraries that read them: no model downloads, no cost-map
# fetch, no telemetry from a test run.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# The helpers assert (parse_sse); rewritten, their failures read like a test's own.
pytest.register_assert_rewrite("tests.support")

from assistant.settings import Settings  # noqa: E402
from tests.support import CORPUS, VENV_BIN, LiveServer, free_port, make_settings, wait_for  # noqa: E402


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real `chroma run` server on loopback, for the HttpClient mode."""
    binary = shutil.which("chroma", path=str(VENV_BIN)) or shutil.which("chroma")
    if binary is None:
        pytest.fail("the `chroma` CLI is not installed (it ships with the chromadb package)")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [binary, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/api/v2/heartbeat", 30, alive=lambda: proc.poll() is None)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for a session-wide index of the real corpus."""
    return make_settings(tmp_path_factory.mktemp("corpus-index"))


@pytest.fixture(scope="session")
def corpus_pipeline(corpus_settings: Settings):  # type: ignore[no-untyped-def]
    """The real pipeline over a real index of the bundled corpus."""
    from assistant.pipeline import Pipeline
    from ingest.job import run_ingest

    report = run_ingest([CORPUS], corpus_settings, progress=False)
    assert report.ok, report.errors
    return Pipeline.from_settings(corpus_settings)


@pytest.fixture(scope="session")
def live_app(corpus_pipeline, corpus_settings) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The app over HTTP with the extractive composer."""
    from assistant.api.app import create_app

    with LiveServer(create_app(corpus_settings, corpus_pipeline)) as server:
        yield server
