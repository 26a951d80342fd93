"""The one pipeline every surface calls: triage, retrieve, compose, verify, hedge.

`Pipeline.events()` yields the stream (meta, delta..., citations, done); `Pipeline.answer()` is
the same run collected into one Answer, so streaming and JSON can never disagree.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from assistant import safety
from assistant.breaker import CircuitBreaker, breaker_store_for
from assistant.compose.extractive import ExtractiveComposer
from assistant.doses import dose_allowed
from assistant.errors import ComposerError, FibroError, StoreError
from assistant.hedge import attribute_to_press_release, hedges_for, supporting_span
from assistant.index.embedder import Embedder, get_embedder
from assistant.index.lexical import tokenize
from assistant.index.store import Store, StoredChunk
from assistant.injection import strip_instructions
from assistant.markers import ends_sentence, with_markers
from assistant.models import (
    Answer,
    ChunkView,
    Citation,
    FactMark,
    Resource,
    Retrieved,
    Route,
    Status,
    Turn,
)
from assistant.observe import Dropped, Kept, Observer, RunRecord, Stage, notify, observers_for
from assistant.retrieve import Passage, Retrieval, Retriever
from assistant.sentences import sentences_from_stream, split_answer, split_passage
from assistant.settings import Settings
from assistant.triage import SafetyClassifier, TriageResult, get_classifier
from assistant.triage import triage as triage_message
from assistant.triage.model_check import model_severity
from assistant.verify import VerifiedSentence, verify_sentence

log = logging.getLogger("fibro.trace")

NO_EVIDENCE_REPLY = (
    "The sources I can draw on don't cover this question, so I won't guess. I can answer "
    "questions about fibromyalgia, its diagnosis and management, and the research on antibodies "
    "in fibromyalgia, including the 2021 mouse study."
)

Event = tuple[str, dict[str, Any]]

# Asked once at start-up, through every local stage, so the first real answer is not the slow one.
WARM_QUESTION = "What is fibromyalgia and how is it diagnosed?"


@dataclass
class _Run:
    """State of one answer while it is being produced; `record` is what observers receive."""

    trace_id: str
    question: str
    history: Sequence[Turn]
    record: RunRecord
    timings: dict[str, float] = field(default_factory=dict)
    route: Route = Route.answer
    mode: str = "extractive"
    model: str | None = None
    parts: list[str] = field(default_factory=list)
    numbering: dict[int, int] = field(default_factory=dict)  # passage n -> citation n
    kept: list[VerifiedSentence] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; a stage entered several times (verify, per sentence) adds up."""
        start, wall = time.perf_counter(), time.time()
        try:
            yield
        finally:
            spent = (time.perf_counter() - start) * 1000
            self.timings[name] = round(self.timings.get(name, 0.0) + spent, 2)
            self.record.stages.append(Stage(name, wall, time.time()))


class Pipeline:
    """Answers questions from the index; construct once per process and share."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.settings = settings
        # Told about every run when it ends (tracing, metrics, the feedback store).
        self.observers: list[Observer] = list(observers)
        self.store = store
        self.embedder = embedder
        self.retriever = Retriever(store, embedder, settings)
        self.extractive = ExtractiveComposer(settings.extractive_sentences, embedder)
        # Shared by every answer: after repeated model failures, answers skip the model a while.
        self.breaker = CircuitBreaker.from_settings(settings, breaker_store_for(settings))
        # Set once warm() has run: until then /readyz says "starting" (first answers are slow).
        self.warmed = threading.Event()
        self.threshold = settings.support_threshold
        # Trained once per process (a second or two; utterance embeddings are cached on disk).
        self.classifier: SafetyClassifier = get_classifier(embedder, settings.data_dir / "cache")

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        return cls(
            settings,
            Store(settings),
            get_embedder(settings.embedding_model_path),
            observers_for(settings),
        )

    def warm(self, max_sentences: int = 5000) -> int:
        """Do ahead of the first question what would make it slow, then mark the pipeline warm.

        The extractive composer and the verifier compare answers sentence by sentence; with the
        vectors cached, an answer costs a query embedding instead of dozens of sentence
        embeddings. Small corpora are warmed whole; larger ones fill the cache as they are used.
        One question then goes through triage, retrieval (the index snapshot and BM25), the
        extractive composer and the verifier, without observers or a model call, and litellm is
        imported when a model is configured. `warmed` is set at the end even when this fails: a
        broken index is /readyz's to report ("unavailable"), not a reason to stay "starting".
        """
        count = 0
        try:
            sentences = [
                s.text for c in self.store.snapshot().chunks for s in split_passage(c.text)
            ]
            if sentences and len(sentences) <= max_sentences:
                self.embedder.encode_cached(sentences)
                count = len(sentences)
            self._warm_answer_path(WARM_QUESTION)
        except FibroError as exc:
            log.warning(json.dumps({"event": "warm_up_failed", "error": str(exc)[:300]}))
        finally:
            self.warmed.set()
        return count

    def _warm_answer_path(self, question: str) -> None:
        self.triage(question)
        retrieval = self.retriever.retrieve(question)
        if retrieval.passages:
            draft = self.extractive.compose(
                retrieval.query, retrieval.query_vector, retrieval.passages, question
            )
            texts = [p.chunk.text for p in retrieval.passages]
            for sentence in split_answer(draft):
                verify_sentence(sentence, texts, self.threshold, self.embedder)
        if self.settings.model:
            from assistant.compose.llm import warm_litellm

            warm_litellm(self.settings)  # its import and first call take seconds

    # ---- status ---------------------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self.store.snapshot().chunks

    def status(self) -> Status:
        """Ready when there are passages to answer from; "unavailable" names no host or folder."""
        try:
            snapshot = self.store.snapshot()
        except StoreError as exc:
            log.warning(json.dumps({"event": "index_unavailable", "error": str(exc)[:300]}))
            return Status(status="unavailable")
        return Status(
            status="ready" if snapshot.chunks else "empty",
            chunks=len(snapshot.chunks),
            sources=len({c.source_id for c in snapshot.chunks}),
            embedding_model=self.embedder.path.name,
            composer=self.settings.model or "extractive",
        )

    def get_chunk(self, chunk_id: str) -> ChunkView | None:
        chunk = self.store.get_chunk(chunk_id)
        if chunk is None:
            return None
        return ChunkView(
            chunk_id=chunk.id,
            source_id=chunk.source_id,
            title=chunk.title,
            text=chunk.text,
            start=chunk.start,
            end=chunk.end,
            position=chunk.position,
            marks=[
                FactMark(
                    start=m.start,
                    end=m.end,
                    facts=list(m.facts),
                    evidence=m.evidence,
                    qualified_by=list(m.qualified_by),
                )
                for m in chunk.marks
            ],
        )

    # ---- answering ------------------------------------------------------------------------

    def triage(self, question: str, history: Sequence[Turn] = ()) -> TriageResult:
        """The local triage layers (regexes, classifier, conversation); no model, no retrieval.

        Surfaces call this before waiting for an answer slot, so a crisis reply never waits.
        """
        return triage_message(question.strip(), list(history), self.classifier)

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        verdict: TriageResult | None = None,
        *,
        channel: str = "api",
        session_id: str | None = None,
    ) -> Answer:
        """Answer one question; the same result the stream's `done` event carries."""
        done: dict[str, Any] | None = None
        # Read the run to its end, so observers hear of it as completed.
        for name, data in self.events(
            question, history, verdict, channel=channel, session_id=session_id
        ):
            if name == "done":
                done = data
        if done is None:  # pragma: no cover
            raise RuntimeError("pipeline ended without an answer")
        return Answer.model_validate(done)

    def events(
        self,
        question: str,
        history: Sequence[Turn] = (),
        verdict: TriageResult | None = None,
        *,
        channel: str = "api",
        session_id: str | None = None,
    ) -> Iterator[Event]:
        """meta, delta (one per verified sentence or fixed paragraph), citations, done.

        `verdict` is the result of `triage()` when the caller already has it; `channel` and
        `session_id` say where the question came from, for observers. Observers get the run's
        record when the stream ends, also when the consumer stops early.
        """
        trace_id = uuid.uuid4().hex
        record = RunRecord(trace_id, channel, session_id, question.strip(), time.time())
        run = _Run(trace_id, question.strip(), list(history), record)
        try:
            yield from self._events(run, verdict)
            record.completed = True
        finally:
            record.ended = time.time()
            record.route, record.mode, record.model = run.route, run.mode, run.model
            record.kept = [Kept(k.text, list(k.cites), k.support) for k in run.kept]
            notify(self.observers, record)

    def _events(self, run: _Run, verdict: TriageResult | None) -> Iterator[Event]:
        with run.stage("triage"):
            if verdict is None:
                verdict = self.triage(run.question, run.history)
            verdict = self._model_check(run, verdict)
        run.record.reason = verdict.reason
        if verdict.fixed:
            yield from self._fixed(run, verdict)
            return

        # Instructions aimed at the assistant are cut before retrieval and before any model sees
        # the question.
        run.question = verdict.cleaned_question.strip() or run.question
        with run.stage("retrieve"):
            retrieval = self.retriever.retrieve(run.question, run.history)
        covered = retrieval.covered(self.settings.relevance_floor)
        passages = self._with_qualifiers(retrieval.passages)
        planned: list[VerifiedSentence] | None = None
        if covered and not self.settings.model:
            # The extractive answer is known before the stream starts, so a question that the
            # passages are near but do not answer is announced as no_evidence from the start.
            planned = self._extractive(run, retrieval, passages, verdict.route)
            covered = bool(planned) or verdict.route != Route.answer
        if not covered and verdict.distress and verdict.route == Route.answer:
            # Distress the sources cannot answer gets support and help lines, not "no evidence".
            yield from self._fixed(
                run, replace(verdict, route=Route.crisis, reason="crisis:distress")
            )
            return
        run.route = (
            Route.no_evidence if not covered and verdict.route == Route.answer else verdict.route
        )
        yield "meta", {"trace_id": run.trace_id, "route": run.route.value}

        prefix = []
        if verdict.distress:
            prefix.append(safety.distress_note())
            run.resources = list(safety.RESOURCES_CRISIS)
        if verdict.red_flag:
            prefix.append(safety.red_flag_note())
        if verdict.route == Route.advice_boundary:
            prefix.append(safety.advice_redirect())
        if verdict.injection:
            prefix.insert(0, safety.injection_notice())
        for text in prefix:
            run.parts.append(text)
            yield "delta", {"text": text}

        if not covered:
            run.parts.append(NO_EVIDENCE_REPLY)
            yield "delta", {"text": NO_EVIDENCE_REPLY}
            yield from self._finish(run, retrieval, [], [])
            return

        yield from self._compose(run, retrieval, passages, planned)
        if not run.kept and run.route == Route.answer:
            # The model failed and no extractive sentence answers the question either.
            run.route = Route.no_evidence
            run.parts.append(NO_EVIDENCE_REPLY)
            yield "delta", {"text": NO_EVIDENCE_REPLY}
            yield from self._finish(run, retrieval, [], [])
            return
        if verdict.care_note and verdict.route == Route.answer:
            run.parts.append(safety.care_note())
            yield "delta", {"text": safety.care_note()}
        with run.stage("hedge"):
            hedges = hedges_for(
                [(item.text, [passages[n - 1].chunk for n in item.cites]) for item in run.kept]
            )
        for hedge in hedges:
            run.parts.append(hedge)
            yield "delta", {"text": hedge}
        yield from self._finish(run, retrieval, passages, hedges)

    # ---- stages ---------------------------------------------------------------------------

    def _with_qualifiers(self, passages: list[Passage]) -> list[Passage]:
        """Add the passages that state facts qualifying what was retrieved (`vs:` marks).

        A retrieved press-release claim that goes beyond the paper must be answerable with the
        paper's wording beside it, even when retrieval did not bring that passage.
        """
        stated = {f for p in passages for m in p.chunk.marks for f in m.facts}
        needed = {q for p in passages for m in p.chunk.marks for q in m.qualified_by} - stated
        if not needed:
            return passages
        snapshot = self.store.snapshot()
        present = {p.chunk.id for p in passages}
        extra: list[Passage] = []
        for fact in sorted(needed):
            for chunk in snapshot.by_fact.get(fact, []):
                if chunk.id not in present:
                    extra.append(Passage(chunk, 0.0, 0.0, 0.0))
                    present.add(chunk.id)
                    break
        return [*passages, *extra]

    def _model_check(self, run: _Run, verdict: TriageResult) -> TriageResult:
        """Let the configured model raise the route to crisis or emergency (never lower it)."""
        if verdict.route in (Route.crisis, Route.emergency):
            return verdict
        if not (self.settings.model and self.settings.safety_model_check):
            return verdict
        route = model_severity(run.question, run.history, self.settings)
        if route is None:
            return verdict
        log.info(json.dumps({"trace_id": run.trace_id, "safety_model_check": route.value}))
        return replace(verdict, route=route, reason=f"{route.value}:model_check")

    def _fixed(self, run: _Run, verdict: TriageResult) -> Iterator[Event]:
        resources: list[Resource] = []
        run.route = verdict.route
        run.mode = "fixed"
        if verdict.route == Route.crisis:
            text = safety.crisis_reply(verdict.reason, verdict.spanish)
            resources = list(safety.RESOURCES_CRISIS)
        elif verdict.route == Route.emergency:
            text, resources = (
                safety.emergency_reply(verdict.reason, verdict.spanish),
                list(safety.RESOURCES_EMERGENCY),
            )
        elif verdict.reason.startswith("injection"):
            text = safety.injection_refusal()
        else:
            text = safety.scope_reply()
        yield "meta", {"trace_id": run.trace_id, "route": run.route.value}
        yield "delta", {"text": text}
        yield "citations", {"citations": []}
        answer = Answer(
            answer=text,
            route=run.route,
            resources=resources,
            mode="fixed",
            trace_id=run.trace_id,
            disclaimer=safety.DISCLAIMER,
            timings_ms=run.timings,
        )
        self._log(run, answer)
        yield "done", answer.model_dump(mode="json")

    def _compose(
        self,
        run: _Run,
        retrieval: Retrieval,
        passages: list[Passage],
        planned: list[VerifiedSentence] | None = None,
    ) -> Iterator[Event]:
        """The answer's sentences: `planned` extractive ones, or the model's with fallback."""
        if planned is None and self.settings.model:
            from assistant.compose.llm import LLMComposer

            composer = LLMComposer(self.settings, self.breaker)
            texts = [strip_instructions(p.chunk.text) for p in passages]
            pending: list[VerifiedSentence] = []
            emitted = cited = 0
            try:
                with run.stage("compose"):
                    for sentence in sentences_from_stream(
                        composer.stream(run.question, passages, run.history)
                    ):
                        with run.stage("verify"):
                            kept, reason, _ = verify_sentence(
                                sentence, texts, self.threshold, self.embedder
                            )
                        if kept is not None and not dose_allowed(
                            kept.text, run.question, run.route
                        ):
                            kept, reason = None, "dose figure out of place"
                        if kept is None:
                            log.info(json.dumps({"trace_id": run.trace_id, "dropped": reason}))
                            run.record.dropped.append(Dropped(sentence, reason))
                            continue
                        pending.append(kept)
                        cited += bool(kept.cites)
                        # Hold sentences back until enough cited ones have passed: a reply of
                        # pleasantries alone is no answer.
                        if emitted or cited >= self.settings.min_verified_sentences:
                            for item in pending:
                                yield "delta", {"text": self._emit(run, item, passages)}
                                emitted += 1
                            pending = []
            except ComposerError as exc:
                log.warning(json.dumps({"trace_id": run.trace_id, "llm_error": str(exc)}))
            finally:
                run.record.llm_calls.extend(composer.calls)
            if emitted or cited >= self.settings.min_verified_sentences:
                for item in pending:
                    yield "delta", {"text": self._emit(run, item, passages)}
                yield from self._qualify(run, passages)
                run.mode, run.model = "llm", composer.used_model
                return
            if emitted == 0:
                reason = composer.skipped or (
                    "model_error" if any(c.error for c in composer.calls) else "unverified"
                )
                log.info(
                    json.dumps(
                        {"trace_id": run.trace_id, "fallback": "extractive", "reason": reason}
                    )
                )
                run.record.fallback = True
                run.record.fallback_reason = reason
        if planned is None:
            planned = self._extractive(run, retrieval, passages, run.route)
        run.mode, run.model = "extractive", None
        for kept in planned:
            yield "delta", {"text": self._emit(run, kept, passages)}

    def _extractive(
        self, run: _Run, retrieval: Retrieval, passages: list[Passage], route: Route
    ) -> list[VerifiedSentence]:
        """The extractive composer's answer, verified, without dose figures out of place."""
        texts = [strip_instructions(p.chunk.text) for p in passages]
        with run.stage("compose"):
            draft = self.extractive.compose(
                retrieval.query, retrieval.query_vector, passages, run.question
            )
        kept: list[VerifiedSentence] = []
        with run.stage("verify"):
            for sentence in split_answer(draft):
                item, reason, _ = verify_sentence(sentence, texts, self.threshold, self.embedder)
                if item is not None and not dose_allowed(item.text, run.question, route):
                    item, reason = None, "dose figure out of place"
                if item is None:
                    run.record.dropped.append(Dropped(sentence, reason))
                else:
                    kept.append(item)
        return kept

    def _qualify(self, run: _Run, passages: list[Passage]) -> Iterator[Event]:
        """After a model's answer, the statements the corpus says must qualify its claims.

        The extractive composer places them itself (`qualify`); a model may leave them out,
        so a claim resting on a source sentence marked `vs:` (a press-release overclaim, one
        side of a guideline disagreement) gets the qualifying sentence quoted after the answer.
        """
        stated: set[str] = set()
        needed: dict[str, str] = {}  # qualifying fact -> the claim it qualifies
        for item in run.kept:
            for n in item.cites:
                chunk = passages[n - 1].chunk
                span = supporting_span(item.text, chunk)
                mark = chunk.mark_at(*span) if span else None
                if mark is not None:
                    stated.update(mark.facts)
                    for fact in mark.qualified_by:
                        needed.setdefault(fact, item.text)
        for fact, claim in needed.items():
            if fact in stated:
                continue
            found = _sentence_stating(fact, passages, claim)
            if found is not None:
                n, text = found
                stated.add(fact)
                yield "delta", {"text": self._emit(run, VerifiedSentence(text, [n], 1.0), passages)}

    def _emit(self, run: _Run, item: VerifiedSentence, passages: list[Passage]) -> str:
        """Renumber a verified sentence's citations and attribute press-release-only claims."""
        for n in item.cites:
            run.numbering.setdefault(n, len(run.numbering) + 1)
        text = item.text
        if item.cites and all(
            passages[n - 1].chunk.source_type == "press_release" for n in item.cites
        ):
            text = attribute_to_press_release(text, passages[item.cites[0] - 1].chunk.text)
        text = with_markers(text, [run.numbering[n] for n in item.cites])
        run.kept.append(item)
        run.parts.append(text)
        return text

    def _finish(
        self, run: _Run, retrieval: Retrieval, passages: list[Passage], hedges: list[str]
    ) -> Iterator[Event]:
        citations = self._citations(run, passages)
        yield "citations", {"citations": [c.model_dump(mode="json") for c in citations]}
        answer = Answer(
            answer=_join(run.parts),
            citations=citations,
            route=run.route,
            hedges=hedges,
            resources=run.resources,
            mode="llm" if run.mode == "llm" else "extractive",
            model=run.model,
            trace_id=run.trace_id,
            disclaimer=safety.DISCLAIMER,
            timings_ms=run.timings,
            retrieved=[
                Retrieved(
                    rank=i + 1,
                    chunk_id=p.chunk.id,
                    source_id=p.chunk.source_id,
                    title=p.chunk.title,
                    topics=list(p.chunk.topics),
                    evidence=p.chunk.evidence,
                    score=round(p.score, 6),
                )
                for i, p in enumerate(retrieval.passages)
            ],
        )
        self._log(run, answer)
        yield "done", answer.model_dump(mode="json")

    def _citations(self, run: _Run, passages: list[Passage]) -> list[Citation]:
        citing: dict[int, list[str]] = {}
        for item in run.kept:
            for n in item.cites:
                citing.setdefault(n, []).append(item.text)
        out = []
        for n, number in sorted(run.numbering.items(), key=lambda kv: kv[1]):
            chunk = passages[n - 1].chunk
            quote, start, end = _best_quote(chunk, citing.get(n, []), self.embedder)
            out.append(
                Citation(
                    n=number,
                    chunk_id=chunk.id,
                    source_id=chunk.source_id,
                    title=chunk.title,
                    url=chunk.url,
                    source_type=chunk.source_type,
                    evidence=chunk.evidence,
                    quote=quote,
                    start=start,
                    end=end,
                )
            )
        return out

    def _log(self, run: _Run, answer: Answer) -> None:
        run.record.answer = answer
        run.record.retrieved = list(answer.retrieved)
        run.record.hedges = list(answer.hedges)
        # The question itself is health information: log its size, not its text.
        log.info(
            json.dumps(
                {
                    "event": "answer",
                    "trace_id": run.trace_id,
                    "route": answer.route.value,
                    "mode": answer.mode,
                    "model": answer.model,
                    "citations": len(answer.citations),
                    "question_chars": len(run.question),
                    "timings_ms": run.timings,
                }
            )
        )


def _sentence_stating(fact: str, passages: list[Passage], claim: str) -> tuple[int, str] | None:
    """The passage sentence marked as stating `fact` that shares most words with `claim`."""
    words = set(tokenize(claim))
    best: tuple[int, str] | None = None
    best_overlap = -1
    for n, passage in enumerate(passages, start=1):
        for mark in passage.chunk.marks:
            if fact in mark.facts:
                text = passage.chunk.text[mark.start : mark.end].strip()
                overlap = len(words & set(tokenize(text)))
                if overlap > best_overlap:
                    best, best_overlap = (n, text), overlap
    return best


def _join(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _best_quote(chunk: StoredChunk, citing: list[str], embedder: Embedder) -> tuple[str, int, int]:
    """The chunk sentence closest to what cites it, with offsets in the cleaned source text."""
    sentences = split_passage(chunk.text)
    if not sentences or not citing:
        return chunk.text, chunk.start, chunk.end
    # A heading ("The Seefried 2025 study") is contained in many sentences but supports none.
    sentences = [s for s in sentences if ends_sentence(s.text)] or sentences
    for s in sentences:
        if any(s.text == c or s.text in c or c in s.text for c in citing):
            return s.text, chunk.start + s.start, chunk.start + s.end
    vectors = embedder.encode_cached([s.text for s in sentences])
    target = embedder.encode_cached(citing).mean(axis=0)
    best = sentences[int(np.argmax(vectors @ target))]
    return best.text, chunk.start + best.start, chunk.start + best.end
