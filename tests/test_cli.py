"""The `fibro` command as a user runs it: serve from an empty index, ask, eval and compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, wait_for, wait_ready

pytestmark = pytest.mark.slow


def fibro(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("cli-index")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data),
        "FIBRO_DATA_DIR": str(data / "index"),
        "FIBRO_INDEX_REFRESH_SECONDS": "0",
    }


def test_serve_ingests_an_empty_index_then_answers(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", 180)
        wait_ready(f"http://127.0.0.1:{port}", 180)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["chunks"] > 0
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/answer",
            json={"question": "Did the mice recover?"},
            timeout=60,
        ).json()
        assert answer["route"] == "answer" and answer["citations"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "index is empty: ingesting" in output


@pytest.fixture
def ingested(env: dict[str, str]) -> dict[str, str]:
    """The same index, ingested (a no-op when the serve test already did it)."""
    result = fibro("ingest", "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    assert "sources" in result.stdout
    return env


def test_ask_prints_the_answer_and_numbered_sources(ingested: dict[str, str]) -> None:
    env = ingested
    result = fibro("ask", "Is there a blood test for fibromyalgia?", env=env)
    assert result.returncode == 0, result.stderr
    assert "Sources:" in result.stdout and "[1]" in result.stdout
    as_json = fibro("ask", "Is there a blood test for fibromyalgia?", "--json", env=env)
    assert json.loads(as_json.stdout)["citations"]


def test_eval_and_compare_from_the_command_line(ingested: dict[str, str], tmp_path: Path) -> None:
    env = ingested
    for name in ("a", "b"):
        result = fibro(
            "eval", "--id", "SF-05", "EM-01", "OS-01", "--out", str(tmp_path / name),
            "--no-progress", "--no-thresholds", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name / "report.html").exists()
    compared = fibro("eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), env=env)
    assert compared.returncode == 0, compared.stderr
    assert "3 cases in both runs" in compared.stdout


def test_bad_arguments_are_usage_errors(env: dict[str, str]) -> None:
    result = fibro("ingest", "/no/such/folder", env=env)
    assert result.returncode == 2 and "No such file or folder" in result.stderr


# The first minute at the command line: answers that come before any model loads.


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "FIBRO_DATA_DIR": str(tmp_path / "index"),
    }


def test_a_bad_setting_is_one_line_naming_the_variable(bare_env: dict[str, str]) -> None:
    result = fibro("ask", "x", env={**bare_env, "FIBRO_TOP_K": "abc"}, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "FIBRO_TOP_K" in lines[0] and "integer" in lines[0] and "'abc'" in lines[0]


def test_version(bare_env: dict[str, str]) -> None:
    from importlib.metadata import version

    result = fibro("--version", env=bare_env, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"fibro {version('fibro-assistant')}"


def test_serve_on_a_port_in_use_is_one_line(bare_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = fibro("serve", "--port", str(port), env=bare_env, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0] and "already in use" in lines[0]
    assert not (Path(bare_env["FIBRO_DATA_DIR"])).exists()  # nothing was loaded or ingested


@pytest.mark.parametrize("question", ["", "   ", "x" * 3000])
def test_ask_checks_the_question_before_loading(bare_env: dict[str, str], question: str) -> None:
    result = fibro("ask", question, env=bare_env, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fibro: question:"), result.stderr


def test_ask_help_says_it_loads_the_model(bare_env: dict[str, str]) -> None:
    result = fibro("ask", "--help", env=bare_env, timeout=60)
    assert result.returncode == 0
    assert "15 s" in result.stdout and "fibro serve" in result.stdout


def test_ingest_into_an_index_that_is_down_is_one_line(bare_env: dict[str, str]) -> None:
    """A Chroma server that is not there: one line naming it, with no traceback."""
    port = str(free_port())
    env = {**bare_env, "FIBRO_CHROMA_HOST": "127.0.0.1", "FIBRO_CHROMA_PORT": port}
    result = fibro("ingest", "--quiet", env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.startswith("fibro: ") and f"Chroma server 127.0.0.1:{port}" in result.stderr
    )
