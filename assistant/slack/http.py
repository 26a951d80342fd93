"""`POST /slack/events` in the FastAPI app: events, interactivity and `/fibro` over HTTP.

The route exists in every app but answers 404 until `FIBRO_SLACK_BOT_TOKEN` and
`FIBRO_SLACK_SIGNING_SECRET` are set, so a deployment without Slack exposes nothing. The Bolt
app is built on the first request (after start-up, when the pipeline is loaded) and kept on
`app.state.slack`. Bolt's dispatch is blocking (it verifies the signature, then waits for the
listener's ack), so it runs on a worker thread, never on the event loop.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request, Response

router = APIRouter(tags=["slack"])
_build_lock = threading.Lock()


def slack_enabled(settings: Any) -> bool:
    """HTTP mode needs both the bot token and the signing secret."""
    return bool(settings.slack_bot_token and settings.slack_signing_secret)


def _bolt_app(request: Request) -> Any:
    """The app's Bolt app, built once (under a lock: two first requests may race)."""
    state = request.app.state
    app = getattr(state, "slack", None)
    if app is not None:
        return app
    with _build_lock:
        app = getattr(state, "slack", None)
        if app is None:
            from assistant.slack.app import SlackBot, build_app

            bot = SlackBot(
                state.settings,
                state.pipeline,
                state.gate,
                getattr(state, "feedback_hooks", ()),
            )
            app = state.slack = build_app(bot)
    return app


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    if not slack_enabled(request.app.state.settings):
        raise HTTPException(404, "Slack is not configured on this service")
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

    body = await request.body()
    bolt = await anyio.to_thread.run_sync(_bolt_app, request)
    bolt_response = await anyio.to_thread.run_sync(bolt.dispatch, to_bolt_request(request, body))
    return to_starlette_response(bolt_response)
