"""Tracing of answers to Langfuse: one trace per answer, scored by user feedback.

`observe.observers_for` and `observe.feedback_hooks_for` ask `tracer_for(settings)` for the
process's tracer; without Langfuse keys it returns None and nothing here is imported or run.
The app calls `close()` at shutdown so traces still queued are sent.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.tracing.langfuse import LangfuseTracer

_lock = threading.Lock()
# One tracer per Langfuse public key: the SDK keeps one client (and exporter) per public key for
# the life of the process, and the observer and the feedback hook must share one tracer (the hook
# needs the crisis trace ids the observer saw).
_tracers: dict[str, LangfuseTracer] = {}
log = logging.getLogger("fibro.tracing")


def enabled(settings: Settings) -> bool:
    """Tracing is on only when both Langfuse keys are configured."""
    return bool(settings.langfuse_public_key and settings.langfuse_secret_key)


def tracer_for(settings: Settings) -> LangfuseTracer | None:
    """The shared tracer for these settings, or None when tracing is off (no keys).

    A process has one tracing configuration per public key: settings that name the same key with
    another host or `trace_content` get the first tracer, and a warning.
    """
    if not (settings.langfuse_public_key and settings.langfuse_secret_key):
        return None
    from assistant.tracing.langfuse import DEFAULT_HOST, LangfuseTracer

    host = settings.langfuse_host or DEFAULT_HOST
    with _lock:
        tracer = _tracers.get(settings.langfuse_public_key)
        if tracer is None:
            tracer = LangfuseTracer(
                host=host,
                public_key=settings.langfuse_public_key,
                secret_key=settings.langfuse_secret_key.get_secret_value(),
                trace_content=settings.trace_content,
            )
            _tracers[settings.langfuse_public_key] = tracer
        elif (tracer.host, tracer.trace_content) != (host, settings.trace_content):
            log.warning("tracing: the first Langfuse configuration for this key stays in use")
        return tracer


def flush() -> None:
    """Send everything queued so far, and wait for it (tests, and before a CLI exits)."""
    with _lock:
        tracers = list(_tracers.values())
    for tracer in tracers:
        tracer.flush()


def close() -> None:
    """Flush and stop every tracer; call once when the app shuts down.

    Closed tracers stay registered and drop what they are given: the SDK keeps its shut-down
    client for the key, so a new tracer for it could not export anyway.
    """
    with _lock:
        tracers = list(_tracers.values())
    for tracer in tracers:
        tracer.close()


__all__ = ["close", "enabled", "flush", "tracer_for"]
