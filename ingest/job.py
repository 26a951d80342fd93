"""The ingest job: load, clean, de-duplicate, chunk, embed and index sources."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import IngestError
from assistant.index.faults import armed_point, crash_point
from assistant.index.store import (
    BATCH,
    ManifestEntry,
    Store,
    chunk_id,
    describe_index,
    text_hash,
)
from assistant.marks import Mark, marks_to_json
from assistant.models import SourceMeta
from assistant.settings import Settings
from ingest.chunk import Chunk, chunk_text
from ingest.clean import SeenPassages, dedupe_source, normalise
from ingest.loaders import SUPPORTED_SUFFIXES, LoadedSource, LoadError, discover, load_file
from ingest.marks import place_marks

# Bump when cleaning or chunking changes, so every source is re-chunked once.
PIPELINE_VERSION = "2"  # 2: fact marks travel with chunks
# Orphans are deleted in Chroma-sized batches; a killed sweep leaves the rest for the next run.
SWEEP_BATCH = BATCH


@dataclass
class IngestReport:
    """What one ingest run did; `summary()` is the line printed at the end."""

    sources: int = 0
    sources_changed: int = 0
    sources_removed: int = 0
    chunks_added: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    orphans_swept: int = 0
    embedded: int = 0
    reused_embeddings: int = 0
    duplicates_within: int = 0
    duplicates_across: list[str] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # Files in the given folders that are not a supported format, with the reason.
    unsupported: list[tuple[Path, str]] = field(default_factory=list)
    # Sources indexed with inferred metadata (no front matter): likely not meant as evidence.
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"{self.sources} sources ({self.sources_changed} changed, {self.sources_removed} removed): "
            f"chunks {self.chunks_added} added, {self.chunks_unchanged} unchanged, "
            f"{self.chunks_removed} removed; {self.embedded} embedded; "
            f"{len(self.errors)} failed; {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class PreparedSource:
    """A cleaned, chunked source with the hash that identifies this version of it."""

    meta: SourceMeta
    path: Path
    text: str
    chunks: list[Chunk]
    source_hash: str
    marks: tuple[Mark, ...] = ()

    def embed_input(self, chunk: Chunk) -> str:
        # The title gives short chunks context ("In the Goebel 2021 study..." without the name).
        return f"{self.meta.title}. {chunk.text}"

    def chunk_metadata(self, chunk: Chunk, embed_hash: str) -> dict[str, Any]:
        meta = self.meta
        return {
            "source_id": meta.id,
            "title": meta.title,
            "url": meta.citation_url(),
            "source_type": meta.source_type,
            "evidence": meta.evidence,
            "topics": ",".join(meta.topics),
            "publisher": meta.publisher,
            "published": meta.published,
            "text_origin": meta.text_origin,
            "position": chunk.position,
            "start": chunk.start,
            "end": chunk.end,
            "text_hash": embed_hash,
            "source_hash": self.source_hash,
            "marks": marks_to_json(place_marks(chunk.text, list(self.marks))),
        }


# A chunk to store: (source, chunk, chunk id, embedding input, hash of the input).
Row = tuple[PreparedSource, Chunk, str, str, str]


def prepare_sources(
    loaded: list[LoadedSource], settings: Settings, report: IngestReport
) -> list[PreparedSource]:
    """Clean, de-duplicate (within and across sources, in id order) and chunk."""
    across = SeenPassages()
    prepared = []
    for source in sorted(loaded, key=lambda s: s.meta.id):
        cleaned = dedupe_source(normalise(source.text), source.meta.id, across)
        report.duplicates_within += cleaned.removed_within
        for passage, other in cleaned.removed_across:
            report.duplicates_across.append(f"{source.meta.id}: '{passage}...' repeats {other}")
        chunks = chunk_text(
            cleaned.text,
            settings.chunk_min_words,
            settings.chunk_max_words,
            settings.chunk_overlap_sentences,
        )
        fingerprint = json.dumps(
            {
                "v": PIPELINE_VERSION,
                "meta": source.meta.model_dump(mode="json"),
                "text": cleaned.text,
                "marks": [[m.text, m.facts, m.evidence, m.qualified_by] for m in source.marks],
                "chunking": [
                    settings.chunk_min_words,
                    settings.chunk_max_words,
                    settings.chunk_overlap_sentences,
                ],
            },
            sort_keys=True,
        )
        source_hash = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        # Mark texts are cleaned like the text they cover, so they can be found in its chunks.
        marks = tuple(replace(m, text=normalise(m.text)) for m in source.marks)
        prepared.append(
            PreparedSource(source.meta, source.path, cleaned.text, chunks, source_hash, marks)
        )
    return prepared


def cohort_hash(loaded: list[LoadedSource], settings: Settings) -> str:
    """Identifies a run's whole input: every source's metadata and raw text, and the settings.

    Cross-source de-duplication makes each source's cleaned text depend on the others, so only
    an identical cohort may skip preparation.
    """
    digest = hashlib.sha256(PIPELINE_VERSION.encode())
    digest.update(
        json.dumps(
            [settings.chunk_min_words, settings.chunk_max_words, settings.chunk_overlap_sentences]
        ).encode()
    )
    for source in sorted(loaded, key=lambda s: s.meta.id):
        digest.update(json.dumps(source.meta.model_dump(mode="json"), sort_keys=True).encode())
        digest.update(hashlib.sha256(source.text.encode()).digest())
        digest.update(repr(source.marks).encode())
    return digest.hexdigest()[:16]


def run_ingest(
    paths: list[Path],
    settings: Settings,
    store: Store | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """Bring the index in line with the sources under `paths`.

    Unchanged sources cost no embedding; changed ones replace their chunks atomically; sources
    that were ingested from these paths and are gone now are removed. A file that fails to load
    is reported and its previously indexed version is kept.
    """
    started = time.perf_counter()
    armed_point()  # a misspelt crash point fails here, before anything is written
    report = IngestReport()
    store = store or Store(settings)
    roots = [p.resolve() for p in paths]

    loaded, failed_paths = _load_all(paths, report)

    manifest = store.manifest()
    report.sources = len(loaded)
    cohort = cohort_hash(loaded, settings)
    if loaded and all(
        s.meta.id in manifest and manifest[s.meta.id].meta.get("cohort") == cohort for s in loaded
    ):
        # The same inputs as the run that built what is visible: cleaning, de-duplication and
        # chunking would reproduce it exactly, so skip them.
        prepared: list[PreparedSource] = []
        report.chunks_unchanged = sum(len(manifest[s.meta.id].chunk_ids) for s in loaded)
    else:
        prepared = prepare_sources(loaded, settings, report)

    # Sources whose text or metadata changed, and sources whose manifest row only needs the new
    # cohort recorded (same chunk ids, nothing to embed).
    content_changed = {
        p.meta.id
        for p in prepared
        if p.meta.id not in manifest or manifest[p.meta.id].source_hash != p.source_hash
    }
    changed = [
        p
        for p in prepared
        if p.meta.id in content_changed or manifest[p.meta.id].meta.get("cohort") != cohort
    ]
    report.chunks_unchanged += sum(
        len(p.chunks) for p in prepared if p.meta.id not in content_changed
    )
    report.sources_changed = len(content_changed)

    if changed:
        _write_changed(changed, manifest, cohort, store, settings, report, embed, progress)

    current_ids = {s.meta.id for s in loaded}
    for source_id, entry in manifest.items():
        if source_id in current_ids:
            continue
        path = Path(entry.meta.get("path", ""))
        if path in failed_paths or not _under(path, roots):
            continue
        store.remove_source(source_id)
        report.sources_removed += 1
        report.chunks_removed += len(entry.chunk_ids)

    # Always, not only when this run flipped something: a run killed between a manifest write
    # and its generation bump left readers on the old view, and this run may find nothing to do.
    store.publish()
    crash_point("generation_bumped")
    report.orphans_swept = _sweep_orphans(store, settings)
    report.seconds = time.perf_counter() - started
    return report


def _write_changed(
    changed: list[PreparedSource],
    manifest: dict[str, ManifestEntry],
    cohort: str,
    store: Store,
    settings: Settings,
    report: IngestReport,
    embed: Callable[[list[str]], np.ndarray] | None,
    progress: bool | None,
) -> None:
    """Embed what is new (reusing stored vectors by text hash), write it, then flip manifests."""
    stored = store.stored_text_hashes()
    by_hash: dict[str, str] = {}
    for cid, h in stored.items():
        by_hash.setdefault(h, cid)
    rows: list[Row] = []
    for source in changed:
        for chunk in source.chunks:
            cid = chunk_id(source.meta.id, source.source_hash, chunk.position, chunk.text)
            text_in = source.embed_input(chunk)
            rows.append((source, chunk, cid, text_in, text_hash(text_in)))
    missing = [r for r in rows if r[2] not in stored]
    reuse_ids = {r[4]: by_hash[r[4]] for r in missing if r[4] in by_hash}
    reused = store.embeddings_for(sorted(set(reuse_ids.values())))
    waiting: dict[str, list[Row]] = {}  # embedding input -> the new rows that need its vector
    for r in missing:
        if r[4] not in reuse_ids:
            waiting.setdefault(r[3], []).append(r)
    to_embed = list(waiting)
    report.embedded = len(to_embed)
    report.reused_embeddings = len(missing) - sum(len(v) for v in waiting.values())

    # Rows are written on another thread while the next batch is embedded. Every new row is
    # still written before any source flips: the writer is drained before the commit below.
    with ChunkWriter(store) as writer:
        recycled = [r for r in missing if r[4] in reuse_ids]
        if recycled:
            writer.write(recycled, np.stack([reused[reuse_ids[r[4]]] for r in recycled]))
        for texts, vectors in _embed_batches(to_embed, settings, embed, progress):
            batch = [r for text in texts for r in waiting[text]]
            by_text = dict(zip(texts, vectors, strict=True))
            writer.write(batch, np.stack([by_text[r[3]] for r in batch]))
    crash_point("chunks_written")

    ids_by_source: dict[str, list[str]] = {}
    for r in rows:
        ids_by_source.setdefault(r[0].meta.id, []).append(r[2])
    entries = []
    ingested = datetime.now(UTC).isoformat(timespec="seconds")
    for source in changed:
        new_ids = tuple(ids_by_source.get(source.meta.id, ()))
        old_ids = set(manifest[source.meta.id].chunk_ids) if source.meta.id in manifest else set()
        entries.append(
            ManifestEntry(
                source.meta.id,
                source.source_hash,
                new_ids,
                {
                    "path": str(source.path.resolve()),
                    "cohort": cohort,
                    "title": source.meta.title,
                    "ingested": ingested,
                },
            )
        )
        report.chunks_added += len(set(new_ids) - old_ids)
        report.chunks_removed += len(old_ids - set(new_ids))
    store.commit_sources(entries)


def _load_all(paths: list[Path], report: IngestReport) -> tuple[list[LoadedSource], set[Path]]:
    """Every evidence source under the paths; failures are recorded in the report."""
    loaded: list[LoadedSource] = []
    failed_paths: set[Path] = set()
    seen_ids: dict[str, Path] = {}
    unsupported: list[Path] = []
    for path in discover(paths, unsupported):
        try:
            sources = load_file(path)
        except LoadError as exc:
            report.errors.append(exc)
            failed_paths.add(path.resolve())
            continue
        for source in sources:
            if source.meta.use != "evidence":
                report.skipped.append(f"{source.meta.id} (use: {source.meta.use})")
                continue
            if source.meta.id in seen_ids:
                report.errors.append(
                    LoadError(
                        path,
                        f"duplicate source id {source.meta.id!r} (also in {seen_ids[source.meta.id]})",
                    )
                )
                failed_paths.add(path.resolve())
                continue
            seen_ids[source.meta.id] = path
            loaded.append(source)
            if source.inferred:
                report.warnings.append(
                    f"{path}: no front matter or source metadata; indexed as "
                    f"{source.meta.id!r} ({source.meta.source_type}, evidence: "
                    f"{source.meta.evidence}). If it is not a source, remove it with "
                    f"`fibro sources remove {source.meta.id}`."
                )
    report.unsupported = [
        (
            p,
            f"unsupported format {p.suffix.lower() or '(no suffix)'!r}; use one of "
            f"{sorted(SUPPORTED_SUFFIXES)}",
        )
        for p in unsupported
    ]

    return loaded, failed_paths


def remove_sources(
    source_ids: Iterable[str], settings: Settings, store: Store | None = None
) -> tuple[list[str], list[str], int]:
    """Take sources out of the index the way a run does when their file is gone.

    Returns the ids removed, the ids not in the index, and how many chunks went with them.
    """
    store = store or Store(settings)
    manifest = store.manifest()
    removed, unknown, chunks = [], [], 0
    for source_id in dict.fromkeys(source_ids):
        entry = manifest.get(source_id)
        if entry is None:
            unknown.append(source_id)
            continue
        store.remove_source(source_id)
        removed.append(source_id)
        chunks += len(entry.chunk_ids)
    if removed:
        _sweep_orphans(store, settings)
    return removed, unknown, chunks


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _sweep_orphans(store: Store, settings: Settings) -> int:
    """Delete rows no manifest names: retired versions and leftovers of a killed job.

    Readers re-check the generation every `index_refresh_seconds`; the rows their old manifest
    names stay until two periods after the last bump. The wait is measured from the bump itself
    (recorded with the generation), not from this run's start, so a run that only repairs a
    killed job's bump waits too, and a run long after the last change does not wait at all.
    """
    period = 2 * settings.index_refresh_seconds
    # Clamped: a clock that differs between this machine and the one that bumped must not
    # stretch the wait beyond what readers need.
    time.sleep(min(period, max(0.0, period - store.generation_age())))
    visible = {cid for entry in store.manifest().values() for cid in entry.chunk_ids}
    orphans = [cid for cid in store.stored_text_hashes() if cid not in visible]
    for start in range(0, len(orphans), SWEEP_BATCH):
        store.delete_chunks(orphans[start : start + SWEEP_BATCH])
        crash_point("orphans_partly_swept")
    return len(orphans)


def _embed_batches(
    texts: list[str],
    settings: Settings,
    embed: Callable[[list[str]], np.ndarray] | None,
    progress: bool | None,
) -> Iterator[tuple[list[str], np.ndarray]]:
    """Embed texts a few model batches at a time, yielding each group as soon as it is done.

    Yielding groups (rather than returning all vectors at the end) is what lets the writer
    store one group while the model encodes the next.
    """
    if not texts:
        return
    from tqdm import tqdm

    encode = embed or _model_encoder(settings)
    # Sort by length so each batch pads little; several model batches per group so a write
    # (one Chroma transaction) is not paid per 32 rows.
    order = sorted(texts, key=len)
    size = settings.embed_batch_size * 4
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not show) as bar:
        for start in range(0, len(order), size):
            group = order[start : start + size]
            yield group, np.asarray(encode(group), dtype=np.float32)
            bar.update(len(group))


def _model_encoder(settings: Settings) -> Callable[[list[str]], np.ndarray]:
    """The bundled model's encode at the configured batch size."""
    from assistant.index.embedder import get_embedder

    embedder = get_embedder(settings.embedding_model_path)
    return lambda group: embedder.encode(group, batch_size=settings.embed_batch_size, whole=True)


class ChunkWriter:
    """Writes chunk rows on one background thread, at most `pending` writes behind the caller.

    The bound keeps memory flat (a slow index makes the encoder wait instead of piling up
    vectors) and keeps a failure close to its cause: the caller meets a write's error at its
    next `write` or when the block ends, as an IngestError, never as a hang. When the block
    itself fails, queued writes are cancelled and the one in progress is waited for, so no
    thread outlives the job.
    """

    def __init__(self, store: Store, pending: int = 2) -> None:
        self.store = store
        self.pending = pending
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
        self._futures: deque[Future[int]] = deque()
        self.written = 0

    def write(self, rows: list[Row], vectors: np.ndarray) -> None:
        """Queue rows with their vectors; blocks while `pending` writes are outstanding."""
        # Finished writes are collected first, so a failure stops the job at the next batch.
        while self._futures and (len(self._futures) >= self.pending or self._futures[0].done()):
            self._collect()
        self._futures.append(self._pool.submit(self._write, rows, vectors))

    def _write(self, rows: list[Row], vectors: np.ndarray) -> int:
        self.store.add_chunks(
            [r[2] for r in rows],
            [r[1].text for r in rows],
            [r[0].chunk_metadata(r[1], r[4]) for r in rows],
            vectors,
        )
        crash_point("chunks_partly_written")
        return len(rows)

    def _collect(self) -> None:
        future = self._futures.popleft()
        try:
            self.written += future.result()
        except Exception as exc:  # chromadb raises many unrelated types
            raise IngestError(
                f"Writing chunks to the {describe_index(self.store.settings)} failed after "
                f"{self.written} rows: {str(exc)[:300]}. Nothing new is visible yet; run the "
                "ingest again once the index accepts writes (written rows are reused)."
            ) from exc

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None:
                while self._futures:
                    self._collect()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
