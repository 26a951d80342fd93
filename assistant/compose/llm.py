"""The LLM composer: any litellm model string, with timeouts, retries and fallback models."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from assistant.compose.prompt import build_messages
from assistant.errors import ComposerError
from assistant.models import Turn
from assistant.observe import LLMCall
from assistant.retrieve import Passage
from assistant.settings import Settings, quiet_third_parties

log = logging.getLogger("fibro.compose")


def _litellm() -> Any:
    quiet_third_parties()
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


class LLMComposer:
    """Asks the configured model, then each fallback model, until one answers."""

    def __init__(self, settings: Settings) -> None:
        if not settings.model:
            raise ValueError("LLMComposer needs settings.model (FIBRO_MODEL)")
        self.settings = settings
        self.models = [settings.model, *settings.fallback_models]
        self.used_model: str | None = None
        # Every call made, with what it was asked and answered, for observers (tracing).
        self.calls: list[LLMCall] = []

    def _kwargs(self, model: str) -> dict[str, Any]:
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": model,
            "temperature": s.llm_temperature,
            "max_tokens": s.llm_max_tokens,
            "timeout": s.llm_timeout_seconds,
            "num_retries": s.llm_retries,
        }
        if s.api_base:
            kwargs["api_base"] = s.api_base
        if s.api_key:
            kwargs["api_key"] = s.api_key.get_secret_value()
        return kwargs

    def stream(
        self, question: str, passages: Sequence[Passage], history: Sequence[Turn]
    ) -> Iterator[str]:
        """Text fragments from the first model that starts streaming.

        A model that fails before its first fragment is skipped for the next; one that fails
        mid-stream raises ComposerError, and the pipeline falls back to extractive.
        """
        litellm = _litellm()
        messages = build_messages(question, passages, history)
        errors = []
        for model in self.models:
            call = LLMCall(model, messages, start=time.time())
            self.calls.append(call)
            try:
                stream = litellm.completion(
                    messages=messages,
                    stream=True,
                    # The provider's token counts arrive in a last chunk (for tracing).
                    stream_options={"include_usage": True},
                    **self._kwargs(model),
                )
                iterator = iter(stream)
                first = next(iterator, None)
            except Exception as exc:
                log.warning("model %s failed: %s", model, _short(exc))
                errors.append(f"{model}: {_short(exc)}")
                call.error, call.end = _short(exc), time.time()
                continue
            self.used_model = model
            try:
                for part in itertools.chain([first] if first is not None else [], iterator):
                    call.usage = _usage(part) or call.usage
                    text = _delta(part)
                    call.output += text
                    yield text
            except Exception as exc:
                call.error = _short(exc)
                raise ComposerError(f"{model} failed mid-stream: {_short(exc)}") from exc
            finally:
                call.end = time.time()
                call.cost = _cost(litellm, model, call.usage)
            return
        raise ComposerError("; ".join(errors) or "no model configured")


def _delta(part: Any) -> str:
    try:
        return part.choices[0].delta.content or ""
    except (AttributeError, IndexError):
        return ""


def _usage(part: Any) -> dict[str, int] | None:
    """The token counts a chunk carries (the last one, when the provider reports usage)."""
    usage = getattr(part, "usage", None)
    if usage is None:
        return None
    counts = {
        name: getattr(usage, name, None)
        for name in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    return {k: v for k, v in counts.items() if isinstance(v, int)} or None


def _cost(litellm: Any, model: str, usage: dict[str, int] | None) -> float | None:
    """The call's price in USD from litellm's price list; None for a model it does not know."""
    if not usage:
        return None
    try:
        prompt, completion = litellm.cost_per_token(
            model=model,
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
        )
    except Exception:  # unknown model (a local or self-hosted one): no price to report
        return None
    return float(prompt + completion)


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
