"""`/v1/chunks/{id}`: the passage a citation points at, so a reader can check it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from assistant.api.deps import PipelineDep
from assistant.api.responses import CHUNK_ERRORS
from assistant.models import ChunkView

router = APIRouter(tags=["sources"])


@router.get(
    "/v1/chunks/{chunk_id}",
    response_model=ChunkView,
    summary="One indexed passage",
    responses=CHUNK_ERRORS,
)
def chunk(chunk_id: str, pipe: PipelineDep) -> ChunkView:
    found = pipe.get_chunk(chunk_id)
    if found is None:
        raise HTTPException(404, f"no chunk {chunk_id!r} in the index")
    return found
