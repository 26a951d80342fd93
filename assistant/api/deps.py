"""What routes depend on, injected with `Depends`: the pipeline, the settings, the gate, the lane.

Routes never reach into `app.state` themselves, so a test or another surface can build the app
with its own pipeline and settings. All are `async def`: FastAPI runs a plain `def` dependency
in the shared thread pool, and under load a request would wait there for a token just to read
`app.state`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from assistant.api.gate import AnswerGate
from assistant.api.lane import FastLane
from assistant.pipeline import Pipeline
from assistant.settings import Settings


async def get_pipeline(request: Request) -> Pipeline:
    """The process's pipeline; a 503 while it is still loading."""
    pipe: Pipeline | None = getattr(request.app.state, "pipeline", None)
    if pipe is None:
        raise HTTPException(503, "the service is still loading; retry shortly")
    return pipe


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_gate(request: Request) -> AnswerGate:
    """The gate shared by every answering route of this app."""
    gate: AnswerGate = request.app.state.gate
    return gate


async def get_lane(request: Request) -> FastLane:
    """Thread tokens for triage and fixed replies, apart from answers (lane.py)."""
    lane: FastLane = request.app.state.lane
    return lane


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
GateDep = Annotated[AnswerGate, Depends(get_gate)]
LaneDep = Annotated[FastLane, Depends(get_lane)]
