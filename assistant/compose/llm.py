"""The LLM composer: any litellm model string, with one deadline, retries and fallback models.

The whole model path of one answer (every attempt, retry and fallback model, and the wait a
429's `Retry-After` asks for) fits in `llm_timeout_seconds`, so a hanging provider costs one
timeout, not one per attempt. Until its first fragment an attempt may use its share of the time
left (that time over the attempts still possible), so a hang leaves the fallback models a
chance; an attempt that streams may use all the time left. litellm's own retries are
off (`num_retries=0`, `max_retries=0`), so no call is repeated behind our back. A circuit breaker
(`assistant.breaker`) skips the model for a while after repeated failures.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

from assistant.breaker import CircuitBreaker
from assistant.compose.prompt import build_messages
from assistant.errors import ComposerError
from assistant.models import Turn
from assistant.observe import LLMCall
from assistant.retrieve import Passage
from assistant.settings import Settings, quiet_third_parties

log = logging.getLogger("fibro.compose")

BREAKER_OPEN = "breaker_open"
"""`LLMComposer.skipped` when the open circuit kept this answer from calling the model."""


def _litellm() -> Any:
    quiet_third_parties()
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def warm_litellm(settings: Settings) -> None:
    """Import litellm and run one mocked streaming call through it (no network).

    Both are slow the first time (imports inside litellm and the provider SDK: seconds, tens of
    seconds on a busy machine); done at start-up, the first answer does not pay them out of
    its model deadline.
    """
    litellm = _litellm()
    try:
        for _ in litellm.completion(
            model=settings.model,
            messages=[{"role": "user", "content": "warm-up"}],
            mock_response="ok",
            stream=True,
            stream_options={"include_usage": True},
        ):
            pass
    except Exception as exc:  # a model string litellm cannot mock: the import is still done
        log.info("litellm warm-up call skipped: %s", _short(exc))


class _DeadlineExceeded(Exception):
    """The answer's model deadline passed while waiting for the provider."""


class LLMComposer:
    """Asks the configured model, then each fallback model, until one answers in time."""

    def __init__(
        self,
        settings: Settings,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.model:
            raise ValueError("LLMComposer needs settings.model (FIBRO_MODEL)")
        self.settings = settings
        self.models = [settings.model, *settings.fallback_models]
        self.breaker = breaker
        self.used_model: str | None = None
        # Why the model was not asked at all (BREAKER_OPEN), for the run record.
        self.skipped: str | None = None
        # Every call made, with what it was asked and answered, for observers (tracing).
        self.calls: list[LLMCall] = []
        self._clock = clock

    def _kwargs(self, model: str, timeout: float) -> dict[str, Any]:
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": model,
            "temperature": s.llm_temperature,
            "max_tokens": s.llm_max_tokens,
            "timeout": timeout,
            # Retries are ours (stream()), within the answer's deadline.
            "num_retries": 0,
            "max_retries": 0,
        }
        if s.api_base:
            kwargs["api_base"] = s.api_base
        if s.api_key:
            kwargs["api_key"] = s.api_key.get_secret_value()
        return kwargs

    def stream(
        self, question: str, passages: Sequence[Passage], history: Sequence[Turn]
    ) -> Iterator[str]:
        """Text fragments from the first model that starts streaming, within one deadline.

        A model that fails before its first fragment is retried (`llm_retries`) and then
        skipped for the next; one that fails mid-stream, or a deadline that passes, raises
        ComposerError, and the pipeline falls back to extractive. The breaker hears of the
        outcome; while it is open this raises at once without calling anything.
        """
        if self.breaker is not None and not self.breaker.allow():
            self.skipped = BREAKER_OPEN
            raise ComposerError(
                "the model is skipped after repeated failures; it is tried again after "
                f"{self.breaker.cooldown:g} s (FIBRO_BREAKER_COOLDOWN_SECONDS)"
            )
        try:
            yield from self._stream(question, passages, history)
        except ComposerError:
            if self.breaker is not None:
                self.breaker.failure()
            raise
        if self.breaker is not None:
            self.breaker.success()

    def _stream(
        self, question: str, passages: Sequence[Passage], history: Sequence[Turn]
    ) -> Iterator[str]:
        litellm = _litellm()
        messages = build_messages(question, passages, history)
        deadline = self._clock() + self.settings.llm_timeout_seconds
        errors: list[str] = []
        per_model = 1 + self.settings.llm_retries
        for position, model in enumerate(self.models):
            for attempt in range(per_model):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise ComposerError(_out_of_time(self.settings, errors))
                # Until its first fragment an attempt gets its share of the time left, so a
                # hanging model leaves time for the retries and fallback models after it; once
                # it streams, it may use all that is left.
                left = (len(self.models) - position) * per_model - attempt
                share = remaining / left
                call = LLMCall(model, messages, start=time.time())
                self.calls.append(call)
                pump = _Pump(
                    partial(
                        litellm.completion,
                        messages=messages,
                        stream=True,
                        # The provider's token counts arrive in a last chunk (for tracing).
                        stream_options={"include_usage": True},
                        **self._kwargs(model, remaining),
                    )
                )
                try:
                    first = pump.next(share)
                except _DeadlineExceeded:
                    pump.abandon()
                    call.error, call.end = f"no reply within {share:.1f} s", time.time()
                    log.warning("model %s: no reply within %.1f s", model, share)
                    errors.append(f"{model}: no reply within {share:.1f} s")
                    continue
                except Exception as exc:
                    log.warning("model %s failed: %s", model, _short(exc))
                    errors.append(f"{model}: {_short(exc)}")
                    call.error, call.end = _short(exc), time.time()
                    wait = retry_after(exc)
                    if _status(exc) == 429 and (
                        wait is None or attempt == self.settings.llm_retries
                    ):
                        break  # rate-limited with nothing to wait for: the next model
                    if wait is not None:
                        if wait >= deadline - self._clock():
                            break  # the wait asked for does not fit: the next model
                        time.sleep(wait)
                    continue
                self.used_model = model
                try:
                    for part in _parts(first, pump, deadline, self._clock):
                        call.usage = _usage(part) or call.usage
                        text = _delta(part)
                        call.output += text
                        yield text
                except _DeadlineExceeded:
                    pump.abandon()
                    call.error = "deadline exceeded mid-stream"
                    raise ComposerError(
                        f"{model} did not finish within FIBRO_LLM_TIMEOUT_SECONDS "
                        f"({self.settings.llm_timeout_seconds:g} s)"
                    ) from None
                except Exception as exc:
                    call.error = _short(exc)
                    raise ComposerError(f"{model} failed mid-stream: {_short(exc)}") from exc
                finally:
                    pump.abandon()  # a no-op when the stream ended; stops it when we stop
                    call.end = time.time()
                    call.cost = _cost(litellm, model, call.usage)
                return
        raise ComposerError("; ".join(errors) or "no model configured")


_END = object()


class _Pump:
    """Runs one streaming call in a thread of its own, so the reader can stop waiting.

    A provider that hangs mid-stream blocks a socket read for as long as its timeout; reading
    through a queue lets the answer give up exactly at its deadline. The thread is left to end
    when that read times out (bounded by the timeout the call was given).
    """

    def __init__(self, start: Callable[[], Any]) -> None:
        self._items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(start,), daemon=True)
        self._thread.start()

    def _run(self, start: Callable[[], Any]) -> None:
        try:
            for part in start():
                if self._stop.is_set():
                    return
                self._items.put(("part", part))
            self._items.put(("end", _END))
        except Exception as exc:  # handed to the reader, which decides what it means
            self._items.put(("error", exc))

    def next(self, timeout: float) -> Any:
        """The next chunk, `_END` after the last; the provider's exception; or a deadline."""
        try:
            # What the provider has already sent counts as in time, however long our own
            # verification of the earlier sentences took.
            kind, value = self._items.get_nowait()
        except queue.Empty:
            try:
                kind, value = self._items.get(timeout=max(0.0, timeout))
            except queue.Empty:
                raise _DeadlineExceeded from None
        if kind == "error":
            raise value
        return value

    def abandon(self) -> None:
        self._stop.set()


def _parts(first: Any, pump: _Pump, deadline: float, clock: Callable[[], float]) -> Iterator[Any]:
    part = first
    while part is not _END:
        yield part
        part = pump.next(deadline - clock())


def _out_of_time(settings: Settings, errors: list[str]) -> str:
    tried = f" after: {'; '.join(errors)}" if errors else ""
    return (
        f"no model answered within FIBRO_LLM_TIMEOUT_SECONDS "
        f"({settings.llm_timeout_seconds:g} s){tried}"
    )


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def retry_after(exc: Exception) -> float | None:
    """Seconds a provider's error asks us to wait (`Retry-After`), None when it asks nothing."""
    headers: dict[str, str] = {}
    for source in (
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
    ):
        try:
            headers.update({str(k).lower(): str(v) for k, v in dict(source or {}).items()})
        except (TypeError, ValueError):
            continue
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


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
