"""The one way tests and benchmarks build Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.settings import Settings


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings isolated from the developer's `.env`: embedded Chroma in data_dir, no LLM.

    A developer's `.env` or environment may name a model, a Chroma server or Langfuse keys; a test
    or benchmark that picked them up would call a real provider, write into a real index or send
    traces to a real Langfuse, so all are pinned here and
    only an explicit override brings them back. `index_refresh_seconds=0` lets a reader see a
    new index generation at once instead of up to two seconds later.
    """
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "chroma_host": None,
        "model": None,
        "index_refresh_seconds": 0.0,
        # A developer's FIBRO_DATABASE_URL must not receive test answers and feedback.
        "database_url": None,
        # A developer's LANGFUSE_* variables must not send test runs to a real Langfuse.
        "langfuse_host": None,
        "langfuse_public_key": None,
        "langfuse_secret_key": None,
        # Tests ask many questions from 127.0.0.1; the ones about rate limits set their own.
        "rate_per_minute": 0,
        "session_rate_per_minute": 0,
        # A developer's FIBRO_REDIS_URL or FIBRO_API_KEYS must not reach into tests either.
        "redis_url": None,
        "api_keys": [],
        "trusted_proxies": [],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
