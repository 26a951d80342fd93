"""A tiny OpenAI-compatible chat server on loopback that replays scripted replies.

It replaces an LLM provider at the network boundary: the app talks to it through litellm exactly
as it would talk to a hosted model. It implements ``POST /v1/chat/completions`` both as a JSON
``chat.completion`` and as an SSE stream of ``chat.completion.chunk`` lines ending in
``data: [DONE]``, and records every request it receives.

Replies are scripted with :class:`Reply`: fixed text or a function of the request (so a reply can
quote the passages the prompt carries), an HTTP error status, a hang, and the fragment size of a
stream. Scripts are consumed from a per-model queue, then a shared queue, then the default.

A hang or a mid-stream stall lasts a number of seconds, or until the test releases a
:class:`Hold`: a test that needs a model call to be in progress (a full answer slot) waits for
the hold to be reached and releases it when done, instead of racing a sleep.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import SecretStr

from assistant.settings import Settings

_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n?(.*?)\n?</passage>', re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")
_CLEAN_SENTENCE = re.compile(r"^[A-Z][A-Za-z0-9 ,;'()%-]+\.$")


@dataclass
class RecordedRequest:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def system(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m["role"] == "system")

    def last_user(self) -> str:
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1].get("content", "")) if users else ""

    def passages(self) -> dict[int, str]:
        """The numbered passages of the prompt: n -> passage text."""
        return {int(n): text for n, text in _PASSAGE.findall(self.last_user())}


TextSource = str | Callable[[RecordedRequest], str]


class Hold:
    """A point where a scripted reply stops until the test releases it.

    A timed hang only makes it likely that a model call is still running when the test sends
    its next request; on a busy machine the sleep can end first. A hold makes it certain: the
    test waits for `wait_reached()` (a request got there), acts while the call is stuck, then
    calls `release()`. Every reply scripted with the same hold waits at it; once released it
    stays open. The fake releases its holds when it stops, so no handler thread is left behind.
    """

    def __init__(self) -> None:
        self._reached = threading.Event()
        self._released = threading.Event()

    def wait_reached(self, timeout: float = 60.0) -> None:
        """Block until a request is at the hold; the timeout only bounds a failing test."""
        if not self._reached.wait(timeout):
            raise TimeoutError(f"no request reached the hold within {timeout} s")

    def release(self) -> None:
        """Let every request at the hold, and any that arrives later, go on."""
        self._released.set()

    def _arrive_and_wait(self) -> None:
        self._reached.set()
        self._released.wait()


Pause = float | Hold


@dataclass
class Reply:
    """One scripted reply.

    ``text`` may be a function of the request. ``status`` other than 200 returns an OpenAI-style
    error body. ``hang`` waits before answering: that many seconds, or until a :class:`Hold` is
    released (either ends early when the server stops). ``fragment`` is the number of characters
    per streamed chunk; ``fragments`` gives the exact pieces instead (a list, or a function of
    the request). ``stall_after`` streams that many pieces and then stalls for ``stall``
    (seconds or a :class:`Hold`, as ``hang``): a provider that stops mid-answer. ``cut_after``
    streams that many pieces and then closes the connection with no end: a dropped stream.
    ``headers`` go with an error status (``Retry-After`` on a 429).
    """

    text: TextSource = ""
    status: int = 200
    hang: Pause = 0.0
    fragment: int = 7
    fragments: list[str] | Callable[[RecordedRequest], list[str]] | None = None
    stall_after: int | None = None
    stall: Pause = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None

    def render(self, request: RecordedRequest) -> str:
        return self.text(request) if callable(self.text) else self.text


def clean_sentences(passage: str, *, min_words: int = 7, max_words: int = 40) -> list[str]:
    """Plain sentences of a passage that any sentence splitter agrees on.

    No brackets, quotes, abbreviations or headings, so the sentence can be echoed with a [n]
    marker and still be a verbatim substring of the passage.
    """
    out = []
    for line in passage.splitlines():
        for piece in _SENTENCE_END.split(line.strip()):
            piece = piece.strip()
            words = piece.split()
            if not (min_words <= len(words) <= max_words):
                continue
            if not _CLEAN_SENTENCE.match(piece):
                continue
            # Single letters and common abbreviations confuse sentence splitters.
            if re.search(r"\b(?![aAI]\b)[A-Za-z]\b|\b(?:al|vs|etc|Dr|Fig|No)\b", piece):
                continue
            out.append(piece)
    return out


def cite(sentence: str, n: int | list[int] | tuple[int, ...]) -> str:
    """Put a [n] marker before the sentence's full stop, as the prompt asks."""
    markers = "".join(f"[{m}]" for m in (n if isinstance(n, list | tuple) else [n]))
    return f"{sentence[:-1]} {markers}{sentence[-1]}"


def well_cited(request: RecordedRequest, count: int = 3) -> list[tuple[int, str]]:
    """Up to `count` (n, sentence) pairs, each a verbatim sentence of passage n."""
    chosen: list[tuple[int, str]] = []
    for n, text in sorted(request.passages().items()):
        sentences = clean_sentences(text)
        if sentences:
            chosen.append((n, sentences[0]))
        if len(chosen) == count:
            break
    return chosen


def well_cited_text(request: RecordedRequest, count: int = 3) -> str:
    return " ".join(cite(s, n) for n, s in well_cited(request, count))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request"}})
            return
        request = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        fake = self.server.fake
        reply = fake._next_reply(request)
        fake._record(request)
        if reply.hang and fake._pause(reply.hang):
            return
        if reply.status != 200:
            self._json(
                reply.status,
                {
                    "error": {
                        "message": f"scripted error {reply.status}",
                        "type": "rate_limit_error" if reply.status == 429 else "server_error",
                        "code": str(reply.status),
                    }
                },
                reply.headers,
            )
            return
        text = reply.render(request)
        if request.stream:
            self._stream(request, reply, text)
        else:
            self._json(200, _completion(request.model, text))

    def _json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, request: RecordedRequest, reply: Reply, text: str) -> None:
        pieces = reply.fragments(request) if callable(reply.fragments) else reply.fragments
        if pieces is None:
            size = max(1, reply.fragment)
            pieces = [text[i : i + size] for i in range(0, len(text), size)]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk_id = f"chatcmpl-fake-{int(time.time() * 1000)}"
        try:
            self._event(_chunk(chunk_id, request.model, {"role": "assistant", "content": ""}))
            for i in range(len(pieces) + 1):
                # Stalling at len(pieces) means: all text sent, but the stream never finishes.
                if i == reply.stall_after and self.server.fake._pause(reply.stall):
                    return
                if i == reply.cut_after:
                    # Half an event, then the connection closes (Connection: close).
                    self.wfile.write(b'data: {"id": "' + chunk_id.encode() + b'", "choi')
                    self.wfile.flush()
                    return
                if i < len(pieces):
                    self._event(_chunk(chunk_id, request.model, {"content": pieces[i]}))
            self._event(_chunk(chunk_id, request.model, {}, "stop"))
            if (request.body.get("stream_options") or {}).get("include_usage"):
                # As OpenAI does: a last chunk with no choices and the whole call's usage.
                usage = {
                    "prompt_tokens": 10,
                    "completion_tokens": len(pieces),
                    "total_tokens": 10 + len(pieces),
                }
                self._event({**_chunk(chunk_id, request.model, {}), "choices": [], "usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _event(self, body: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
        self.wfile.flush()


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def _chunk(
    chunk_id: str, model: str, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


class FakeOpenAI:
    """The fake provider; use as a context manager. ``url`` has no trailing ``/v1``."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(status=500)
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str | None, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._holds: list[Hold] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # Bound to an IPv4 loopback address, so the address is a (host, port) pair of str, int.
        self._address = (str(self._server.server_address[0]), int(self._server.server_address[1]))
        self.url = f"http://{self._address[0]}:{self._address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def settings_for(self, base: Settings, **overrides: Any) -> Settings:
        """`base` with the LLM composer pointed at this server (litellm's OpenAI path)."""
        update: dict[str, Any] = {
            "model": "openai/fake-model",
            "api_base": f"{self.url}/v1",
            "api_key": SecretStr("test-key"),
            "llm_retries": 0,
            # One test's scripted failures must not open the circuit for the next test; the
            # breaker's own tests set this.
            "breaker_failures": 1000,
            **overrides,
        }
        return base.model_copy(update=update)

    # ---- scripting ------------------------------------------------------------------------

    def script(self, *replies: Reply, model: str | None = None) -> None:
        """Queue replies, for one model name (as the provider sees it) or for any model."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(replies)

    def reset(self, default: Reply | None = None) -> None:
        with self._lock:
            self._queues.clear()
            self.requests.clear()
            self.default = default or Reply(status=500)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            for key in (request.model, None):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
            return self.default

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def models_called(self) -> list[str]:
        with self._lock:
            return [r.model for r in self.requests]

    def _pause(self, pause: Pause) -> bool:
        """Wait out a hang or stall; True when the server is stopping (the reply is dropped)."""
        if not isinstance(pause, Hold):
            return self._stopping.wait(pause)
        with self._lock:
            self._holds.append(pause)
        # Checked after registering: either __exit__ saw this hold and releases it, or it had
        # already set _stopping, which is seen here.
        if not self._stopping.is_set():
            pause._arrive_and_wait()
        return self._stopping.is_set()

    # ---- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        with socket.create_connection(self._address, timeout=5):
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with self._lock:
            for hold in self._holds:
                hold.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
