"""One Langfuse trace per answer, built after the run from its `RunRecord`.

Why it is built this way:

* **The trace id is the answer's `trace_id`.** Both are 32 lowercase hex digits, so the id a
  user quotes (or the feedback store holds) opens the trace in Langfuse directly, and a
  feedback score lands on it without any lookup.
* **After the run, off the request thread.** The observer only puts the record on a bounded
  queue; a worker thread turns it into spans, and the SDK's OpenTelemetry batch processor
  (itself bounded) exports them in the background. A slow or unreachable Langfuse therefore
  never delays or fails an answer: when the queues are full, traces are dropped and counted.
* **Real timings.** Spans are created after the fact, so they carry the start and end times
  the pipeline measured (`RunRecord.stages`, `LLMCall.start`/`end`). The SDK's
  `start_observation` has no start-time argument, so spans are started on an OpenTelemetry
  tracer of the SDK's own provider (same instrumentation scope as the SDK's, so its export
  filter and project check treat them as its own) and wrapped in the SDK's observation classes,
  which set the Langfuse attributes and apply the mask.
* **Privacy.** Everything handed to the SDK goes through `assistant.privacy.mask` (and the SDK
  masks again with the same function), except the chunk and source ids of our own index, which
  masking would garble. Question, answer, prompt and sentence texts are exported
  only with `FIBRO_TRACE_CONTENT=true`; a crisis or emergency trace never carries any text,
  retrieval, reason or session, only its route, channel and timings, whatever that setting
  says.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.models import Route
from assistant.observe import FeedbackEvent, LLMCall, RunRecord, Stage
from assistant.privacy import mask

if TYPE_CHECKING:
    from langfuse._client.span import LangfuseObservationWrapper
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

log = logging.getLogger("fibro.tracing")

DEFAULT_HOST = "https://cloud.langfuse.com"
TRACE_NAME = "answer"
SCORE_NAME = "user_feedback"
# Routes whose traces never carry text: the message may describe self-harm or an emergency.
PRIVATE_ROUTES = frozenset({Route.crisis, Route.emergency})
# Observation type per pipeline stage (Langfuse shows them with their own icons and filters).
STAGE_TYPES = {
    "triage": "guardrail",
    "retrieve": "retriever",
    "compose": "span",
    "verify": "guardrail",
    "hedge": "span",
}
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_MAX_ID = 200  # Langfuse's limit for session ids, tags and trace names


# Identifiers of our own index: never personal, and masking would break them (a source id
# such as "pmid-33571135" reads as a phone number, a hash may hold a long digit run).
SAFE_KEYS = frozenset({"chunk_id", "source_id"})


def scrub(value: Any) -> Any:
    """`assistant.privacy.mask` on every string in `value`, except our index identifiers."""
    if isinstance(value, dict):
        return {k: v if k in SAFE_KEYS else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(item) for item in value)
    return mask(value)


def _mask(*, data: Any, **_: Any) -> Any:
    """The SDK's mask hook: the same masking as everything else that leaves the process."""
    return scrub(data)


def _ns(seconds: float) -> int:
    """Epoch seconds (as the pipeline records them) to OpenTelemetry's epoch nanoseconds."""
    return int(seconds * 1_000_000_000)


def _ascii_id(value: str | None) -> str | None:
    """A session id as Langfuse accepts it (US-ASCII, at most 200 characters), masked."""
    if not value:
        return None
    cleaned = str(mask(value)).encode("ascii", "ignore").decode()[:_MAX_ID]
    return cleaned or None


@dataclass(frozen=True)
class _StageSpan:
    """A stage as one observation: the pipeline may enter a stage several times (verify runs
    per sentence inside compose), so entries of one name are merged into their envelope."""

    name: str
    start: float
    end: float
    entries: int
    ms: float


def merge_stages(stages: list[Stage]) -> list[_StageSpan]:
    """Stages in first-entered order, each from its first start to its last end."""
    merged: dict[str, _StageSpan] = {}
    for stage in stages:
        spent = max(0.0, stage.end - stage.start) * 1000
        seen = merged.get(stage.name)
        if seen is None:
            merged[stage.name] = _StageSpan(stage.name, stage.start, stage.end, 1, spent)
        else:
            merged[stage.name] = _StageSpan(
                stage.name,
                min(seen.start, stage.start),
                max(seen.end, stage.end),
                seen.entries + 1,
                seen.ms + spent,
            )
    return list(merged.values())


def usage_details(usage: dict[str, int] | None) -> dict[str, int] | None:
    """Provider usage in Langfuse's names (input/output/total), other counters kept as they are."""
    if not usage:
        return None
    names = {"prompt_tokens": "input", "completion_tokens": "output", "total_tokens": "total"}
    out: dict[str, int] = {}
    for key, value in usage.items():
        if isinstance(value, int) and not isinstance(value, bool):
            out[names.get(key, key)] = value
    return out or None


class LangfuseTracer:
    """The run observer and feedback hook that send answers and ratings to Langfuse.

    One per process and Langfuse project (`assistant.tracing.tracer_for`). `observe` is the run
    observer, `feedback` the feedback hook, `flush` waits until everything queued has been
    sent, and `close` flushes and stops (call it at shutdown).
    """

    def __init__(
        self,
        *,
        host: str,
        public_key: str,
        secret_key: str,
        trace_content: bool = False,
        queue_size: int = 1000,
        timeout_seconds: int = 5,
    ) -> None:
        from langfuse import Langfuse, __version__
        from langfuse._client.constants import LANGFUSE_TRACER_NAME
        from opentelemetry.sdk.trace import TracerProvider

        self.host = host
        self.trace_content = trace_content
        self.closed = False
        self.dropped = 0  # traces not exported because the queue was full
        # A provider of our own, not the global one: other libraries' spans (Chroma is
        # OpenTelemetry-instrumented) never reach Langfuse, and ours reach nothing else.
        self._provider = TracerProvider()
        self.client = Langfuse(
            public_key=public_key,
            secret_key=secret_key,
            base_url=host,
            timeout=timeout_seconds,
            mask=_mask,
            tracer_provider=self._provider,
        )
        self._tracer = self._provider.get_tracer(
            LANGFUSE_TRACER_NAME, __version__, attributes={"public_key": public_key}
        )
        self._queue: queue.Queue[RunRecord | None] = queue.Queue(maxsize=queue_size)
        # Crisis and emergency trace ids seen lately: feedback on them gets no comment.
        self._private: OrderedDict[str, None] = OrderedDict()
        self._private_lock = threading.Lock()
        self._worker = threading.Thread(target=self._drain, name="langfuse-trace", daemon=True)
        self._worker.start()

    # ---- the hooks -------------------------------------------------------------------------

    def observe(self, record: RunRecord) -> None:
        """Run observer: queue the record and return at once (the export happens elsewhere)."""
        if record.route in PRIVATE_ROUTES:
            self._remember_private(record.trace_id)
        if self.closed:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            log.warning(json.dumps({"event": "trace_dropped", "trace_id": record.trace_id}))

    def feedback(self, event: FeedbackEvent) -> None:
        """Feedback hook: the rating becomes a boolean score named `user_feedback` on the trace.

        The comment is the user's words: it is sent masked, only when trace content is on, and
        never for a crisis or emergency trace.
        """
        if self.closed or not _TRACE_ID.match(event.trace_id):
            return
        comment = None
        if event.comment and self.trace_content and not self._is_private(event.trace_id):
            comment = str(mask(event.comment))
        self.client.create_score(
            name=SCORE_NAME,
            value=1.0 if event.rating == "up" else 0.0,
            data_type="BOOLEAN",
            trace_id=event.trace_id,
            comment=comment,
            metadata={"rating": event.rating, "channel": event.channel},
        )

    def flush(self) -> None:
        """Export every trace and score queued so far, and wait for the server to take them."""
        if self._worker.is_alive():
            self._queue.join()
        self.client.flush()

    def close(self, timeout: float = 10.0) -> None:
        """Flush, stop the worker and shut the SDK down (its export thread and score queue).

        Waits at most `timeout` seconds: against a Langfuse that accepts connections and never
        answers, the SDK's own flush takes its request timeout per batch and retries scores
        three times, and a shutting-down service should not wait on that. What is still pending
        then is dropped with the process (the threads are daemons).
        """
        if self.closed:
            return
        self.closed = True

        def stop() -> None:
            # A full queue means a stuck worker; it is a daemon and cannot hold the exit.
            with suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            self._worker.join(timeout)
            self.client.shutdown()

        stopper = threading.Thread(target=stop, name="langfuse-close", daemon=True)
        stopper.start()
        stopper.join(timeout)
        if stopper.is_alive():
            log.warning(json.dumps({"event": "tracing_close_timeout", "seconds": timeout}))

    # ---- building a trace -----------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            record = self._queue.get()
            try:
                if record is None:
                    return
                self.export(record)
            except Exception:
                log.exception("tracing failed for trace %s", getattr(record, "trace_id", "?"))
            finally:
                self._queue.task_done()

    def export(self, record: RunRecord) -> None:
        """Turn one run into a trace: a root `answer` span and an observation per stage."""
        from langfuse import propagate_attributes

        if not _TRACE_ID.match(record.trace_id):
            log.warning(json.dumps({"event": "trace_skipped", "trace_id": record.trace_id}))
            return
        private = record.route in PRIVATE_ROUTES
        content = self.trace_content and not private
        answer = record.answer
        # `Pipeline.answer()` stops reading at `done`, so its runs end with `completed` False:
        # a built Answer is what says the user got the whole reply.
        finished = record.completed or answer is not None
        stages = merge_stages(record.stages)
        end = record.ended or max((s.end for s in stages), default=record.started)
        tags = [f"channel:{record.channel}", f"route:{record.route.value}"]
        trace_meta: dict[str, Any] = {"route": record.route.value, "channel": record.channel}
        if not private:
            trace_meta.update(mode=record.mode, finished=finished)
            if record.model:
                trace_meta["model"] = record.model
        with propagate_attributes(
            trace_name=TRACE_NAME,
            # A session would tie a crisis message to a person and their other questions.
            session_id=None if private else _ascii_id(record.session_id),
            tags=[tag[:_MAX_ID] for tag in tags],
            metadata=scrub(trace_meta),
        ):
            root_meta: dict[str, Any] = {"route": record.route.value, "channel": record.channel}
            if not private:
                root_meta.update(
                    reason=record.reason,
                    mode=record.mode,
                    model=record.model,
                    fallback=record.fallback,
                    finished=finished,
                    citations=len(answer.citations) if answer else 0,
                    timings_ms=answer.timings_ms if answer else {},
                )
            with self._observation(
                "answer",
                "span",
                record.started,
                end,
                parent=None,
                trace_id=record.trace_id,
                input={"question": record.question} if content else None,
                output={"answer": answer.answer} if content and answer else None,
                metadata=root_meta,
                level=None if finished else "WARNING",
                status_message=None if finished else "the client left before the end",
            ) as root:
                for stage in stages:
                    self._stage(root, stage, record, private=private, content=content)

    def _stage(
        self, root: Context, stage: _StageSpan, record: RunRecord, *, private: bool, content: bool
    ) -> None:
        """One stage's observation; a private trace gets timings only."""
        timing = {"ms": round(stage.ms, 2), "entries": stage.entries}
        fields: dict[str, Any] = {"metadata": timing}
        if not private:
            fields = self._stage_fields(stage.name, record, content)
            fields["metadata"] = {**timing, **fields.get("metadata", {})}
        as_type = STAGE_TYPES.get(stage.name, "span")
        with self._observation(stage.name, as_type, stage.start, stage.end, root, **fields) as ctx:
            if stage.name == "compose" and not private:
                for call in record.llm_calls:
                    self._generation(ctx, call, content)

    def _stage_fields(self, name: str, record: RunRecord, content: bool) -> dict[str, Any]:
        """What each stage's observation shows: its decision, never more text than allowed."""
        question = {"question": record.question} if content else None
        if name == "triage":
            return {
                "input": question,
                "output": {"route": record.route.value, "reason": record.reason},
            }
        if name == "retrieve":
            passages = [
                {
                    "rank": r.rank,
                    "chunk_id": r.chunk_id,
                    "source_id": r.source_id,
                    "evidence": r.evidence,
                    "score": r.score,
                }
                for r in record.retrieved
            ]
            return {"input": question, "output": {"passages": passages}}
        if name == "compose":
            return {
                "metadata": {
                    "mode": record.mode,
                    "model": record.model,
                    "fallback": record.fallback,
                    "llm_calls": len(record.llm_calls),
                    "composer": "llm" if record.llm_calls else "extractive",
                }
            }
        if name == "verify":
            kept = [
                {
                    "cites": k.cites,
                    "support": round(k.support, 4),
                    **({"text": k.text} if content else {}),
                }
                for k in record.kept
            ]
            dropped = [
                {"reason": d.reason, **({"text": d.text} if content else {})}
                for d in record.dropped
            ]
            return {
                "output": {"kept": kept, "dropped": dropped},
                "metadata": {"kept": len(kept), "dropped": len(dropped)},
            }
        if name == "hedge":
            return {
                "output": {"hedges": record.hedges} if content else None,
                "metadata": {"hedges": len(record.hedges)},
            }
        return {}

    def _generation(self, parent: Context, call: LLMCall, content: bool) -> None:
        """A model call as a Langfuse generation: model, messages, output, usage, cost."""
        if content:
            messages: Any = call.messages
            output: Any = call.output
        else:
            # The prompt holds the question and the output is the answer: sizes only.
            messages = [
                {"role": m.get("role"), "chars": len(str(m.get("content") or ""))}
                for m in call.messages
            ]
            output = None
        start = call.start
        end = call.end or call.start
        with self._observation(
            "llm",
            "generation",
            start,
            end,
            parent,
            model=call.model,
            input=messages,
            output=output,
            metadata={"output_chars": len(call.output)},
            usage_details=usage_details(call.usage),
            cost_details={"total": call.cost} if call.cost is not None else None,
            level="ERROR" if call.error else None,
            status_message=mask(call.error) if call.error else None,
        ):
            pass

    @contextmanager
    def _observation(
        self,
        name: str,
        as_type: str,
        start: float,
        end: float,
        parent: Context | None,
        *,
        trace_id: str | None = None,
        **fields: Any,
    ) -> Iterator[Context]:
        """Start a span at `start` under `parent` (or as the root of `trace_id`), wrap it in
        the SDK's observation class for `as_type`, and end it at `end`; yields its context for
        children."""
        from opentelemetry import trace as otel

        if parent is None:
            parent = _root_context(trace_id or "")
        span: Span = self._tracer.start_span(name, context=parent, start_time=_ns(start))
        if trace_id is not None:
            from langfuse import LangfuseOtelSpanAttributes

            # As the SDK marks a span started in an explicit trace: it is the trace's root.
            span.set_attribute(LangfuseOtelSpanAttributes.AS_ROOT, True)
        observation = _wrap(as_type, span, self.client, {k: scrub(v) for k, v in fields.items()})
        try:
            yield otel.set_span_in_context(span, parent)
        finally:
            observation.end(end_time=_ns(max(end, start)))

    # ---- private trace ids ----------------------------------------------------------------

    def _remember_private(self, trace_id: str, keep: int = 10_000) -> None:
        with self._private_lock:
            self._private[trace_id] = None
            while len(self._private) > keep:
                self._private.popitem(last=False)

    def _is_private(self, trace_id: str) -> bool:
        with self._private_lock:
            return trace_id in self._private


def _root_context(trace_id: str) -> Context:
    """A context whose current span belongs to `trace_id`, so a span started in it joins that
    trace (what the SDK's own `trace_context={"trace_id": ...}` does)."""
    from opentelemetry import trace as otel
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    parent = otel.NonRecordingSpan(
        otel.SpanContext(
            trace_id=int(trace_id, 16),
            span_id=RandomIdGenerator().generate_span_id(),
            is_remote=False,
            trace_flags=otel.TraceFlags(otel.TraceFlags.SAMPLED),
        )
    )
    return otel.set_span_in_context(parent)


def _wrap(
    as_type: str, span: Span, client: Any, fields: dict[str, Any]
) -> LangfuseObservationWrapper:
    """The SDK's observation class for `as_type` around an OpenTelemetry span."""
    import langfuse

    classes: dict[str, Any] = {
        "span": langfuse.LangfuseSpan,
        "generation": langfuse.LangfuseGeneration,
        "guardrail": langfuse.LangfuseGuardrail,
        "retriever": langfuse.LangfuseRetriever,
    }
    if as_type != "generation":
        for key in ("model", "usage_details", "cost_details"):
            fields.pop(key, None)
    wrapper: LangfuseObservationWrapper = classes[as_type](
        otel_span=span, langfuse_client=client, **fields
    )
    return wrapper
