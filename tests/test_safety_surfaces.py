"""Crisis and emergency replies on every surface, ahead of any queue, and the optional model check.

The messages here are worded so that the regex layers do not catch them (checked below): what
reaches a person in danger is the classifier's work, end to end, over real HTTP and the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import httpx
import pytest

from assistant.api.app import create_app
from assistant.models import Route
from assistant.pipeline import Pipeline
from assistant.triage import triage
from tests.fakes.openai_server import FakeOpenAI, Hold, Reply, well_cited_text
from tests.support import LiveServer, parse_sse

pytestmark = pytest.mark.slow

CRISIS = "i've sorted out my will and said my goodbyes, i won't be a problem for anyone much longer"
EMERGENCY = (
    "my husband just went grey and sweaty, clutching his chest, and he can't get his words out"
)


def test_the_regexes_alone_do_not_catch_these_messages() -> None:
    assert triage(CRISIS).route != Route.crisis
    assert triage(EMERGENCY).route not in (Route.crisis, Route.emergency)


@pytest.fixture(scope="module")
def client(live_app) -> httpx.Client:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_app.url, timeout=60.0) as c:
        yield c


def _assert_crisis_text(text: str) -> None:
    assert "116 123" in text and "988" in text


def test_json_endpoint(client: httpx.Client) -> None:
    crisis = client.post("/v1/answer", json={"question": CRISIS}).json()
    assert crisis["route"] == "crisis" and crisis["mode"] == "fixed"
    assert not crisis["citations"] and crisis["resources"]
    _assert_crisis_text(crisis["answer"])
    emergency = client.post("/v1/answer", json={"question": EMERGENCY}).json()
    assert emergency["route"] in ("emergency", "crisis")
    assert "999" in emergency["answer"] and "911" in emergency["answer"]


def test_sse_stream(client: httpx.Client) -> None:
    response = client.post("/v1/answer/stream", json={"question": CRISIS})
    events = parse_sse(response.text)
    assert [name for name, _ in events] == ["meta", "delta", "citations", "done"]
    assert events[0][1]["route"] == "crisis"
    _assert_crisis_text(events[1][1]["text"])
    assert events[-1][1]["resources"]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_compatible_endpoint(client: httpx.Client, stream: bool) -> None:
    body = {"model": "fibro-assistant", "messages": [{"role": "user", "content": CRISIS}]}
    response = client.post("/v1/chat/completions", json={**body, "stream": stream})
    assert response.status_code == 200
    if stream:
        text = "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in response.text.splitlines()
            if line.startswith("data: {")
        )
    else:
        text = response.json()["choices"][0]["message"]["content"]
    _assert_crisis_text(text)


def test_a_conversation_over_http(client: httpx.Client) -> None:
    history = [
        {"role": "user", "content": "i just want to fall asleep and not have to wake up again"},
        {"role": "assistant", "content": "I'm really sorry. Are you safe right now?"},
    ]
    body = client.post("/v1/answer", json={"question": "no. tonight", "history": history}).json()
    assert body["route"] == "crisis"


def test_cli_answers_a_crisis_even_before_anything_is_indexed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "FIBRO_DATA_DIR": str(tmp_path / "empty-index"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", CRISIS],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    _assert_crisis_text(result.stdout)
    assert "Help now:" in result.stdout
    assert "route: crisis" in result.stderr


def test_crisis_replies_do_not_wait_for_a_busy_service(corpus_pipeline, corpus_settings) -> None:  # type: ignore[no-untyped-def]
    """Every answer slot is held by a hung model call; crisis replies still come back at once,
    over JSON and SSE, while the ordinary answer is still waiting for its model."""
    with FakeOpenAI() as fake:
        settings = fake.settings_for(
            corpus_settings,
            llm_timeout_seconds=20.0,
            max_concurrent_answers=1,
            queue_timeout_seconds=20.0,
        )
        pipeline = Pipeline(settings, corpus_pipeline.store, corpus_pipeline.embedder)
        # The ordinary answer's model call waits at the hold, keeping the only slot.
        hold = Hold()
        fake.script(Reply(text=lambda r: well_cited_text(r, 3), hang=hold))
        with LiveServer(create_app(settings, pipeline)) as app, httpx.Client(timeout=30) as c:
            done: list[httpx.Response] = []
            slow = threading.Thread(
                target=lambda: done.append(
                    c.post(f"{app.url}/v1/answer", json={"question": "Did the mice recover?"})
                )
            )
            slow.start()
            try:
                hold.wait_reached()
                crisis = c.post(f"{app.url}/v1/answer", json={"question": CRISIS})
                stream = c.post(f"{app.url}/v1/answer/stream", json={"question": EMERGENCY})
                # Both answered while the only slot is still held by the hung call.
                assert slow.is_alive() and not done
            finally:
                hold.release()
                slow.join(30)
            assert crisis.status_code == 200 and crisis.json()["route"] == "crisis"
            assert parse_sse(stream.text)[0][1]["route"] in ("emergency", "crisis")
            assert done[0].status_code == 200


# ---- the optional model check -----------------------------------------------------------------


def _checked_pipeline(fake: FakeOpenAI, corpus_pipeline, corpus_settings) -> Pipeline:  # type: ignore[no-untyped-def]
    settings = fake.settings_for(
        corpus_settings, safety_model_check=True, safety_model="openai/safety-check"
    )
    return Pipeline(settings, corpus_pipeline.store, corpus_pipeline.embedder)


def test_the_model_check_can_raise_a_route(corpus_pipeline, corpus_settings) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI() as fake:
        pipeline = _checked_pipeline(fake, corpus_pipeline, corpus_settings)
        fake.script(Reply(text="CRISIS"), model="safety-check")
        answer = pipeline.answer("Did the mice recover?")
        assert answer.route == Route.crisis and answer.resources
        check = fake.requests[0]
        assert check.model == "safety-check" and "one word" in check.system()
        assert "Did the mice recover?" in check.last_user()


def test_the_model_check_never_lowers_and_never_blocks(corpus_pipeline, corpus_settings) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI() as fake:
        pipeline = _checked_pipeline(fake, corpus_pipeline, corpus_settings)
        # A crisis is answered without asking the model at all.
        assert pipeline.answer(CRISIS).route == Route.crisis
        assert not fake.requests
        # A failing check leaves the local route; the answer itself still comes.
        fake.script(Reply(status=500), model="safety-check")
        fake.script(Reply(text=lambda r: well_cited_text(r, 3)), model="fake-model")
        answer = pipeline.answer("Did the mice recover?")
        assert answer.route == Route.answer and answer.mode == "llm"
        # "NONE" changes nothing either.
        fake.script(Reply(text="NONE"), model="safety-check")
        fake.script(Reply(text=lambda r: well_cited_text(r, 3)), model="fake-model")
        assert pipeline.answer("Did the mice recover?").route == Route.answer
