"""Optional API keys: a deployment can keep its staff endpoints for its own staff and tools.

With `FIBRO_API_KEYS` set, `/v1/answer`, `/v1/answer/stream`, `/v1/chat/completions`,
`/v1/models`, `/v1/sources*`, `/v1/chunks/*` and the docs (`/docs`, `/redoc`, `/openapi.json`)
need `Authorization: Bearer KEY`; anything else is a 401 with `WWW-Authenticate: Bearer`.

The patient widget cannot hold a secret (its code is public), so widget traffic stays open on the
widget's own endpoint, `/v1/answer/stream`: a request whose `Origin` is this service's or one of
`FIBRO_WIDGET_ORIGINS` (`assistant/api/origins.py`). That is not a secret either (any script can
send an Origin header), which is why every keyless question is rate-limited. Untouched here:
`/v1/feedback`, the widget's assets and `/`, `/healthz`, `/readyz`, `/metrics`, and
`/slack/events` (Slack signs its requests). No keys: everything is open.

A middleware rather than a dependency on each router, so FastAPI's own docs routes are covered
by the same rule. A request with a valid key is marked (`request.state.api_key`), so the rate
limits leave staff tools alone.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.api.errors import error_body
from assistant.api.origins import origin_allowed
from assistant.settings import Settings

PROTECTED_EXACT = frozenset(
    {
        "/v1/answer",
        "/v1/answer/stream",
        "/v1/chat/completions",
        "/v1/models",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    }
)
PROTECTED_PREFIXES = ("/v1/sources", "/v1/chunks/")
WIDGET_PATHS = frozenset({"/v1/answer/stream"})
MESSAGE = "this endpoint needs an API key: send the header 'Authorization: Bearer <key>'"


def protected(path: str) -> bool:
    """Whether `path` is one of the endpoints a key guards."""
    return path in PROTECTED_EXACT or path.startswith(PROTECTED_PREFIXES)


def key_matches(header: str, keys: list[bytes]) -> bool:
    """A `Bearer` header carrying one of `keys`, each compared in constant time."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    given = token.strip().encode()
    # Every key is compared, so the time taken does not say which key came close.
    return any([hmac.compare_digest(given, key) for key in keys])


class ApiKeyMiddleware:
    """Pure ASGI: refuses keyless requests to the protected paths before any route runs."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.keys = [k.get_secret_value().encode() for k in settings.api_keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            # A CORS preflight carries no credentials by design.
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = scope["path"]
        if key_matches(request.headers.get("authorization", ""), self.keys):
            scope.setdefault("state", {})["api_key"] = True
        elif protected(path) and not self._widget(request, path):
            response = JSONResponse(
                error_body("unauthorized", MESSAGE),
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _widget(self, request: Request, path: str) -> bool:
        return (
            path in WIDGET_PATHS
            and "origin" in request.headers
            and origin_allowed(request, self.settings)
        )


def install_api_keys(app: FastAPI, settings: Settings) -> None:
    """Add the key check when `FIBRO_API_KEYS` names any key; otherwise nothing changes."""
    if settings.api_keys:
        app.add_middleware(ApiKeyMiddleware, settings=settings)
