"""The store: one Chroma collection of chunks plus a manifest, and the BM25 index derived from it.

Consistency model (why the manifest exists):
- Chunk ids are deterministic (source id, position and a hash of the text and source version), so
  a re-ingest of unchanged text finds every id already present and embeds nothing.
- A source becomes visible only when its manifest record (one Chroma row, written atomically)
  names its chunk ids. Ingest adds the new chunks first, then flips the manifest record, and
  deletes the retired chunks only after readers have had time to see the flip. Readers filter
  every result through the manifest they loaded, so they never see half a source.
- A job killed at any point leaves rows that no manifest names (orphans) or a manifest that
  still names the old chunks; the next job sweeps orphans and completes the flip.
- The generation readers poll is a digest of the manifest, not a random token, so "readers are
  current" is a fact any process can check: `publish()` rewrites the generation whenever it does
  not match the manifest. Every ingest run calls it, so a job killed between a manifest write
  and its generation bump is completed by the next run even when that run has nothing to write.
  The time of the last bump travels with the generation, so the sweep that follows a recovery
  still waits for readers to move before deleting what their old manifest names.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.errors import StoreError
from assistant.index.faults import crash_point
from assistant.index.lexical import BM25Index
from assistant.marks import ChunkMark, marks_from_json
from assistant.settings import Settings, quiet_third_parties

MANIFEST_SUFFIX = "_sources"
GENERATION_ID = "__generation__"
# Chroma refuses batches above ~5,461 rows.
BATCH = 4000


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as readers see it: text plus the source metadata a citation needs."""

    id: str
    text: str
    source_id: str
    title: str
    url: str
    source_type: str
    evidence: str
    topics: tuple[str, ...]
    position: int
    start: int
    end: int
    publisher: str = ""
    published: str = ""
    # Fact marks placed in `text` (empty for sources written without them).
    marks: tuple[ChunkMark, ...] = ()

    def mark_at(self, start: int, end: int) -> ChunkMark | None:
        """The mark covering the text span [start, end), if any."""
        for mark in self.marks:
            if mark.start <= start and end <= mark.end + 1:
                return mark
        return None

    @classmethod
    def from_row(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> StoredChunk:
        return cls(
            id=chunk_id,
            text=text,
            source_id=str(meta.get("source_id", "")),
            title=str(meta.get("title", "")),
            url=str(meta.get("url", "")),
            source_type=str(meta.get("source_type", "")),
            evidence=str(meta.get("evidence", "none")),
            topics=tuple(t for t in str(meta.get("topics", "")).split(",") if t),
            position=int(meta.get("position", 0)),
            start=int(meta.get("start", 0)),
            end=int(meta.get("end", 0)),
            publisher=str(meta.get("publisher", "")),
            published=str(meta.get("published", "")),
            marks=marks_from_json(str(meta.get("marks", ""))),
        )


@dataclass(frozen=True)
class Hit:
    """A chunk with the score one retriever gave it (cosine similarity or BM25)."""

    chunk: StoredChunk
    score: float


@dataclass(frozen=True)
class ManifestEntry:
    """What is visible of one source: its version hash and its chunk ids."""

    source_id: str
    source_hash: str
    chunk_ids: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> str:
        return json.dumps(
            {"source_hash": self.source_hash, "chunk_ids": list(self.chunk_ids), "meta": self.meta}
        )

    @classmethod
    def from_document(cls, source_id: str, document: str) -> ManifestEntry:
        data = json.loads(document)
        return cls(source_id, data["source_hash"], tuple(data["chunk_ids"]), data.get("meta", {}))


def chunk_id(source_id: str, source_hash: str, position: int, text: str) -> str:
    """Deterministic id: the source, the chunk's position and a hash of its text and version."""
    digest = hashlib.sha256(f"{source_hash}\x00{position}\x00{text}".encode()).hexdigest()[:16]
    return f"{source_id}:{position:04d}:{digest}"


def text_hash(text: str) -> str:
    """Hash of a chunk's text alone: the key for reusing an embedding across versions."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class Snapshot:
    """An immutable view of the visible index: active chunks and their BM25 index."""

    def __init__(self, generation: str, chunks: list[StoredChunk]) -> None:
        self.generation = generation
        self.chunks = chunks
        self.by_id = {c.id: c for c in chunks}
        self.bm25 = BM25Index([c.text for c in chunks])
        # Fact ID -> chunks with a sentence marked as stating it, for qualifying statements.
        self.by_fact: dict[str, list[StoredChunk]] = {}
        for chunk in chunks:
            for fact in {f for m in chunk.marks for f in m.facts}:
                self.by_fact.setdefault(fact, []).append(chunk)


class Store:
    """Reads and writes the chunk collection and its manifest in Chroma."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        quiet_third_parties()
        self.settings = settings
        self.client = client or open_client(settings)
        self.chunks = self.client.get_or_create_collection(
            settings.collection,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        self.manifest_collection = self.client.get_or_create_collection(
            settings.collection + MANIFEST_SUFFIX, embedding_function=None
        )
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    # ---- manifest -------------------------------------------------------------------------

    def manifest(self) -> dict[str, ManifestEntry]:
        """Every visible source, keyed by source id."""
        rows = self.manifest_collection.get(include=["documents"])
        return {
            sid: ManifestEntry.from_document(sid, doc)
            for sid, doc in zip(rows["ids"], rows["documents"] or [], strict=False)
            if sid != GENERATION_ID
        }

    def generation(self) -> str:
        """Changes whenever what readers should see changes (a digest of the manifest)."""
        rows = self.manifest_collection.get(ids=[GENERATION_ID], include=["documents"])
        return rows["documents"][0] if rows["ids"] else ""

    def generation_age(self) -> float:
        """Seconds since the generation last changed; infinite when no time was recorded."""
        rows = self.manifest_collection.get(ids=[GENERATION_ID], include=["metadatas"])
        metas = rows["metadatas"] or []
        published = (metas[0] or {}).get("published_at") if rows["ids"] and metas else None
        if not isinstance(published, int | float):
            return float("inf")
        return max(0.0, time.time() - float(published))

    def publish(self) -> bool:
        """Make readers pick up the manifest as it is now; True when the generation changed.

        A no-op when the generation already matches the manifest, so calling it after every
        run costs one read and repairs a run that died between a manifest write and its bump.
        """
        rows = self.manifest_collection.get(include=["documents"])
        digest = hashlib.sha256()
        for sid, doc in sorted(zip(rows["ids"], rows["documents"] or [], strict=False)):
            if sid != GENERATION_ID:
                digest.update(f"{sid}\x00{doc}\x00".encode())
        generation = digest.hexdigest()[:32]
        if generation == self.generation():
            return False
        self.manifest_collection.upsert(
            ids=[GENERATION_ID],
            embeddings=[[1.0]],
            documents=[generation],
            metadatas=[{"published_at": time.time()}],
        )
        return True

    def commit_source(self, entry: ManifestEntry) -> None:
        """Make a source's chunks the visible version (one atomic row write)."""
        self.commit_sources([entry])

    def commit_sources(self, entries: Sequence[ManifestEntry]) -> None:
        """Make several sources' chunks visible; each source's row flips atomically."""
        for start in range(0, len(entries), BATCH):
            batch = entries[start : start + BATCH]
            self.manifest_collection.upsert(
                ids=[e.source_id for e in batch],
                embeddings=[[1.0]] * len(batch),
                documents=[e.to_document() for e in batch],
            )
        if entries:
            crash_point("manifest_upserted")
            self.publish()

    def remove_source(self, source_id: str) -> None:
        """Hide a source; its chunks become orphans for the sweep."""
        self.manifest_collection.delete(ids=[source_id])
        crash_point("source_removed")
        self.publish()

    # ---- chunk rows -----------------------------------------------------------------------

    def stored_text_hashes(self) -> dict[str, str]:
        """Every stored chunk id (visible or not) with its text hash."""
        rows = self.chunks.get(include=["metadatas"])
        return {
            cid: str((meta or {}).get("text_hash", ""))
            for cid, meta in zip(rows["ids"], rows["metadatas"] or [], strict=False)
        }

    def embeddings_for(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors for the given ids (to reuse instead of recomputing)."""
        out: dict[str, np.ndarray] = {}
        for batch in _batched(list(ids), BATCH):
            rows = self.chunks.get(ids=batch, include=["embeddings"])
            for cid, vec in zip(rows["ids"], rows["embeddings"], strict=False):
                out[cid] = np.asarray(vec, dtype=np.float32)
        return out

    def add_chunks(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        embeddings: np.ndarray,
    ) -> None:
        """Write chunk rows (invisible until a manifest names them)."""
        for start in range(0, len(ids), BATCH):
            end = start + BATCH
            self.chunks.upsert(
                ids=list(ids[start:end]),
                documents=list(texts[start:end]),
                metadatas=list(metadatas[start:end]),
                embeddings=embeddings[start:end],
            )

    def chunk_metadata(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored metadata of the given chunk ids (visible or not); unknown ids are left out."""
        out: dict[str, dict[str, Any]] = {}
        for batch in _batched(list(ids), BATCH):
            rows = self.chunks.get(ids=batch, include=["metadatas"])
            for cid, meta in zip(rows["ids"], rows["metadatas"] or [], strict=False):
                out[cid] = dict(meta or {})
        return out

    def delete_chunks(self, ids: Iterable[str]) -> int:
        """Delete chunk rows; returns how many were asked for."""
        ids = list(ids)
        for batch in _batched(ids, BATCH):
            self.chunks.delete(ids=batch)
        return len(ids)

    # ---- reading --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The current visible index, reloaded when the generation has changed.

        The generation is checked at most every `index_refresh_seconds`; ingest waits twice
        that long before deleting retired chunks, so a reader's snapshot never names rows that
        are gone.
        """
        now = time.monotonic()
        snap = self._snapshot
        if snap is not None and now - self._checked_at < self.settings.index_refresh_seconds:
            return snap
        with self._lock, self._unavailable_as_store_error():
            generation = self.generation()
            self._checked_at = time.monotonic()
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = self._load_snapshot(generation)
            return self._snapshot

    @contextmanager
    def _unavailable_as_store_error(self) -> Iterator[None]:
        """Turn the many exception types of an unreachable or broken index into StoreError."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(
                f"The {describe_index(self.settings)} cannot be read: {str(exc)[:200]}"
            ) from exc

    def _load_snapshot(self, generation: str) -> Snapshot:
        manifest = self.manifest()
        ids = [
            cid
            for entry in sorted(manifest.values(), key=lambda e: e.source_id)
            for cid in entry.chunk_ids
        ]
        chunks: list[StoredChunk] = []
        for batch in _batched(ids, BATCH):
            rows = self.chunks.get(ids=batch, include=["documents", "metadatas"])
            found = {
                cid: StoredChunk.from_row(cid, doc, meta or {})
                for cid, doc, meta in zip(
                    rows["ids"], rows["documents"], rows["metadatas"], strict=False
                )
            }
            chunks.extend(found[cid] for cid in batch if cid in found)
        return Snapshot(generation, chunks)

    def dense(self, vector: np.ndarray, k: int) -> list[Hit]:
        """The k visible chunks nearest to a query vector, by cosine similarity."""
        snap = self.snapshot()
        if not snap.chunks:
            return []
        # Over-fetch: rows of a source mid-replacement are stored but not yet visible, and an
        # embedded client's in-memory vector index keeps returning rows that another process
        # has deleted. Ask again for more when too few of the results are visible.
        n = max(k * 2, k + 8)
        for _ in range(4):
            with self._unavailable_as_store_error():
                result = self.chunks.query(
                    query_embeddings=[np.asarray(vector, dtype=np.float32)],
                    n_results=n,
                    include=["distances"],
                )
            ids, distances = result["ids"][0], result["distances"][0]
            hits = [
                Hit(snap.by_id[cid], 1.0 - float(dist))
                for cid, dist in zip(ids, distances, strict=False)
                if cid in snap.by_id
            ][:k]
            if len(hits) >= k or len(ids) < n:
                return hits
            n *= 4
        return hits

    def lexical(self, query: str, k: int) -> list[Hit]:
        """The k visible chunks with the best BM25 score for a query."""
        snap = self.snapshot()
        return [Hit(snap.chunks[i], score) for i, score in snap.bm25.top(query, k)]

    def get_chunk(self, chunk_id_: str) -> StoredChunk | None:
        """A visible chunk by id, or None."""
        return self.snapshot().by_id.get(chunk_id_)


def open_client(settings: Settings) -> Any:
    """A Chroma client: HTTP when a host is configured, else the embedded folder."""
    quiet_third_parties()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.chroma_host:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.data_dir), settings=chroma_settings)
    except Exception as exc:  # chromadb raises several unrelated types here
        raise StoreError(f"Cannot open the {describe_index(settings)}: {exc}") from exc


def describe_index(settings: Settings) -> str:
    """Where the index lives, for error messages."""
    if settings.chroma_host:
        return f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
    return f"index folder {settings.data_dir}"


def _batched(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
