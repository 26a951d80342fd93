"""`/healthz` (the process is up) and `/readyz` (the pipeline can answer)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from assistant.pipeline import Pipeline

router = APIRouter(tags=["status"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    # Async, so it runs on the event loop and never waits for a thread behind queued answers.
    return {"status": "ok"}


@router.get("/readyz", summary="Index and embedding model are loaded")
def readyz(request: Request) -> JSONResponse:
    """200 when the pipeline has passages to answer from, 503 (with the reason) otherwise."""
    pipe: Pipeline | None = getattr(request.app.state, "pipeline", None)
    if pipe is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    status = pipe.status()
    return JSONResponse(
        status.model_dump(exclude_none=True), status_code=200 if status.status == "ready" else 503
    )
