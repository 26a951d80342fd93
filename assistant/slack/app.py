"""The Bolt app: mentions, direct messages, `/fibro`, and the answer buttons.

Slack gives a request three seconds. Every listener acknowledges first and answers after the
ack (`process_before_response=False`: Bolt replies to Slack, then runs the listener on its own
thread pool). Slack retries an event it thinks was missed, so events are answered once per
`event_id` and a duplicate gets a plain 200: an error would only bring more retries.

The answer is the pipeline's (`Pipeline.events`, channel "slack"); this module only moves it
into Slack: streamed with `chat.startStream`/`appendStream`/`stopStream`, or posted and then
updated at most about once a second where streaming is not available, and finally replaced by
the Block Kit rendering of `blocks.py`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import HTTPException
from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from assistant.api.gate import AnswerGate
from assistant.errors import FeedbackStoreError
from assistant.feedback.store import get_store
from assistant.models import Answer, Turn
from assistant.observe import FeedbackEvent, FeedbackHook, tell_feedback
from assistant.pipeline import Pipeline
from assistant.redisstate import RedisSeen, client_for
from assistant.settings import Settings
from assistant.slack import blocks
from assistant.slack.progress import THINKING, Progress

log = logging.getLogger("fibro.slack")

CHANNEL = "slack"
HISTORY_TURNS = 20
BUSY = "The assistant is busy answering other questions; please ask again in a minute."
_MENTION = re.compile(r"<@[A-Z0-9]+>")


class Recent:
    """A bounded set of recent keys with an expiry: event ids seen, answers kept for buttons.

    In memory, per process: with several workers a retry may land on another one. Slack
    retries within minutes, so an hour is ample.
    """

    def __init__(self, size: int = 5000, ttl: float = 3600.0) -> None:
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._size, self._ttl = size, ttl
        self._lock = threading.Lock()

    def add(self, key: str, value: Any = None) -> bool:
        """Remember `key`; False when it was already there (a duplicate)."""
        now = time.monotonic()
        with self._lock:
            while self._items and next(iter(self._items.values()))[0] < now - self._ttl:
                self._items.popitem(last=False)
            if key in self._items:
                return False
            self._items[key] = (now, value)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            return True

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._items.get(key)
        return None if item is None else item[1]


class SeenEvents:
    """Slack `event_id`s already answered: in Redis when `FIBRO_REDIS_URL` is set, so a retry
    that lands on another worker is still answered once; in memory otherwise, and while Redis
    cannot be reached (assistant/redisstate.py logs that)."""

    def __init__(self, redis_url: str | None) -> None:
        self.memory = Recent()
        self.shared: RedisSeen | None = None
        if redis_url:
            self.shared = RedisSeen(client_for(redis_url))

    def add(self, event_id: str) -> bool:
        """Remember `event_id`; False when it was seen before (a retry)."""
        first = self.memory.add(event_id)
        if self.shared is not None:
            shared = self.shared.add(f"slack:{event_id}")
            if shared is not None:
                return shared
        return first


class SlackBot:
    """The listeners' shared state: the pipeline, the gate, the feedback hooks, recent events."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        gate: AnswerGate | None = None,
        feedback_hooks: Sequence[FeedbackHook] = (),
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.gate = gate or AnswerGate(
            settings.max_concurrent_answers, settings.queue_timeout_seconds
        )
        self.feedback_hooks = list(feedback_hooks)
        self.events = SeenEvents(settings.redis_url)
        self.answers = Recent(size=1000)  # trace_id -> (question, Answer), for the buttons

    # ---- answering --------------------------------------------------------------------------

    def history(self, client: WebClient, channel: str, thread_ts: str, ts: str) -> list[Turn]:
        """The thread's earlier messages as conversation turns (the bot's as the assistant's)."""
        try:
            reply = client.conversations_replies(channel=channel, ts=thread_ts, limit=100)
        except SlackApiError as exc:
            log.warning("conversations.replies failed: %s", exc.response.get("error"))
            return []
        turns: list[Turn] = []
        for message in reply.get("messages") or []:
            if message.get("ts") == ts or not message.get("text"):
                continue
            text = _MENTION.sub("", str(message["text"])).strip()
            if not text:
                continue
            if message.get("bot_id"):
                turns.append(Turn(role="assistant", content=blocks.cut(text, 8000)))
            else:
                turns.append(Turn(role="user", content=blocks.cut(text, 8000)))
        return turns[-HISTORY_TURNS:]

    def run(self, question: str, history: Sequence[Turn], on_text: Callable[[str], None]) -> Answer:
        """One pipeline run, calling `on_text` with the text so far as sentences arrive.

        Triage runs before the gate, as on the API: a crisis reply never waits for a slot.
        """
        verdict = self.pipeline.triage(question, history)
        events = self.pipeline.events(question, history, verdict, channel=CHANNEL)
        if verdict.fixed:
            return self._collect(events, on_text)
        try:
            with self.gate.slot():  # a 503 HTTPException when no slot frees in time
                return self._collect(events, on_text)
        except HTTPException as exc:
            events.close()  # type: ignore[attr-defined]
            raise TimeoutError(BUSY) from exc

    @staticmethod
    def _collect(
        events: Iterable[tuple[str, dict[str, Any]]], on_text: Callable[[str], None]
    ) -> Answer:
        parts: list[str] = []
        for name, data in events:
            if name == "delta":
                parts.append(str(data["text"]))
                on_text(" ".join(parts))
            elif name == "done":
                return Answer.model_validate(data)
        raise RuntimeError("pipeline ended without an answer")  # pragma: no cover

    def answer_in_thread(
        self,
        client: WebClient,
        *,
        channel: str,
        thread_ts: str,
        ts: str,
        text: str,
        user: str | None,
        team: str | None,
        in_thread: bool,
    ) -> None:
        """Answer a message in its thread, showing progress, then the Block Kit answer."""
        question = _MENTION.sub("", text).strip()
        if not question:
            return
        history = self.history(client, channel, thread_ts, ts) if in_thread else []
        progress = Progress(client, channel, thread_ts, user, team)
        try:
            answer = self.run(question, history, progress.show)
        except TimeoutError:
            progress.finish(BUSY, None)
            return
        self.answers.add(answer.trace_id, (question, answer))
        progress.finish(blocks.fallback_text(answer), blocks.answer_blocks(answer, question))

    # ---- buttons ----------------------------------------------------------------------------

    def rate(self, trace_id: str, rating: str, client_id: str) -> bool:
        """Store a rating as `POST /v1/feedback` does; False when the store is down.

        A button carries no comment, so the rule that keeps no words of a crisis exchange has
        nothing to drop here.
        """
        try:
            result = get_store(self.settings).rate(
                trace_id=trace_id, client=client_id, rating=rating, comment=None, channel=CHANNEL
            )
        except FeedbackStoreError as exc:
            log.warning("feedback not stored for trace %s: %s", trace_id, exc)
            return False
        if result.changed:
            tell_feedback(self.feedback_hooks, FeedbackEvent(trace_id, rating, CHANNEL, None))
        return True

    def permalink(self, client: WebClient, channel: str, ts: str) -> str:
        """A link to the message's thread; constructed when Slack will not give one."""
        try:
            return str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except SlackApiError:
            return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def build_app(bot: SlackBot, client: WebClient | None = None) -> App:
    """The Bolt app with every listener; `client` defaults to one at `slack_api_url`."""
    settings = bot.settings
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    app = App(
        client=client or WebClient(token=token, base_url=settings.slack_api_url),
        signing_secret=secret,
        # No auth.test at start-up: a service must start while Slack is unreachable. Bolt
        # calls it on the first request instead (and caches the bot's ids).
        token_verification_enabled=False,
        # Ack first, answer on Bolt's thread pool afterwards.
        process_before_response=False,
        # Socket Mode has no signature; HTTP mode always verifies.
        request_verification_enabled=secret is not None,
    )

    @app.middleware
    def answer_each_event_once(body: dict[str, Any], next: Callable[[], None]) -> Any:
        """A retried event (same `event_id`) gets a 200 and no second answer."""
        event_id = body.get("event_id")
        if body.get("type") == "event_callback" and event_id and not bot.events.add(str(event_id)):
            log.info("duplicate event %s ignored", event_id)
            return BoltResponse(status=200, body="")
        next()
        return None

    def on_message(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return  # other bots, edits, joins: not questions (Bolt drops our own already)
        ts = str(event["ts"])
        thread_ts = str(event.get("thread_ts") or ts)
        bot.answer_in_thread(
            client,
            channel=str(event["channel"]),
            thread_ts=thread_ts,
            ts=ts,
            text=str(event.get("text") or ""),
            user=event.get("user"),
            team=event.get("team") or body.get("team_id"),
            in_thread=thread_ts != ts,
        )

    app.event("app_mention")(on_message)

    @app.event("message")
    def direct_message(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        """Direct messages are questions; channel messages without a mention are not."""
        if event.get("channel_type") == "im":
            on_message(event, body, client)

    @app.command("/fibro")
    def slash(ack: Callable[..., None], command: dict[str, Any], client: WebClient) -> None:
        question = str(command.get("text") or "").strip()
        if not question:
            ack("Ask a question after `/fibro`, for example `/fibro Did the mice recover?`")
            return
        ack(f"{THINKING} (only you will see the answer)")
        try:
            answer = bot.run(question, [], lambda _text: None)
        except TimeoutError:
            client.chat_postEphemeral(
                channel=command["channel_id"], user=command["user_id"], text=BUSY
            )
            return
        bot.answers.add(answer.trace_id, (question, answer))
        client.chat_postEphemeral(
            channel=command["channel_id"],
            user=command["user_id"],
            text=blocks.fallback_text(answer),
            blocks=blocks.answer_blocks(answer, question, share=True),
        )

    def on_feedback(ack: Callable[..., None], body: dict[str, Any], client: WebClient) -> None:
        ack()
        action = body["actions"][0]
        rating = "up" if action["action_id"] == blocks.FEEDBACK_UP else "down"
        trace_id, _ = blocks.read_button_value(str(action.get("value", "")))
        user = body.get("user", {}).get("id")
        team = (body.get("team") or {}).get("id", "")
        stored = bot.rate(trace_id, rating, f"slack:{team}:{user}")
        note = (
            "Thanks, your rating is recorded."
            if stored
            else "Sorry, the rating could not be stored; please try again shortly."
        )
        _tell(client, body, note)

    app.action(blocks.FEEDBACK_UP)(on_feedback)
    app.action(blocks.FEEDBACK_DOWN)(on_feedback)

    @app.action(blocks.ESCALATE)
    def escalate(ack: Callable[..., None], body: dict[str, Any], client: WebClient) -> None:
        ack()
        target = settings.slack_escalation_channel
        if not target:
            _tell(
                client,
                body,
                "No escalation channel is configured (FIBRO_SLACK_ESCALATION_CHANNEL).",
            )
            return
        trace_id, question = blocks.read_button_value(str(body["actions"][0].get("value", "")))
        kept = bot.answers.get(trace_id)
        message = body.get("message") or {}
        answer_text = kept[1].answer if kept else str(message.get("text") or "")
        question = kept[0] if kept else question
        container = body.get("container") or {}
        channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id", ""))
        ts = str(message.get("thread_ts") or container.get("message_ts") or message.get("ts", ""))
        link = bot.permalink(client, channel, ts)
        user = (body.get("user") or {}).get("id")
        client.chat_postMessage(
            channel=target,
            text=f"Escalated question: {blocks.cut(question, 200)}",
            blocks=blocks.escalation_blocks(question, answer_text, link, user),
            unfurl_links=False,
        )
        _tell(client, body, f"Escalated to <#{target}>.")

    @app.action(blocks.SHARE)
    def share(ack: Callable[..., None], body: dict[str, Any], client: WebClient) -> None:
        ack()
        trace_id, question = blocks.read_button_value(str(body["actions"][0].get("value", "")))
        kept = bot.answers.get(trace_id)
        if kept is None:  # another process answered the draft: answer the question again
            answer = bot.run(question, [], lambda _text: None)
            bot.answers.add(answer.trace_id, (question, answer))
        else:
            question, answer = kept
        channel = str((body.get("channel") or {}).get("id") or body["container"]["channel_id"])
        user = (body.get("user") or {}).get("id")
        client.chat_postMessage(
            channel=channel,
            text=blocks.fallback_text(answer),
            blocks=[
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": f"Shared by <@{user}>: _{blocks.escape(blocks.cut(question, 2500))}_",
                        }
                    ],
                },
                *blocks.answer_blocks(answer, question),
            ][: blocks.MAX_BLOCKS],
        )

    return app


def _tell(client: WebClient, body: dict[str, Any], text: str) -> None:
    """A note only the staff member who pressed a button sees."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    user = (body.get("user") or {}).get("id")
    if not channel or not user:
        return
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning("ephemeral note failed: %s", exc.response.get("error"))
