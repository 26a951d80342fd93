"""The one way tests and benchmarks build Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.settings import Settings


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings isolated from the developer's `.env`: embedded Chroma in data_dir, no LLM.

    A developer's `.env` may name a model or a Chroma server; a test or benchmark that picked
    them up would call a real provider or write into a real index, so both are pinned here and
    only an explicit override brings them back. `index_refresh_seconds=0` lets a reader see a
    new index generation at once instead of up to two seconds later.
    """
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "chroma_host": None,
        "model": None,
        "index_refresh_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
