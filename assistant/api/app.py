"""The FastAPI application: the routers, the shared state they depend on, the error handlers.

Every route is a thin adapter over `Pipeline`; each surface's routes are a module of
`assistant.api.routes`.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from assistant import tracing
from assistant.api.auth import install_api_keys
from assistant.api.bodylimit import install_limits
from assistant.api.errors import install_error_handlers
from assistant.api.gate import AnswerGate
from assistant.api.headers import install_headers
from assistant.api.lane import FastLane
from assistant.api.origins import install_cors
from assistant.api.ratelimit import RateLimits
from assistant.api.routes import answers, feedback, metrics, openai, sources, status, widget
from assistant.metrics import MetricsMiddleware
from assistant.observe import feedback_hooks_for
from assistant.pipeline import Pipeline
from assistant.settings import Settings, get_settings
from assistant.slack import http as slack

# See the lifespan below.
GIL_SWITCH_SECONDS = 0.001


def create_app(settings: Settings | None = None, pipeline: Pipeline | None = None) -> FastAPI:
    """Build the app; the pipeline (model and index) loads at start-up unless one is given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _configure_logging(settings)
        # Answers are CPU-bound Python threads; the event loop and triage wait for the GIL
        # behind them. A shorter switch interval than CPython's 5 ms hands it over sooner, so a
        # crisis reply or a health check is not held up by each answer's time slice.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        if getattr(app.state, "pipeline", None) is None:
            app.state.pipeline = Pipeline.from_settings(settings)
        # Warm the sentence cache off the event loop; requests are served meanwhile.
        threading.Thread(target=app.state.pipeline.warm, name="warm", daemon=True).start()
        yield
        # Send the traces still queued (bounded: an unreachable Langfuse cannot hold shutdown).
        await anyio.to_thread.run_sync(tracing.close)

    app = FastAPI(
        title="Fibromyalgia research assistant",
        version="0.1.0",
        description=(
            "Grounded answers about fibromyalgia and the 2021 antibody-transfer study, with a "
            "citation for every claim. General information, not medical advice."
        ),
        lifespan=lifespan,
    )
    app.state.pipeline = pipeline
    app.state.settings = settings
    app.state.gate = AnswerGate.from_settings(settings)  # slots, queue places, wait
    app.state.lane = FastLane()  # triage and fixed replies never wait behind answers
    app.state.rate_limits = RateLimits(settings)  # a bad FIBRO_TRUSTED_PROXIES fails here
    app.state.feedback_hooks = feedback_hooks_for(settings)
    install_error_handlers(app)
    install_limits(app, settings)  # FIBRO_MAX_BODY_BYTES, FIBRO_MAX_QUESTION_CHARS: 413s
    app.add_middleware(MetricsMiddleware)  # request counts and latency for /metrics
    install_api_keys(app, settings)  # FIBRO_API_KEYS: a 401 before any route runs
    install_headers(app)  # nosniff, referrer, frame policy, no-store on answers
    install_cors(app, settings)  # FIBRO_WIDGET_ORIGINS; outermost, so errors carry CORS headers
    for module in (status, answers, openai, sources, metrics, feedback, widget, slack):
        app.include_router(module.router)
    return app


def _configure_logging(settings: Settings) -> None:
    """Structured JSON lines on stderr for the trace logger; the seam where tracing plugs in."""
    logger = logging.getLogger("fibro")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())
