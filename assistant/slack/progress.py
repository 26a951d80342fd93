"""Progress while an answer is produced: Slack's streaming methods, or post then update.

Streaming (`chat.startStream`/`appendStream`/`stopStream`, slack_sdk 3.37+) shows each verified
sentence as it arrives. Where it is unavailable (an older workspace, a method error) a placeholder
is posted and updated at most once per `UPDATE_EVERY_SECONDS`, within `chat.update`'s rate limit.
Either way the message is finally replaced by the Block Kit answer, so a thread holds one message
per answer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger("fibro.slack")

UPDATE_EVERY_SECONDS = 1.0  # chat.update is rate-limited (about one a second per message)
THINKING = ":hourglass_flowing_sand: Looking this up in the sources…"


class Progress:
    """Shows an answer while it is produced, then replaces it with the final blocks.

    Slack's streaming methods first; when they are unavailable (an older workspace, a method
    error), a placeholder message updated at most once per `UPDATE_EVERY_SECONDS`.
    """

    def __init__(
        self, client: WebClient, channel: str, thread_ts: str, user: str | None, team: str | None
    ) -> None:
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.ts: str | None = None
        self.streaming = False
        self.sent = ""  # the text Slack already shows
        self.pending = ""
        self.last = 0.0
        self.user, self.team = user, team

    def _start(self) -> None:
        try:
            reply = self.client.chat_startStream(
                channel=self.channel,
                thread_ts=self.thread_ts,
                # Slack needs the recipient when streaming into a channel.
                recipient_user_id=self.user,
                recipient_team_id=self.team,
            )
            self.ts, self.streaming = str(reply["ts"]), True
        except SlackApiError as exc:
            log.info("streaming unavailable (%s); posting and updating", exc.response.get("error"))
            reply = self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=THINKING
            )
            self.ts = str(reply["ts"])
        self.last = time.monotonic()

    def show(self, text: str) -> None:
        """The answer so far; sent when a second has passed since the last send."""
        if self.ts is None:
            self._start()
        self.pending = text
        if time.monotonic() - self.last >= UPDATE_EVERY_SECONDS:
            self._flush()

    def _flush(self) -> None:
        if self.ts is None or self.pending == self.sent:
            return
        try:
            if self.streaming and self.pending.startswith(self.sent):
                self.client.chat_appendStream(
                    channel=self.channel, ts=self.ts, markdown_text=self.pending[len(self.sent) :]
                )
            elif not self.streaming:
                self.client.chat_update(channel=self.channel, ts=self.ts, text=self.pending)
            self.sent = self.pending
        except SlackApiError as exc:
            log.warning("progress update failed: %s", exc.response.get("error"))
        self.last = time.monotonic()

    def finish(self, text: str, final: list[dict[str, Any]] | None) -> None:
        """Replace the progress with the final message (one message per answer, always)."""
        if self.ts is None:
            self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=text, blocks=final
            )
            return
        if self.streaming:
            try:
                self.client.chat_stopStream(channel=self.channel, ts=self.ts)
            except SlackApiError as exc:
                log.warning("chat.stopStream failed: %s", exc.response.get("error"))
        self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=final)
