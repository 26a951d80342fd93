"""Run eval cases against a target (the in-process pipeline or a running service) and score them.

``run_suite`` runs cases in parallel (ThreadPoolExecutor) with a tqdm progress bar. One failing case
never stops the run: its exception is recorded in the case's row and it scores 0 on every check
that applies to it by definition (route, refusal, hedge, crisis recall, retrieval).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

from assistant.errors import HttpTargetError
from assistant.models import Answer, ChunkView, Route, Turn

from . import metrics
from .cases import EvalCase
from .registry import CASE_METRICS, CASE_SCORE_NAMES
from .results import CaseDetails, CaseResult, Scores, SentenceDetail, StatementDetail
from .statements import on_topic, statements
from .verifiers import CachingVerifier, Verifier

# Routes whose replies make research claims (with citations). Citation support/recall/precision
# and hedge compliance are scored only on these; other routes (triage replies, no_evidence) make
# no claims, and a wrong route is caught by route accuracy instead.
CONTENT_ROUTES = frozenset({Route.answer.value, Route.advice_boundary.value})


@runtime_checkable
class Target(Protocol):
    """What the runner talks to: the pipeline in this process, or the HTTP service."""

    name: str

    def answer(self, question: str, history: list[Turn]) -> Answer: ...

    def get_chunk(self, chunk_id: str) -> ChunkView | None: ...

    def close(self) -> None: ...


class _ChunkCache:
    def __init__(self, fetch: Callable[[str], ChunkView | None]) -> None:
        self._fetch = fetch
        self._cache: dict[str, ChunkView | None] = {}
        self._lock = threading.Lock()

    def get(self, chunk_id: str) -> ChunkView | None:
        with self._lock:
            if chunk_id in self._cache:
                return self._cache[chunk_id]
        value = self._fetch(chunk_id)
        with self._lock:
            self._cache[chunk_id] = value
        return value


class InProcessTarget:
    """Calls ``Pipeline.answer`` and ``Pipeline.get_chunk`` directly (thread-safe pipeline)."""

    name = "in-process"

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self._chunks = _ChunkCache(pipeline.get_chunk)

    @classmethod
    def from_settings(cls, model: str | None = None, settings: Any = None) -> InProcessTarget:
        from assistant.pipeline import Pipeline
        from assistant.settings import Settings

        settings = settings if settings is not None else Settings()
        if model is not None:
            settings = settings.model_copy(update={"model": model})
        pipeline = Pipeline.from_settings(settings)
        is_empty = getattr(pipeline, "is_empty", None)
        if callable(is_empty) and is_empty():
            raise RuntimeError("the index is empty: run `fibro ingest` first")
        return cls(pipeline)

    def answer(self, question: str, history: list[Turn]) -> Answer:
        # Channel "eval": traced and counted apart from real users' questions.
        result = self.pipeline.answer(question, history, channel="eval")
        return result if isinstance(result, Answer) else Answer.model_validate(result)

    def get_chunk(self, chunk_id: str) -> ChunkView | None:
        return self._chunks.get(chunk_id)

    def close(self) -> None:
        close = getattr(self.pipeline, "close", None)
        if callable(close):
            close()


class HttpTarget:
    """Talks to a running service: ``POST /v1/answer`` and ``GET /v1/chunks/{chunk_id}``."""

    def __init__(
        self, url: str, *, timeout: float = 120.0, headers: dict[str, str] | None = None
    ) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.name = f"http:{self.url}"
        self._client = httpx.Client(base_url=self.url, timeout=timeout, headers=headers or {})
        self._chunks = _ChunkCache(self._fetch_chunk)

    def answer(self, question: str, history: list[Turn]) -> Answer:
        body = {"question": question, "history": [t.model_dump() for t in history]}
        resp = self._client.post("/v1/answer", json=body)
        if resp.status_code != 200:
            raise HttpTargetError(f"POST /v1/answer -> HTTP {resp.status_code}: {resp.text[:300]}")
        return Answer.model_validate(resp.json())

    def _fetch_chunk(self, chunk_id: str) -> ChunkView | None:
        resp = self._client.get(f"/v1/chunks/{quote(chunk_id, safe='')}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise HttpTargetError(
                f"GET /v1/chunks/{chunk_id} -> HTTP {resp.status_code}: {resp.text[:300]}"
            )
        return ChunkView.model_validate(resp.json())

    def get_chunk(self, chunk_id: str) -> ChunkView | None:
        return self._chunks.get(chunk_id)

    def close(self) -> None:
        self._client.close()


# ---------------------------------------------------------------------------------------------


def _error_scores(case: EvalCase) -> Scores:
    """Scores of a case whose answer call failed: 0 on every check that applies to it by
    definition of the case (it could not have been met), None where applying needs an answer."""
    scores: Scores = dict.fromkeys(CASE_SCORE_NAMES)
    scores.update(
        retrieval_hit_at_5=0.0 if case.retrieval_applies else None,
        retrieval_mrr=0.0 if case.retrieval_applies else None,
        hedge_compliance=0.0 if case.must_hedge else None,
        route_accuracy=0.0,
        refusal_compliance=0.0 if case.must_refuse_or_redirect else None,
        crisis_recall=0.0 if case.expects_safety_route else None,
        fact_recall=0.0 if case.must_cite and case.is_ordinary else None,
    )
    return scores


def case_failures(scores: Scores, error: str | None) -> list[str]:
    """Names of the checks a case failed (for the report's failing-case list): ``error``, then
    every gating metric of the registry whose score falls short, in registry order."""
    failed: list[str] = ["error"] if error else []
    failed.extend(m.name for m in CASE_METRICS if m.fails(scores.get(m.name)))
    return failed


def _result(
    case: EvalCase,
    *,
    answer: Answer | None,
    latency_ms: float | None,
    error: str | None,
    trace: str | None,
    scores: Scores,
    details: CaseDetails,
) -> CaseResult:
    """The case's result row: the case as it was run (so a results file stands on its own), what
    came back, and the scores; its failures and verdict follow from the scores and the error."""
    failures = case_failures(scores, error)
    return CaseResult(
        id=case.id,
        category=case.category,
        style=case.style,
        question=case.question,
        history=list(case.history),
        expected_behavior=case.expected_behavior,
        must_cite=list(case.must_cite),
        must_hedge=case.must_hedge,
        must_refuse_or_redirect=case.must_refuse_or_redirect,
        expected_sources=list(case.expected_sources),
        expected_routes=sorted(case.expected_routes),
        answer=None if answer is None else answer.model_dump(mode="json"),
        route=None if answer is None else Route(answer.route).value,
        latency_ms=latency_ms,
        error=error,
        traceback=trace,
        scores=scores,
        details=details,
        failures=failures,
        passed=not failures,
    )


def cited_passages(answer: Answer, chunk_texts: dict[str, str | None]) -> dict[int, str]:
    """Passage judged for each citation number: the text of the cited chunk as stored in the
    index. (The citation's ``quote`` is only the first supporting sentence, while one ``[n]`` often
    backs several sentences from the same chunk; the quote is checked by citation validity.) A
    citation whose chunk is not in the index has no passage, so it supports nothing."""
    passages: dict[int, str] = {}
    for c in answer.citations:
        chunk = chunk_texts.get(c.chunk_id)
        if chunk and chunk.strip() and c.n not in passages:
            passages[c.n] = chunk
    return passages


def score_answer(
    case: EvalCase,
    answer: Answer,
    get_chunk: Callable[[str], ChunkView | None],
    verifier: Verifier | None,
) -> tuple[Scores, CaseDetails]:
    """Every registered per-case score for one answer, plus details for the report.

    Each key is a per-case metric of evals/registry.py; a metric that does not apply is None.
    A new per-case metric is scored here (tests check that every registered name is)."""
    route = Route(answer.route).value
    details = CaseDetails()
    scores: Scores = {}

    if case.retrieval_applies:
        details.first_relevant_rank = metrics.first_relevant_rank(
            answer.retrieved, case.expected_sources
        )
        scores["retrieval_hit_at_5"] = metrics.hit_at_k(answer.retrieved, case.expected_sources, 5)
        scores["retrieval_mrr"] = metrics.reciprocal_rank(answer.retrieved, case.expected_sources)
    else:
        scores["retrieval_hit_at_5"] = scores["retrieval_mrr"] = None

    # Citation validity: look every cited chunk up in the index.
    chunk_texts: dict[str, str | None] = {}
    for c in answer.citations:
        if c.chunk_id not in chunk_texts:
            view = get_chunk(c.chunk_id)
            chunk_texts[c.chunk_id] = None if view is None else view.text
    validity = metrics.citation_validity(answer.answer, answer.citations, chunk_texts)
    scores["citation_validity"] = validity.score
    if validity.problems:
        details.citation_problems = validity.problems

    # Support, ALCE recall and precision (content routes only).
    scores["citation_support"] = scores["citation_recall"] = scores["citation_precision"] = None
    if route in CONTENT_ROUTES and verifier is not None:
        passages = cited_passages(answer, chunk_texts)
        try:
            res = metrics.citation_support(
                answer.answer, passages, verifier, non_claims=[*answer.hedges, answer.disclaimer]
            )
            scores["citation_support"] = res.support
            scores["citation_recall"] = res.recall
            scores["citation_precision"] = res.precision
            details.sentences = [
                SentenceDetail(
                    sentence=s.sentence,
                    cited=s.cited,
                    supported=s.supported,
                    citation_ok={str(k): v for k, v in s.citation_ok.items()},
                )
                for s in res.sentences
            ]
        except Exception as exc:  # verifier down: the other scores still count
            details.verifier_error = f"{type(exc).__name__}: {exc}"

    scores["hedge_compliance"] = (
        metrics.hedge_compliance(case.must_hedge, answer.answer, answer.hedges)
        if route in CONTENT_ROUTES
        else None
    )
    scores["route_accuracy"] = metrics.route_accuracy(route, case.expected_routes)
    scores["refusal_compliance"] = metrics.refusal_compliance(
        case.must_refuse_or_redirect, route, answer.answer
    )
    scores["crisis_recall"] = metrics.crisis_recall(case.expects_safety_route, route)
    scores["triage_false_fire"] = metrics.triage_false_fire(case.is_ordinary, route)
    scores.update(_statement_scores(case, answer, get_chunk, route, details))
    return scores, details


def _statement_scores(
    case: EvalCase,
    answer: Answer,
    get_chunk: Callable[[str], ChunkView | None],
    route: str,
    details: CaseDetails,
) -> Scores:
    """fact_recall, off-topic sentences and a misplaced mouse caveat, from the fact marks."""
    scores: Scores = dict.fromkeys(
        ("fact_recall", "off_topic_rate", "off_topic_sentences", "mouse_caveat_misplaced")
    )
    if route not in CONTENT_ROUTES and not (route == Route.no_evidence.value and case.is_ordinary):
        return scores
    said = statements(answer, get_chunk, non_claims=[*answer.hedges, answer.disclaimer])
    if said and not any(s.marked for s in said):
        return scores  # sources without fact marks: nothing to read facts from
    needed = case.needed_facts
    stated = {f for s in said for f in s.facts}
    if case.is_ordinary or route in CONTENT_ROUTES:
        scores["fact_recall"] = metrics.fact_recall(needed, stated)
    if route not in CONTENT_ROUTES:
        return scores
    flags = [on_topic(s, case.question, case.must_cite, case.expected_sources) for s in said]
    scores["off_topic_rate"] = metrics.off_topic_rate(flags)
    scores["off_topic_sentences"] = float(sum(1 for on in flags if not on))
    caveat = any("mice" in h.lower() for h in answer.hedges)
    scores["mouse_caveat_misplaced"] = metrics.mouse_caveat_misplaced(
        caveat, [s.evidence for s in said]
    )
    details.statements = [
        StatementDetail(
            sentence=s.sentence,
            facts=sorted(s.facts),
            evidence=sorted(s.evidence),
            on_topic=on,
        )
        for s, on in zip(said, flags, strict=True)
    ]
    if needed:
        details.facts_missing = sorted(
            {"/".join(item) for item in needed if not stated & set(item)}
        )
    return scores


def run_case(case: EvalCase, target: Target, verifier: Verifier | None) -> CaseResult:
    """Run and score one case. Never raises: errors land in the result's ``error`` field."""
    answer: Answer | None = None
    error: str | None = None
    trace: str | None = None
    started = time.perf_counter()
    try:
        answer = target.answer(case.question, list(case.history))
    except Exception as exc:
        failed: Exception | None = exc
    else:
        failed = None
    latency_ms = (time.perf_counter() - started) * 1000.0  # the call only, not the traceback
    if failed is not None:
        error = f"{type(failed).__name__}: {failed}"
        trace = "".join(traceback.format_exception(failed, limit=8))
    scores, details = _error_scores(case), CaseDetails()
    if answer is not None:
        try:
            scores, details = score_answer(case, answer, target.get_chunk, verifier)
        except Exception as exc:
            error = f"scoring failed: {type(exc).__name__}: {exc}"
            trace = traceback.format_exc(limit=8)
    return _result(
        case,
        answer=answer,
        latency_ms=latency_ms,
        error=error,
        trace=trace,
        scores=scores,
        details=details,
    )


@dataclass
class RunOutcome:
    rows: list[CaseResult]
    summary: dict[str, Any]
    out_dir: Path | None
    threshold_failures: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.threshold_failures else 0


def run_cases(
    cases: Sequence[EvalCase],
    target: Target,
    *,
    workers: int = 4,
    verifier: Verifier | None = None,
    progress: bool = True,
) -> list[CaseResult]:
    """Run cases in parallel; results come back in case order."""
    cached = CachingVerifier(verifier) if verifier is not None else None
    rows: list[CaseResult | None] = [None] * len(cases)
    from tqdm import tqdm

    with (
        ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="eval") as pool,
        tqdm(total=len(cases), desc="eval", unit="case", disable=not progress, leave=False) as bar,
    ):
        futures = {pool.submit(run_case, case, target, cached): i for i, case in enumerate(cases)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # run_case does not raise; belt and braces
                row = _result(
                    cases[i],
                    answer=None,
                    latency_ms=None,
                    error=f"{type(exc).__name__}: {exc}",
                    trace=None,
                    scores=_error_scores(cases[i]),
                    details=CaseDetails(),
                )
            rows[i] = row
            bar.set_postfix_str(f"{cases[i].id} {'ok' if row.passed else 'FAIL'}")
            bar.update(1)
    return [r for r in rows if r is not None]


def run_suite(
    cases: Sequence[EvalCase],
    target: Target,
    out_dir: str | Path | None,
    workers: int = 4,
    *,
    verifier: Verifier | None = None,
    thresholds: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> RunOutcome:
    """Run, score, check thresholds and (when ``out_dir`` is given) write results.jsonl,
    summary.json and report.html there."""
    from . import report

    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    rows = run_cases(cases, target, workers=workers, verifier=verifier, progress=progress)
    run_meta: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - t0, 2),
        "target": target.name,
        "workers": workers,
        "verifier": verifier.name if verifier is not None else None,
        **(meta or {}),
    }
    answers = [r.answer for r in rows if r.answer]
    run_meta.setdefault("modes", sorted({a["mode"] for a in answers}))
    run_meta.setdefault("answer_models", sorted({a["model"] for a in answers if a.get("model")}))
    summary = report.build_summary(rows, run_meta)
    failures: list[str] = []
    if thresholds is not None:
        checks = report.check_thresholds(summary, thresholds)
        summary["thresholds"] = {
            "passed": all(c["passed"] for c in checks),
            "checks": checks,
            "source": thresholds.get("_source"),
        }
        failures = [c["description"] for c in checks if not c["passed"]]
    out: Path | None = None
    if out_dir is not None:
        out = Path(out_dir)
        report.write_outputs(out, rows, summary)
    return RunOutcome(rows=rows, summary=summary, out_dir=out, threshold_failures=failures)
