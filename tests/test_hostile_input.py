"""Hostile input over real HTTP: invalid Unicode, oversized bodies and messages, and what is logged.

Every endpoint answers the same input with the same clean 4xx, and no request text reaches a log
line or a traceback: the service is run as `fibro serve` in its own process and its stderr is
read back.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from assistant.api.errors import install_error_handlers
from assistant.limits import ASSISTANT_TURN_FACTOR
from assistant.settings import Settings
from tests.support import LiveServer, free_port, make_settings, wait_for

pytestmark = pytest.mark.slow

ANSWER_ENDPOINTS = ("/v1/answer", "/v1/answer/stream", "/v1/chat/completions")
# Stands for personal data in a message: it must never show up in the service's output.
MARKER = "Zephyrine-Quockworth-7741"
LONE = "\\ud800"  # a JSON escape for a lone surrogate: valid JSON, not valid Unicode
FINE = "What did the Goebel 2021 study find in mice?"


@pytest.fixture(scope="module")
def open_settings(corpus_settings: Settings) -> Settings:
    """The session's index, with the per-client rate limits off (this module asks a lot)."""
    return make_settings(corpus_settings.data_dir, rate_per_minute=0, session_rate_per_minute=0)


@pytest.fixture(scope="module")
def live_app(corpus_pipeline: Any, open_settings: Settings) -> Iterator[LiveServer]:
    from assistant.api.app import create_app

    with LiveServer(create_app(open_settings, corpus_pipeline)) as server:
        yield server


@pytest.fixture(scope="module")
def client(live_app: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_app.url, timeout=60.0) as c:
        yield c


def raw_body(path: str, *, question: str, history: Sequence[tuple[str, str]] = ()) -> bytes:
    """A request body written by hand, so `\\ud800` escapes reach the server as sent."""
    turns = [f'{{"role": "{role}", "content": "{text}"}}' for role, text in history]
    if path == "/v1/chat/completions":
        messages = [*turns, f'{{"role": "user", "content": "{question}"}}']
        return f'{{"messages": [{", ".join(messages)}]}}'.encode()
    return f'{{"question": "{question}", "history": [{", ".join(turns)}]}}'.encode()


def post_raw(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": "application/json"})


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["type"] and error["message"], error
    return dict(error)


# ---- text that is not valid Unicode --------------------------------------------------------------


@pytest.mark.parametrize("path", ANSWER_ENDPOINTS)
@pytest.mark.parametrize("where", ["question", "history"])
def test_a_lone_surrogate_is_the_same_422_on_every_endpoint(
    client: httpx.Client, path: str, where: str
) -> None:
    if where == "question":
        body = raw_body(path, question=f"Is {MARKER} {LONE} autoimmune?")
    else:
        body = raw_body(path, question=FINE, history=[("user", f"{MARKER} {LONE}")])
    error = assert_error(post_raw(client, path, body), 422)
    assert "surrogate" in error["message"] and MARKER not in error["message"]


def test_a_lone_surrogate_anywhere_in_any_body_is_a_422(client: httpx.Client) -> None:
    cases = {
        # a text part of an OpenAI message, an unknown field's name and value, a session id
        "/v1/chat/completions": '{"messages": [{"role": "user", "content": '
        f'[{{"type": "text", "text": "hi {LONE}"}}]}}]}}',
        "/v1/answer": f'{{"question": "hi", "x{LONE}": 1}}',
        "/v1/answer/stream": f'{{"question": "hi", "session_id": "{LONE}"}}',
        "/v1/feedback": '{"trace_id": "' + "a" * 32 + '", "rating": "up", "channel": "api", '
        f'"comment": "{MARKER} {LONE}"}}',
    }
    for path, body in cases.items():
        error = assert_error(post_raw(client, path, body.encode()), 422)
        assert MARKER not in error["message"], path


# ---- message length ------------------------------------------------------------------------------


def chat_or_answer(path: str, question: str, history: list[dict[str, str]]) -> dict[str, Any]:
    if path == "/v1/chat/completions":
        return {"messages": [*history, {"role": "user", "content": question}]}
    return {"question": question, "history": history}


@pytest.mark.parametrize("path", ANSWER_ENDPOINTS)
def test_every_message_over_the_limit_is_a_413(
    client: httpx.Client, open_settings: Settings, path: str
) -> None:
    limit = open_settings.max_question_chars
    long = "Is fibromyalgia an autoimmune disease? " * (limit // 20)
    assert len(long.strip()) > limit
    # An assistant turn is our own earlier answer sent back with its sources: it has four
    # times the room, so a long answer never makes the next question fail.
    answer_limit = ASSISTANT_TURN_FACTOR * limit
    longer = "Fibromyalgia is not an autoimmune disease. " * (answer_limit // 30)
    assert len(longer.strip()) > answer_limit
    for question, history, most in (
        (long, [], limit),
        (FINE, [{"role": "user", "content": long}], limit),
        (
            FINE,
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": longer}],
            answer_limit,
        ),
    ):
        response = client.post(path, json=chat_or_answer(path, question, history))
        error = assert_error(response, 413)
        assert f"the limit is {most}" in error["message"], error
    follow_up = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": long}]
    accepted = client.post(path, json=chat_or_answer(path, FINE, follow_up))
    assert accepted.status_code == 200, accepted.text
    # Exactly at the limit is accepted; blank is a 422, not a 413.
    at_limit = ("x" * (limit - 1)) + "?"
    assert client.post(path, json=chat_or_answer(path, FINE, [])).status_code == 200
    edge = client.post(
        path, json=chat_or_answer(path, FINE, [{"role": "user", "content": at_limit}])
    )
    assert edge.status_code == 200, edge.text
    assert_error(client.post(path, json=chat_or_answer(path, "   ", [])), 422)


# ---- body size -----------------------------------------------------------------------------------


def _read_response(sock: socket.socket, seconds: float = 30.0) -> bytes:
    sock.settimeout(seconds)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return head + b"\r\n\r\n" + rest


def _status_and_json(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    live_app: LiveServer, open_settings: Settings
) -> None:
    """Headers announcing 103 MB get a 413 though not one byte of the body was sent."""
    with socket.create_connection(("127.0.0.1", live_app.port)) as sock:
        sock.sendall(
            b"POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 103000000\r\n\r\n"
        )
        status, body = _status_and_json(_read_response(sock))
    assert status == 413
    assert body["error"]["type"] == "payload_too_large"
    assert str(open_settings.max_body_bytes) in body["error"]["message"]


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    live_app: LiveServer, open_settings: Settings
) -> None:
    """No Content-Length: the server counts as the body arrives and answers before the end."""
    limit = open_settings.max_body_bytes
    chunk = b"x" * 65536
    offered = 400 * len(chunk)  # 26 MB, a hundred times the limit
    sent = 0
    with socket.create_connection(("127.0.0.1", live_app.port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < offered:
                readable, _, _ = select.select([sock], [], [], 0.0 if sent < 2 * limit else 0.05)
                if readable:
                    break  # the server has answered
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, body = _status_and_json(_read_response(sock))
    assert status == 413, body
    assert body["error"]["type"] == "payload_too_large"
    assert sent < offered / 4, f"the server read {sent} bytes before refusing"


def test_a_body_within_the_limit_but_with_a_huge_message_is_a_413(
    client: httpx.Client, open_settings: Settings
) -> None:
    assert open_settings.max_body_bytes > 100_000
    response = client.post("/v1/answer", json={"question": "why? " * 15_000})
    assert_error(response, 413)


# ---- nothing of a request in the logs -----------------------------------------------------------


def test_an_unexpected_error_is_a_json_500_that_logs_no_request_text(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Any error our code did not expect: the message (which may quote input) is not logged."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/boom")
    async def boom(body: dict[str, Any]) -> None:
        raise ValueError(f"could not handle {body.get('question')}")

    with LiveServer(app) as server:
        response = httpx.post(f"{server.url}/boom", json={"question": MARKER}, timeout=30)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "internal_error"
    assert MARKER not in response.text
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert "unhandled ValueError" in logged  # the error is still reported...
    assert MARKER not in logged and "Traceback" not in logged  # ...without what was asked


@pytest.fixture(scope="module")
def served(
    corpus_pipeline: Any, corpus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """`fibro serve` in its own process over the session's index, stderr to a file."""
    workdir = tmp_path_factory.mktemp("serve-logs")  # no developer .env in reach
    log_file = workdir / "stderr.log"
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "HF_HUB_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ANONYMIZED_TELEMETRY": "False",
        "FIBRO_DATA_DIR": str(corpus_settings.data_dir),
        "FIBRO_LOG_LEVEL": "DEBUG",
        "FIBRO_RATE_PER_MINUTE": "0",
        "FIBRO_SESSION_RATE_PER_MINUTE": "0",
    }
    with log_file.open("w") as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assistant.cli",
                "serve",
                "--port",
                str(port),
                "--no-auto-ingest",
            ],
            cwd=workdir,
            env=env,
            stdout=stderr,
            stderr=subprocess.STDOUT,
        )
        try:
            # Loading the model on a busy machine can take minutes; the bound is for a failure.
            wait_for(f"http://127.0.0.1:{port}/healthz", 600, alive=lambda: proc.poll() is None)
            yield f"http://127.0.0.1:{port}", log_file
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_no_request_text_reaches_the_logs(served: tuple[str, Path]) -> None:
    url, log_file = served
    bodies: list[tuple[str, bytes]] = []
    for path in ANSWER_ENDPOINTS:
        bodies += [
            (path, raw_body(path, question=f"{MARKER} {LONE} is my name")),
            (path, raw_body(path, question=FINE, history=[("user", f"I am {MARKER} {LONE}")])),
            (path, raw_body(path, question=f"My name is {MARKER}. {FINE}")),
            (path, json.dumps(chat_or_answer(path, f"{MARKER} " * 900, [])).encode()),
            (path, b'{"question": "' + MARKER.encode() + b'", "x": [}'),
            (path, f'{{"unexpected": "{MARKER}", "messages": 3}}'.encode()),
        ]
    bodies.append(("/v1/feedback", f'{{"trace_id": "{MARKER}", "rating": "up"}}'.encode()))
    with httpx.Client(base_url=url, timeout=180) as http:
        # The first answer of a new process loads what the start left lazy; on a busy machine
        # that can take minutes, which is not what this test measures.
        warm = http.post("/v1/answer", json={"question": FINE}, timeout=600)
        assert warm.status_code == 200, warm.text
        statuses = [post_raw(http, path, body).status_code for path, body in bodies]
    assert 500 not in statuses and statuses.count(200) == len(ANSWER_ENDPOINTS), statuses
    time.sleep(0.5)  # let the last lines reach the file
    logged = log_file.read_text(errors="replace")
    assert MARKER not in logged, [line for line in logged.splitlines() if MARKER in line][:3]
    assert "Traceback" not in logged, logged[-3000:]
