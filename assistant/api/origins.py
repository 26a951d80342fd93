"""Who may call the answer endpoints from a browser, and how often: the widget's server-side guard.

CORS only tells a browser whether a page may *read* a response; the server still runs the
request. A page on any site could make visitors' browsers post questions here (spending our
answer slots) if only CORS stood in the way, so the `Origin` header is checked here as well:

- no `Origin` header (curl, API clients, server-to-server): unaffected;
- `Origin` equal to this service's own (the demo page at `/`, `/docs`): allowed;
- `Origin` listed in `FIBRO_WIDGET_ORIGINS`: allowed;
- anything else, including `null` (sandboxed frames, `file:` pages): 403 with the error JSON.

Widget traffic is recognised by the `Origin` header (browsers send it on every POST, so no page
can leave it out) or by the `X-Fibro-Channel: widget` header the widget sends. Its questions are
rate-limited like everyone's (`assistant/api/ratelimit.py`: per address and per session).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request
from starlette.middleware.cors import CORSMiddleware

from assistant.api.deps import SettingsDep
from assistant.settings import Settings

CHANNEL_HEADER = "x-fibro-channel"
WIDGET_CHANNEL = "widget"
REFUSED_MESSAGE = "requests from this web page's origin are not allowed"


def is_same_origin(request: Request, origin: str) -> bool:
    """Whether `origin` names this service: its host and port equal the request's `Host`.

    The scheme is not compared: behind a TLS-terminating proxy the app sees `http` while the
    page is `https`, and only a page served from this host can send this host as its Origin.
    """
    host = request.headers.get("host", "").strip().lower()
    if not host:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    netloc = parts.netloc.lower()
    default = ":443" if parts.scheme == "https" else ":80"
    return netloc == host or netloc + default == host or netloc == host.removesuffix(default)


def origin_allowed(request: Request, settings: Settings) -> bool:
    """True when the request has no Origin, or one that is this service's or configured."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/")
    return origin in settings.widget_origins or is_same_origin(request, origin)


async def check_origin(request: Request, settings: SettingsDep) -> None:
    """Dependency of the answer routes: a 403 for a browser page on a disallowed origin."""
    if not origin_allowed(request, settings):
        raise HTTPException(403, REFUSED_MESSAGE)


def is_widget(request: Request) -> bool:
    """Browser traffic (an `Origin` header) or a request that says it comes from the widget."""
    return (
        "origin" in request.headers
        or request.headers.get(CHANNEL_HEADER, "").strip().lower() == WIDGET_CHANNEL
    )


def channel_of(request: Request, default: str) -> str:
    """The observers' channel name: `widget` when the widget says so, else `default`."""
    if request.headers.get(CHANNEL_HEADER, "").strip().lower() == WIDGET_CHANNEL:
        return WIDGET_CHANNEL
    return default


def install_cors(app: FastAPI, settings: Settings) -> None:
    """CORS for the configured widget origins, so their pages may read answers and post ratings.

    Added last, so it is the outermost middleware and its headers are on error responses too
    (a 429's `Retry-After` must be readable by the widget). The headers allowed are the ones the
    widget sends; no credentials (cookies) are ever needed.
    """
    if not settings.widget_origins:
        return  # same-origin only: a browser needs no CORS for the demo page
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.widget_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["content-type", "x-client-id", CHANNEL_HEADER],
        expose_headers=["retry-after"],
        max_age=600,
    )
