"""A local fake of Slack's Web API on loopback that records every call and keeps messages.

It replaces Slack at the network boundary: the bot's `WebClient` is pointed at it with
`base_url` (`FIBRO_SLACK_API_URL`), and talks to it exactly as to slack.com. It answers the
methods the bot uses with Slack's response shapes: `auth.test`, `chat.postMessage`,
`chat.update`, `chat.postEphemeral`, `chat.startStream`, `chat.appendStream`, `chat.stopStream`,
`chat.getPermalink` and `conversations.replies`. Messages posted, streamed and updated are kept
per channel, so `conversations.replies` returns a thread the way Slack would, including the
bot's own answers. `streaming=False` makes the streaming methods fail as on a workspace without
them (`unknown_method`), to exercise the post-then-update fallback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

BOT_USER = "U0FIBROBOT"
BOT_ID = "B0FIBROBOT"
TEAM = "T0FIBRO"


@dataclass
class Call:
    """One Web API call the fake received."""

    method: str
    args: dict[str, Any]
    token: str


class FakeSlack:
    """The fake Web API; use as a context manager, read `calls`, wait with `wait_for`."""

    def __init__(self, *, streaming: bool = True) -> None:
        self.streaming = streaming
        self.calls: list[Call] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._clock = 1_700_000_000.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self._serve(self.rfile.read(length))

            def _serve(self, raw: bytes) -> None:
                url = urlparse(self.path)
                method = url.path.rstrip("/").rsplit("/", 1)[-1]
                args: dict[str, Any] = dict(parse_qsl(url.query))
                kind = self.headers.get("content-type", "")
                if raw and "json" in kind:
                    args.update(json.loads(raw))
                elif raw:
                    args.update(parse_qsl(raw.decode()))
                token = self.headers.get("authorization", "").removeprefix("Bearer ")
                reply = fake.handle(method, args, token)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSlack:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- state -----------------------------------------------------------------------------

    def next_ts(self) -> str:
        with self._lock:
            self._clock += 1.0
            return f"{self._clock:.6f}"

    def add_message(
        self, channel: str, text: str, *, user: str = "U0STAFF", thread_ts: str | None = None
    ) -> str:
        """A message someone wrote (as Slack would store it); returns its ts."""
        ts = self.next_ts()
        message = {"type": "message", "user": user, "text": text, "ts": ts}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._lock:
            self.messages.setdefault(channel, []).append(message)
        return ts

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def called(self, method: str, **match: Any) -> list[Call]:
        """Calls of `method` whose arguments include `match`."""
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if c.method == method and all(c.args.get(k) == v for k, v in match.items())
        ]

    def wait_for(
        self, check: Callable[[], Any], seconds: float = 60.0, what: str = "a Slack call"
    ) -> Any:
        """Poll until `check()` is truthy and return it; fail after `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out after {seconds}s waiting for {what}; calls: {self.calls}")

    # ---- the Web API ---------------------------------------------------------------------

    def handle(self, method: str, args: dict[str, Any], token: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append(Call(method, args, token))
        if not token.startswith("xoxb-"):
            return {"ok": False, "error": "not_authed"}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        reply: dict[str, Any] = handler(args)
        return reply

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fibro-test.slack.com/",
            "team": "Fibro test",
            "user": "fibro",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post(self, args: dict[str, Any], text: str) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        ts = self.next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "text": text,
            "ts": ts,
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        if args.get("blocks"):
            message["blocks"] = _blocks(args["blocks"])
        with self._lock:
            self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        return self._post(args, str(args.get("text", "")))

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self.next_ts()}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.find(str(args.get("channel")), str(args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        with self._lock:
            message["text"] = str(args.get("text", message["text"]))
            if args.get("blocks"):
                message["blocks"] = _blocks(args["blocks"])
        return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": message["text"]}

    def _chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.streaming:
            return {"ok": False, "error": "unknown_method"}
        if not args.get("thread_ts"):
            return {"ok": False, "error": "invalid_arguments"}
        return self._post(args, str(args.get("markdown_text", "")))

    def _chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.streaming:
            return {"ok": False, "error": "unknown_method"}
        message = self.find(str(args.get("channel")), str(args.get("ts")))
        if message is None or message.get("stopped"):
            return {"ok": False, "error": "message_not_in_streaming_state"}
        with self._lock:
            message["text"] += str(args.get("markdown_text", ""))
        return {"ok": True, "channel": args["channel"], "ts": args["ts"]}

    def _chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.find(str(args.get("channel")), str(args.get("ts")))
        if message is None or message.get("stopped"):
            return {"ok": False, "error": "message_not_in_streaming_state"}
        with self._lock:
            message["stopped"] = True
            message["text"] += str(args.get("markdown_text", ""))
        return {"ok": True, "channel": args["channel"], "ts": args["ts"], "message": message}

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel")), str(args.get("message_ts"))
        if self.find(channel, ts) is None:
            return {"ok": False, "error": "message_not_found"}
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://fibro-test.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel")), str(args.get("ts"))
        with self._lock:
            thread = [
                dict(m)
                for m in self.messages.get(channel, [])
                if m["ts"] == ts or m.get("thread_ts") == ts
            ]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": thread, "has_more": False}


def _blocks(value: Any) -> list[dict[str, Any]]:
    """Blocks arrive as a JSON list (json bodies) or a JSON string (form bodies)."""
    return json.loads(value) if isinstance(value, str) else list(value)
