"""`/healthz` (the process is up) and `/readyz` (the pipeline can answer)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from assistant.api.responses import READY
from assistant.pipeline import Pipeline

router = APIRouter(tags=["status"])

# Longest /readyz waits for the index to say how it is; past that it reports "unavailable".
STATUS_SECONDS = 5.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    # Async, so it runs on the event loop and never waits for a thread behind queued answers.
    return {"status": "ok"}


@router.get("/readyz", summary="Index and embedding model are loaded", responses=READY)
async def readyz(request: Request) -> JSONResponse:
    """200 once warm-up is done and the pipeline has passages to answer from; 503 otherwise.

    "starting" until the warm-up has run (a load balancer that sent traffic earlier would make
    the first users wait for it); "unavailable" names no host, port or folder. Async, and the
    index is asked in a thread of its own, so /readyz never queues behind answers.
    """
    pipe: Pipeline | None = getattr(request.app.state, "pipeline", None)
    if pipe is None or not pipe.warmed.is_set():
        return JSONResponse({"status": "starting"}, status_code=503)
    limiter = getattr(request.app.state, "status_limiter", None)
    if limiter is None:
        # Its own thread token: the shared pool may be full of answers and triage.
        limiter = request.app.state.status_limiter = anyio.CapacityLimiter(1)
    status = None
    with anyio.move_on_after(STATUS_SECONDS):
        status = await anyio.to_thread.run_sync(pipe.status, limiter=limiter)
    if status is None:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse(
        status.model_dump(exclude_none=True), status_code=200 if status.status == "ready" else 503
    )
