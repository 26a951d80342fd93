"""``fibro eval --langfuse``: the suite as a Langfuse dataset, the run as an experiment.

Evaluators compare runs in Langfuse's experiment views as well as with ``fibro eval compare``.
After a run, :func:`export_run`

1. upserts a dataset (default name ``fibro-<suite file stem>``) with one item per case: the
   input is the question and history, the expected output the case's expectations, the metadata
   its category, style and tags;
2. links each case's answer to its item as an experiment (dataset run) item: run name = the
   run's name (its output folder, a timestamp by default), model and composer in the run's
   metadata;
3. sends each registered per-case metric (``evals/registry.py``) as a numeric score on the
   case's trace (a metric that does not apply, ``None``, is not sent).

Why it is built this way:

* **The SDK's own experiment format.** Langfuse SDK v5 has no dataset-run-items call: its
  ``run_experiment`` records a run item as an observation carrying the ``langfuse.experiment.*``
  attributes (experiment id and name, dataset id, item id, root observation id), exported over
  OTLP with the traces. ``run_experiment`` wants to run the task itself, but the eval has
  already run (in parallel, with its own scoring), so this module writes the same attributes on
  one ``eval-case`` observation per case, with the experiment id the SDK (and the server)
  derives from project, dataset and run name: re-running a run name groups into one experiment.
* **The case's trace is the answer's trace** when the eval runs in-process through a pipeline
  whose observers include the Langfuse tracer (its answers are traced under channel ``eval``):
  the run item and the scores land on the trace that shows retrieval, composition and
  verification. Otherwise (``--url``, or a pipeline without the tracer) the case gets a trace of
  its own, with an id derived from run name and case id.
* **Item ids are ``<dataset>/<case id>``**, not the bare case id: Langfuse item ids are unique
  across a project's datasets, and the core suite contains every shared example, so a bare id
  could not be in both ``fibro-core`` and ``fibro-examples``. The case id is in the metadata.
* **One privacy rule, the tracer's.** Eval questions are written by us, not patients' words, but
  they are handled exactly like traced questions so there is only one rule to know: question,
  history and answer text leave the process only with ``FIBRO_TRACE_CONTENT=true``, always
  masked (``assistant.privacy.mask``), and never for a case that expects or got a crisis or
  emergency route. Without content the item input carries the case id and the text's length.
  Expectations (``must_cite`` fact ids, expected behaviour) are not user text and are sent
  (masked).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.models import Route
from assistant.settings import Settings

from .cases import EvalCase
from .registry import CASE_METRICS
from .results import CaseResult

if TYPE_CHECKING:
    from assistant.tracing.langfuse import LangfuseTracer

    from .runner import Target

CASE_OBSERVATION = "eval-case"
EXPERIMENT_ENVIRONMENT = "sdk-experiment"  # what the SDK's run_experiment marks its traces with
_SAFETY_ROUTES = frozenset({Route.crisis.value, Route.emergency.value})
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


class LangfuseExportError(RuntimeError):
    """Langfuse is not configured, or refused the dataset."""


@dataclass(frozen=True)
class ExportReport:
    """What was sent: for the CLI's last line and for tests."""

    dataset: str
    dataset_id: str
    run_name: str
    experiment_id: str
    items: int
    scores: int
    traces: dict[str, str]  # case id -> trace id


def missing_keys_message() -> str:
    """The one-line error when ``--langfuse`` is given without keys."""
    return (
        "--langfuse needs Langfuse keys: set FIBRO_LANGFUSE_PUBLIC_KEY and "
        "FIBRO_LANGFUSE_SECRET_KEY (and FIBRO_LANGFUSE_HOST for a self-hosted Langfuse)"
    )


def default_dataset_name(case_files: Sequence[str | Path]) -> str:
    """``fibro-<stem>`` of the suite file(s): ``fibro-core`` for evals/cases/core.jsonl; several
    files are joined with ``+`` so different selections never share a dataset."""
    stems = [_NAME_CHARS.sub("-", Path(p).stem) or "suite" for p in case_files] or ["suite"]
    return "fibro-" + "+".join(stems)


def tracer_or_error(settings: Settings) -> LangfuseTracer:
    """The process's Langfuse tracer for these settings; raises when the keys are missing."""
    from assistant.tracing import tracer_for

    tracer = tracer_for(settings)
    if tracer is None:
        raise LangfuseExportError(missing_keys_message())
    return tracer


def traced_in_process(target: Target, tracer: LangfuseTracer) -> bool:
    """Whether the target's answers are already traces in this Langfuse project: an in-process
    pipeline that reports its runs to this tracer."""
    observers = getattr(getattr(target, "pipeline", None), "observers", None) or []
    return any(obs == tracer.observe for obs in observers)


def _private(case: EvalCase, row: CaseResult | None = None) -> bool:
    """A case whose text never leaves the process: it expects, or got, a crisis route."""
    if case.expects_safety_route:
        return True
    return row is not None and row.route in _SAFETY_ROUTES


def item_input(case: EvalCase, content: bool) -> dict[str, Any]:
    """The dataset item's input: question and history (masked) with trace content on, else
    the case id and sizes only."""
    from assistant.tracing.langfuse import scrub

    if content and not _private(case):
        return {
            "question": scrub(case.question),
            "history": [scrub(t.model_dump(mode="json")) for t in case.history],
        }
    return {
        "case_id": case.id,
        "question_chars": len(case.question),
        "history_turns": len(case.history),
    }


def item_expected_output(case: EvalCase) -> dict[str, Any]:
    """What the case expects (the judge's side of the comparison; not user text)."""
    from assistant.tracing.langfuse import scrub

    return scrub(
        {
            "expected_behavior": case.expected_behavior,
            "expected_routes": sorted(case.expected_routes),
            "must_cite": list(case.must_cite),
            "must_hedge": case.must_hedge,
            "must_refuse_or_redirect": case.must_refuse_or_redirect,
            "expected_sources": list(case.expected_sources),
        }
    )


def item_metadata(case: EvalCase) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "category": case.category,
        "style": case.style,
        "tags": list(case.tags),
    }


def case_output(row: CaseResult, case: EvalCase, content: bool) -> dict[str, Any]:
    """The run item's output: route, verdict and failures; the answer text only with content."""
    out: dict[str, Any] = {
        "route": row.route,
        "passed": row.passed,
        "failures": list(row.failures),
        "latency_ms": None if row.latency_ms is None else round(row.latency_ms, 1),
        "error": row.error,
    }
    if content and row.answer and not _private(case, row):
        out["answer"] = row.answer.get("answer")
    return out


def case_scores(row: CaseResult) -> dict[str, float]:
    """The registered per-case metrics that apply to the case, as floats."""
    return {
        m.name: float(value) for m in CASE_METRICS if (value := row.scores.get(m.name)) is not None
    }


def experiment_id(project_id: str | None, dataset_id: str, run_name: str) -> str:
    """The experiment id the SDK's ``run_experiment`` uses (and the Langfuse server derives):
    the same run name on the same dataset is the same experiment."""
    if project_id is None:
        return sha256(f"{dataset_id}/{run_name}".encode()).hexdigest()[:16]
    payload = json.dumps(
        ["langfuse-experiment-v1", project_id, dataset_id, run_name],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return sha256(payload.encode("utf-8")).hexdigest()[:16]


def _upsert_dataset(client: Any, name: str, description: str, metadata: dict[str, Any]) -> str:
    """The dataset's id. Creating an existing dataset updates it on Langfuse; a server that
    refuses instead still lets us look it up by name."""
    try:
        return str(client.create_dataset(name=name, description=description, metadata=metadata).id)
    except Exception as create_error:
        try:
            return str(client.api.datasets.get(dataset_name=name).id)
        except Exception:
            raise LangfuseExportError(
                f"Langfuse refused dataset {name!r}: {type(create_error).__name__}: {create_error}"
            ) from create_error


def export_run(
    settings: Settings,
    cases: Sequence[EvalCase],
    rows: Sequence[CaseResult],
    *,
    run_name: str,
    dataset: str,
    run_meta: Mapping[str, Any],
    traced: bool,
    description: str | None = None,
) -> ExportReport:
    """Send the suite as a dataset and the run as an experiment with its scores, then flush.

    ``traced`` says the answers' ``trace_id`` are already traces in this Langfuse project
    (:func:`traced_in_process`). Raises :class:`LangfuseExportError` without keys or when the
    dataset cannot be created; the eval's own outputs are written before this is called.
    """
    from langfuse import Langfuse, LangfuseOtelSpanAttributes
    from opentelemetry import trace as otel

    from assistant.tracing.langfuse import scrub

    tracer = tracer_or_error(settings)
    client = tracer.client
    content = tracer.trace_content
    by_id = {c.id: c for c in cases}
    run_metadata = scrub(dict(run_meta))

    dataset_id = _upsert_dataset(
        client,
        dataset,
        description or f"fibro eval suite {dataset}",
        {"cases": len(cases), "source": "fibro eval"},
    )
    for case in cases:
        client.create_dataset_item(
            dataset_name=dataset,
            id=f"{dataset}/{case.id}",
            input=item_input(case, content),
            expected_output=item_expected_output(case),
            metadata=item_metadata(case),
        )

    try:
        project_id = client._get_project_id()  # cached by the SDK; what run_experiment asks
    except Exception:
        project_id = None
    exp_id = experiment_id(project_id, dataset_id, run_name)
    traces: dict[str, str] = {}
    n_scores = 0
    for row in rows:
        case = by_id[row.id]
        answer_trace = (row.answer or {}).get("trace_id") if traced else None
        trace_id = answer_trace or Langfuse.create_trace_id(seed=f"{run_name}/{dataset}/{case.id}")
        traces[case.id] = trace_id
        item_id = f"{dataset}/{case.id}"
        meta = item_metadata(case)
        scores = case_scores(row)
        with client.start_as_current_observation(
            name=CASE_OBSERVATION,
            as_type="span",
            trace_context={"trace_id": trace_id},
            input=item_input(case, content),
            output=case_output(row, case, content),
            metadata={**meta, "run_name": run_name, "scores": scores},
            level="ERROR" if row.error else None,
            status_message=row.error,
        ) as span:
            attributes: dict[str, Any] = {
                LangfuseOtelSpanAttributes.ENVIRONMENT: EXPERIMENT_ENVIRONMENT,
                LangfuseOtelSpanAttributes.EXPERIMENT_ID: exp_id,
                LangfuseOtelSpanAttributes.EXPERIMENT_NAME: run_name,
                LangfuseOtelSpanAttributes.EXPERIMENT_METADATA: json.dumps(run_metadata),
                LangfuseOtelSpanAttributes.EXPERIMENT_DATASET_ID: dataset_id,
                LangfuseOtelSpanAttributes.EXPERIMENT_ITEM_ID: item_id,
                LangfuseOtelSpanAttributes.EXPERIMENT_ITEM_METADATA: json.dumps(meta),
                LangfuseOtelSpanAttributes.EXPERIMENT_ITEM_EXPECTED_OUTPUT: json.dumps(
                    item_expected_output(case)
                ),
                LangfuseOtelSpanAttributes.EXPERIMENT_ITEM_ROOT_OBSERVATION_ID: span.id,
            }
            if description:
                attributes[LangfuseOtelSpanAttributes.EXPERIMENT_DESCRIPTION] = description
            if answer_trace:
                # The answer's own root span names the trace and holds its input and output.
                attributes[LangfuseOtelSpanAttributes.AS_ROOT] = False
            otel.get_current_span().set_attributes(attributes)
            for name, value in scores.items():
                client.create_score(
                    name=name,
                    value=value,
                    data_type="NUMERIC",
                    trace_id=trace_id,
                    observation_id=span.id,
                    metadata={"run_name": run_name, "dataset": dataset, "case_id": case.id},
                )
                n_scores += 1
    tracer.flush()
    return ExportReport(
        dataset=dataset,
        dataset_id=dataset_id,
        run_name=run_name,
        experiment_id=exp_id,
        items=len(cases),
        scores=n_scores,
        traces=traces,
    )


def run_metadata(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment's metadata from summary.json's ``meta``: model, composer, target, verifier
    and when it ran, so runs are told apart in Langfuse."""
    meta = summary.get("meta", {})
    models = meta.get("answer_models") or []
    requested = meta.get("requested_model")
    modes = meta.get("modes") or []
    return {
        "model": requested or (models[0] if len(models) == 1 else models or None),
        "composer": "llm" if "llm" in modes else "extractive",
        "modes": modes,
        "target": meta.get("target"),
        "verifier": meta.get("verifier"),
        "judge_model": meta.get("judge_model"),
        "started_at": meta.get("started_at"),
        "cases": meta.get("cases"),
    }
