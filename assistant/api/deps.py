"""What routes depend on, injected with `Depends`: the pipeline, the settings, the gate.

Routes never reach into `app.state` themselves, so a test or another surface can build the app
with its own pipeline and settings.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from assistant.api.gate import AnswerGate
from assistant.pipeline import Pipeline
from assistant.settings import Settings


def get_pipeline(request: Request) -> Pipeline:
    """The process's pipeline; a 503 while it is still loading."""
    pipe: Pipeline | None = getattr(request.app.state, "pipeline", None)
    if pipe is None:
        raise HTTPException(503, "the service is still loading; retry shortly")
    return pipe


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_gate(request: Request) -> AnswerGate:
    """The gate shared by every answering route of this app."""
    gate: AnswerGate = request.app.state.gate
    return gate


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
GateDep = Annotated[AnswerGate, Depends(get_gate)]
