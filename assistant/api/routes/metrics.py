"""`/metrics`: counters and histograms in the Prometheus text format (`assistant.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from assistant.metrics import exposition

router = APIRouter(tags=["status"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    """Every worker's values in multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`), else this one's.

    A plain function: FastAPI runs it in the thread pool, so reading the multiprocess files
    never blocks the event loop.
    """
    body, content_type = exposition()
    return Response(body, media_type=content_type)
