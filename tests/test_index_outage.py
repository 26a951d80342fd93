"""When the Chroma server goes away, clients get a 503 with a message, not a 500."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from assistant.api.app import create_app
from assistant.pipeline import Pipeline
from ingest.job import run_ingest
from tests.support import CORPUS, VENV_BIN, LiveServer, free_port, make_settings, wait_for

pytestmark = pytest.mark.slow


def test_an_unreachable_index_is_a_503(tmp_path: Path) -> None:
    binary = shutil.which("chroma", path=str(VENV_BIN)) or shutil.which("chroma")
    assert binary, "the chroma CLI ships with chromadb"
    port = free_port()
    server = subprocess.Popen(
        [binary, "run", "--path", str(tmp_path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/api/v2/heartbeat", 30)
        settings = make_settings(tmp_path / "unused", chroma_host="127.0.0.1", chroma_port=port)
        folder = tmp_path / "corpus"
        folder.mkdir()
        shutil.copy(CORPUS / "goebel2021-jci-summary.md", folder)
        assert run_ingest([folder], settings, progress=False).ok
        with LiveServer(create_app(settings, Pipeline.from_settings(settings))) as app:
            question = {"question": "Did the mice recover?"}
            assert httpx.post(f"{app.url}/v1/answer", json=question, timeout=60).status_code == 200
            server.terminate()
            server.wait(10)
            down = httpx.post(f"{app.url}/v1/answer", json=question, timeout=60)
            assert down.status_code == 503, down.text
            assert "index is unavailable" in down.json()["error"]["message"]
            assert down.headers["retry-after"] == "5"
            assert httpx.get(f"{app.url}/readyz", timeout=30).status_code == 503
            assert httpx.get(f"{app.url}/healthz", timeout=10).status_code == 200
    finally:
        if server.poll() is None:
            server.kill()
