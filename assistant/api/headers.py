"""What every response says about itself, and what the access log keeps.

- `X-Content-Type-Options: nosniff`: a browser never runs a JSON answer or a passage as script.
- `Referrer-Policy: no-referrer`: a citation's link opens PubMed or a journal without telling it
  that the reader came from a fibromyalgia assistant. Patients' health questions are private;
  nothing here needs the referrer (strict-origin-when-cross-origin would still leak our host).
- A frame policy, `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no site may frame
  the demo page or the docs (clickjacking). The widget is unaffected: it is a custom element a
  host page adds by script, never a frame. Only `frame-ancestors` is set in the CSP, so the demo
  page and Swagger UI load as before.
- `Cache-Control: no-store` on answers and feedback: a shared cache or the browser's disk must
  not keep someone's health question or its answer.
- No `Server` banner (`fibro serve` runs uvicorn with `server_header=False`), and the access log
  drops query strings (`StripQuery`): a token or a question in a URL must not land in logs.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]
CSP = b"content-security-policy"
NO_STORE_PREFIXES = ("/v1/answer", "/v1/chat/completions", "/v1/feedback")


class SecurityHeaders:
    """Pure ASGI, so streamed answers (Server-Sent Events) pass through unbuffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith(NO_STORE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": _with_headers(message.get("headers", []), no_store),
                }
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with_headers(headers: list[tuple[bytes, bytes]], no_store: bool) -> list[tuple[bytes, bytes]]:
    """The response's headers plus ours. A route's own CSP (widget.js has a strict one) is kept,
    with `frame-ancestors` added when it has none; ours replace the other same-named ones."""
    csp = [v for k, v in headers if k.lower() == CSP]
    drop = {name for name, _ in ALWAYS} | ({b"cache-control"} if no_store else set())
    out = [(k, v) for k, v in headers if k.lower() not in drop]
    for name, value in ALWAYS:
        if name == CSP and csp:
            value = csp[0] if b"frame-ancestors" in csp[0] else csp[0] + b"; " + value
        out.append((name, value))
    if no_store:
        out.append((b"cache-control", b"no-store"))
    return out


class StripQuery(logging.Filter):
    """Cuts the query string from uvicorn's access log lines (the path stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access logs (client, method, path with query, http version, status).
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def install_headers(app: FastAPI) -> None:
    """Add the headers middleware and the access-log filter (once per process)."""
    app.add_middleware(SecurityHeaders)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, StripQuery) for f in access.filters):
        access.addFilter(StripQuery())
