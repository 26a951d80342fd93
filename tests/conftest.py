"""Shared fixtures: real index folders, a real `chroma run` server, the real app over HTTP.

Nothing of our own is mocked. Outside services (LLM providers) are replaced at the network
boundary by local servers in tests/fakes/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402

CORPUS = PROJECT_ROOT / "corpus"
DATA = Path(__file__).parent / "data"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {seconds}s: {last}")


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
        wait_for(f"http://127.0.0.1:{port}/api/v2/heartbeat", 30)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings isolated from the developer's environment and .env file."""
    base = {"data_dir": data_dir, "index_refresh_seconds": 0.0, "model": None}
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


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


class LiveServer:
    """The real app served by uvicorn on loopback in a background thread."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_for(self.url + "/healthz")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live_app(corpus_pipeline, corpus_settings) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The app over HTTP with the extractive composer."""
    from assistant.api.app import create_app

    with LiveServer(create_app(corpus_settings, corpus_pipeline)) as server:
        yield server
