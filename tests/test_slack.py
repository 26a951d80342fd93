"""The Slack bot end to end: real Bolt, the real app over HTTP, Slack faked at the network edge.

Requests are signed as Slack signs them and posted to `/slack/events` of the real FastAPI app;
the bot's Web API calls go to `tests/fakes/slack_server.py`. Answers are compared with
`/v1/answer` for the same question: the Slack surface must never answer differently.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from assistant.models import Answer, Citation, Resource, Route
from assistant.settings import Settings
from assistant.slack import blocks
from tests.fakes.slack_server import BOT_ID, BOT_USER, TEAM, FakeSlack
from tests.support import LiveServer

pytestmark = pytest.mark.slow

SECRET = "test-signing-secret"
SUPPORT = "C0SUPPORT"
ESCALATION = "C0ESCALATE"
_event_ids = count(1)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def slack_settings(
    corpus_settings: Settings, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    # Its own feedback store: ratings made here must not show up in other modules' stores.
    store = tmp_path_factory.mktemp("slack-feedback") / "feedback.sqlite3"
    return corpus_settings.model_copy(
        update={
            "database_url": f"sqlite:///{store}",
            "slack_bot_token": SecretStr("xoxb-test-token"),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": slack.url,
            "slack_escalation_channel": ESCALATION,
        }
    )


@pytest.fixture(scope="module")
def server(slack_settings: Settings, corpus_pipeline: Any) -> Iterator[LiveServer]:
    from assistant.api.app import create_app
    from assistant.pipeline import Pipeline

    pipeline = Pipeline(slack_settings, corpus_pipeline.store, corpus_pipeline.embedder)
    with LiveServer(create_app(slack_settings, pipeline)) as live:
        yield live


# ---- requests as Slack sends them ---------------------------------------------------------


def signed_post(
    server: LiveServer,
    body: str,
    content_type: str,
    *,
    secret: str = SECRET,
    age: float = 0.0,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    stamp = str(int(time.time() - age))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return httpx.post(
        server.url + "/slack/events",
        content=body.encode(),
        headers={
            "content-type": content_type,
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": f"v0={digest}",
            **(headers or {}),
        },
        timeout=10,
    )


def event_body(event: dict[str, Any], event_id: str | None = None) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0FIBRO",
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_event_ids):08d}",
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
    )


def send_event(server: LiveServer, event: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return signed_post(server, event_body(event), "application/json", **kwargs)


def mention(
    slack: FakeSlack, server: LiveServer, question: str, thread_ts: str | None = None
) -> str:
    """A staff member mentions the bot in #support; returns the thread's ts."""
    text = f"<@{BOT_USER}> {question}"
    ts = slack.add_message(SUPPORT, text, thread_ts=thread_ts)
    event = {
        "type": "app_mention",
        "user": "U0STAFF",
        "text": text,
        "ts": ts,
        "channel": SUPPORT,
        "event_ts": ts,
        "team": TEAM,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    response = send_event(server, event)
    assert response.status_code == 200, response.text
    return thread_ts or ts


def press(
    server: LiveServer, action_id: str, value: str, message: dict[str, Any], channel: str = SUPPORT
) -> httpx.Response:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0STAFF", "team_id": TEAM},
        "team": {"id": TEAM},
        "api_app_id": "A0FIBRO",
        "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": message.get("ts"), "channel_id": channel},
        "channel": {"id": channel},
        "message": message,
        "actions": [
            {"action_id": action_id, "block_id": "b", "value": value, "type": "button"},
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    return signed_post(server, body, "application/x-www-form-urlencoded")


def answers_in(
    slack: FakeSlack, thread_ts: str, *, final: bool = True, channel: str = SUPPORT
) -> list[dict[str, Any]]:
    """The bot's messages in a thread (final: only those that carry the answer blocks)."""
    return [
        m
        for m in slack.messages.get(channel, [])
        if m.get("bot_id") == BOT_ID
        and m.get("thread_ts") == thread_ts
        and (m.get("blocks") or not final)
    ]


def one_answer(slack: FakeSlack, thread_ts: str, n: int = 1) -> dict[str, Any]:
    done = slack.wait_for(lambda: len(answers_in(slack, thread_ts)) >= n, what="the answer")
    assert done
    return answers_in(slack, thread_ts)[n - 1]


def button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return dict(element)
    raise AssertionError(f"no {action_id} button in {message['blocks']}")


def api_answer(server: LiveServer, question: str, history: list[dict[str, str]]) -> Answer:
    response = httpx.post(
        server.url + "/v1/answer", json={"question": question, "history": history}, timeout=120
    )
    assert response.status_code == 200, response.text
    return Answer.model_validate(response.json())


def expected_blocks(answer: Answer, message: dict[str, Any], question: str) -> Any:
    trace_id = button(message, blocks.FEEDBACK_UP)["value"]
    return blocks.answer_blocks(answer.model_copy(update={"trace_id": trace_id}), question)


# ---- tests ------------------------------------------------------------------------------


def test_mention_gets_one_threaded_answer_with_the_api_citations(
    slack: FakeSlack, server: LiveServer
) -> None:
    question = "Did the mice in the antibody study recover?"
    thread = mention(slack, server, question)
    message = one_answer(slack, thread)
    expected = api_answer(server, question, [])
    assert expected.citations, "the question should be answerable from the corpus"
    assert message["blocks"] == expected_blocks(expected, message, question)
    sources = json.dumps(message["blocks"])
    for c in expected.citations:
        assert f"*[{c.n}]*" in sources and blocks.escape(c.title)[:100] in sources
    assert len(answers_in(slack, thread, final=False)) == 1, "one message per answer"
    assert slack.called("chat.startStream", channel=SUPPORT, thread_ts=thread)


def test_thread_follow_up_uses_the_thread_as_history(slack: FakeSlack, server: LiveServer) -> None:
    first = "Did the mice in the antibody study recover?"
    thread = mention(slack, server, first)
    earlier = one_answer(slack, thread)
    follow_up = "what about in humans?"
    mention(slack, server, follow_up, thread_ts=thread)
    message = one_answer(slack, thread, n=2)
    assert slack.called("conversations.replies", channel=SUPPORT, ts=thread)
    history = [
        {"role": "user", "content": first},
        {"role": "assistant", "content": earlier["text"]},
    ]
    expected = api_answer(server, follow_up, history)
    assert message["blocks"] == expected_blocks(expected, message, follow_up)


def test_retried_event_is_answered_once_and_bots_are_ignored(
    slack: FakeSlack, server: LiveServer
) -> None:
    text = f"<@{BOT_USER}> Is there a blood test for fibromyalgia?"
    ts = slack.add_message(SUPPORT, text)
    event = {"type": "app_mention", "user": "U0STAFF", "text": text, "ts": ts, "channel": SUPPORT}
    body = event_body(event, "EvRETRIED1")
    assert signed_post(server, body, "application/json").status_code == 200
    retry = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    again = signed_post(server, body, "application/json", headers=retry)
    assert again.status_code == 200
    # Another bot's message in a thread is not a question.
    bot_ts = slack.add_message(SUPPORT, "Is fibromyalgia autoimmune?", user="U0OTHER")
    other_bot = {
        "type": "message",
        "channel_type": "im",
        "subtype": "bot_message",
        "bot_id": "B0OTHER",
        "text": "Is fibromyalgia autoimmune?",
        "ts": bot_ts,
        "channel": SUPPORT,
    }
    assert send_event(server, other_bot).status_code == 200
    # A later question, answered after the duplicate would have been.
    sentinel = mention(slack, server, "Is fibromyalgia autoimmune?")
    one_answer(slack, sentinel)
    one_answer(slack, ts)
    assert len(answers_in(slack, ts, final=False)) == 1
    assert answers_in(slack, bot_ts, final=False) == []


def test_direct_message_is_answered_in_its_thread(slack: FakeSlack, server: LiveServer) -> None:
    question = "Is there a blood test for fibromyalgia?"
    ts = slack.add_message("D0STAFF", question)
    event = {
        "type": "message",
        "channel_type": "im",
        "user": "U0STAFF",
        "text": question,
        "ts": ts,
        "channel": "D0STAFF",
    }
    assert send_event(server, event).status_code == 200
    slack.wait_for(lambda: answers_in(slack, ts, channel="D0STAFF"), what="the DM answer")
    message = answers_in(slack, ts, channel="D0STAFF")[0]
    assert message["blocks"] == expected_blocks(api_answer(server, question, []), message, question)


def test_forged_and_stale_requests_get_401(slack: FakeSlack, server: LiveServer) -> None:
    event = {"type": "app_mention", "user": "U0STAFF", "text": "hi", "ts": "1.0", "channel": "C1"}
    assert send_event(server, event, secret="not-the-secret").status_code == 401
    assert send_event(server, event, age=600).status_code == 401
    assert not [c for c in slack.calls if c.args.get("channel") == "C1"]


def test_feedback_buttons_store_the_rating(
    slack: FakeSlack, server: LiveServer, slack_settings: Settings
) -> None:
    from assistant.feedback.store import get_store

    thread = mention(slack, server, "How many patients' antibodies were transferred to mice?")
    message = one_answer(slack, thread)
    trace_id = button(message, blocks.FEEDBACK_UP)["value"]
    before = len(slack.called("chat.postEphemeral", channel=SUPPORT, user="U0STAFF"))
    assert press(server, blocks.FEEDBACK_UP, trace_id, message).status_code == 200
    slack.wait_for(
        lambda: len(slack.called("chat.postEphemeral", channel=SUPPORT, user="U0STAFF")) > before,
        what="the thank-you note",
    )
    rated = [
        f for f in get_store(slack_settings).list_feedback() if f.feedback.trace_id == trace_id
    ]
    assert [(f.feedback.rating, f.feedback.channel) for f in rated] == [("up", "slack")]
    assert press(server, blocks.FEEDBACK_DOWN, trace_id, message).status_code == 200

    def down() -> bool:
        views = get_store(slack_settings).list_feedback()
        return [f.feedback.rating for f in views if f.feedback.trace_id == trace_id] == ["down"]

    slack.wait_for(down, what="the rating to change to down")


def test_escalation_posts_question_answer_and_link(slack: FakeSlack, server: LiveServer) -> None:
    question = "Is fibromyalgia autoimmune?"
    thread = mention(slack, server, question)
    message = one_answer(slack, thread)
    escalate = button(message, blocks.ESCALATE)
    assert press(server, blocks.ESCALATE, escalate["value"], message).status_code == 200
    posted = slack.wait_for(
        lambda: slack.called("chat.postMessage", channel=ESCALATION), what="the escalation"
    )
    text = json.dumps(posted[0].args["blocks"])
    assert question in text
    assert blocks.escape(message["text"])[:200] in text.replace("\\n", "\n")
    assert f"archives/{SUPPORT}/p{thread.replace('.', '')}" in text
    assert slack.called("chat.getPermalink", channel=SUPPORT)


def test_crisis_gets_the_fixed_reply_and_an_escalation_note(
    slack: FakeSlack, server: LiveServer
) -> None:
    question = "I can't go on, I want to end my life tonight"
    thread = mention(slack, server, question)
    message = one_answer(slack, thread)
    expected = api_answer(server, question, [])
    assert expected.route == Route.crisis and expected.resources
    assert message["blocks"] == expected_blocks(expected, message, question)
    text = json.dumps(message["blocks"])
    assert "For staff" in text and expected.resources[0].contact in text
    assert button(message, blocks.ESCALATE)["style"] == "danger"


def test_streaming_unavailable_falls_back_to_post_then_update(
    slack: FakeSlack, server: LiveServer
) -> None:
    slack.streaming = False
    try:
        question = "What is fibromyalgia?"
        thread = mention(slack, server, question)
        message = one_answer(slack, thread)
    finally:
        slack.streaming = True
    assert slack.called("chat.postMessage", channel=SUPPORT, thread_ts=thread)
    assert slack.called("chat.update", channel=SUPPORT, ts=message["ts"])
    assert message["blocks"] == expected_blocks(api_answer(server, question, []), message, question)


def test_slash_command_answers_privately_with_a_share_button(
    slack: FakeSlack, server: LiveServer
) -> None:
    question = "Is there a blood test for fibromyalgia?"
    form = {
        "token": "legacy",
        "team_id": TEAM,
        "channel_id": SUPPORT,
        "user_id": "U0DRAFTER",
        "command": "/fibro",
        "text": question,
        "response_url": slack.url + "response",
        "trigger_id": "1.2.3",
        "api_app_id": "A0FIBRO",
    }
    response = signed_post(server, urlencode(form), "application/x-www-form-urlencoded")
    assert response.status_code == 200 and "only you" in response.text
    draft = slack.wait_for(
        lambda: slack.called("chat.postEphemeral", user="U0DRAFTER"), what="the private draft"
    )[0]
    share = button({"blocks": draft.args["blocks"]}, blocks.SHARE)
    assert not slack.called("chat.postMessage", channel=SUPPORT, text=draft.args["text"])
    assert press(server, blocks.SHARE, share["value"], {"ts": "9.9"}).status_code == 200
    shared = slack.wait_for(
        lambda: slack.called("chat.postMessage", channel=SUPPORT, text=draft.args["text"]),
        what="the shared answer",
    )
    assert "Shared by" in json.dumps(shared[0].args["blocks"])


def test_answer_near_the_limits_still_builds_valid_blocks() -> None:
    long_quote = "Antibodies transferred pain-like symptoms. " * 40
    answer = Answer(
        answer=" ".join(
            f"Sentence {i} says something & <cites> it [{i % 30 + 1}]." for i in range(900)
        ),
        citations=[
            Citation(
                n=i,
                chunk_id=f"c{i}",
                source_id=f"s{i}",
                title="A very long title | with odd > characters " * 10,
                url=f"https://example.org/{i}",
                source_type="primary_study",
                evidence="animal",
                quote=long_quote,
            )
            for i in range(1, 61)
        ],
        route=Route.crisis,
        hedges=["These findings are in mice. " * 30] * 10,
        resources=[Resource(name="Line", contact="116 123", region="UK", note="24/7")] * 5,
        trace_id="0" * 32,
        disclaimer="Not medical advice. " * 200,
    )
    rendered = blocks.answer_blocks(answer, "why? " * 1000, share=True)
    assert len(rendered) <= blocks.MAX_BLOCKS
    for block in rendered:
        text = (block.get("text") or {}).get("text", "")
        assert len(text) <= blocks.SECTION_CHARS
        assert len(block.get("elements", [])) <= 10
        for element in block.get("elements", []):
            assert len(element.get("value", "")) <= blocks.BUTTON_VALUE_CHARS
    assert rendered[-1]["type"] == "actions"
    assert len(json.dumps(rendered)) < 100_000


def test_events_route_is_404_until_slack_is_configured(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from assistant.api.app import create_app
    from tests.support import make_settings

    # No lifespan (no `with`): the route must refuse before it needs a pipeline.
    client = TestClient(create_app(make_settings(tmp_path)))
    response = client.post("/slack/events", content=b"{}")
    assert response.status_code == 404
    assert "/slack/events" not in client.get("/openapi.json").text
