"""The patient chat widget's files: `/widget.js`, and a demo page at `/` that embeds it.

The widget is hand-written static JavaScript in `assistant/widget/` (no build step), shipped as
package data, so `pip install` alone serves it. The demo page is sent with a strict
Content-Security-Policy: it proves on every run of the browser tests that the widget needs no
inline script, inline style or eval, which is what a host page with a CSP will demand.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["widget"], include_in_schema=False)

WIDGET_DIR = Path(__file__).resolve().parent.parent.parent / "widget"

# What the demo page allows; a host page needs at least script-src and connect-src for HOST.
DEMO_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_CACHE = "public, max-age=300"


@lru_cache(maxsize=8)
def _read(name: str) -> bytes:
    """A file of the widget folder, read once per process (they only change with a release)."""
    return (WIDGET_DIR / name).read_bytes()


@router.get("/widget.js")
def widget_js() -> Response:
    """The embeddable script. Cross-origin-resource-policy lets isolated hosts (COEP) load it."""
    return Response(
        _read("widget.js"),
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": _CACHE,
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


@router.get("/widget/demo.css")
def demo_css() -> Response:
    """The demo page's own stylesheet (the widget brings its styles inside its Shadow DOM)."""
    return Response(
        _read("demo.css"),
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": _CACHE, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/")
def demo_page() -> Response:
    """What a newcomer sees after `make serve`: a page with the widget, under a strict CSP."""
    return Response(
        _read("demo.html"),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": DEMO_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )
