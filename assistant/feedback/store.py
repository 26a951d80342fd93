"""The feedback store: answers and their ratings in SQLite or Postgres, through SQLAlchemy 2.

Two tables. `answers` holds one row per finished answer (written by the run observer), so a
rating can later be read beside the question and answer it judged. `feedback` holds one rating
per trace and client: a client that rates the same answer again updates its row, which is what
makes `POST /v1/feedback` idempotent. There is no foreign key between them on purpose: a rating
may arrive for an answer this store never saw (another process, a store that was down when the
answer ended), and it is still worth keeping.

Everything stored about a person's words is masked (`assistant.privacy.mask_text`) by the
callers before it gets here; the client (an `X-Client-Id` or a remote address) is stored as a
SHA-256 digest, enough to tell clients apart and never the address itself. Times are naive UTC,
the same on SQLite (which has no time zones) and Postgres.

The schema is created when the store is first used (`metadata.create_all`); there is no
migration tool yet, so a column added later needs one, or a new table.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from assistant.errors import FeedbackStoreError
from assistant.settings import Settings

log = logging.getLogger("fibro.feedback")

RATINGS = ("up", "down")
SQLITE_FILE = "feedback.sqlite3"


class Base(DeclarativeBase):
    """The feedback store's own metadata (nothing else in the project uses SQLAlchemy)."""


class AnswerRow(Base):
    """One finished answer, masked. Crisis and emergency rows carry no question or answer."""

    __tablename__ = "answers"

    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    question: Mapped[str | None] = mapped_column(Text(), nullable=True)
    answer: Mapped[str | None] = mapped_column(Text(), nullable=True)
    # [{"n", "title", "source_id", "chunk_id"}]: enough to find the passages again.
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON(), default=list)
    session_id: Mapped[str | None] = mapped_column(String(200), nullable=True)


class FeedbackRow(Base):
    """One client's rating of one answer; a second rating from the client updates this row."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("trace_id", "client", name="uq_feedback_trace_client"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=True)
    # Not a foreign key to answers: see the module docstring.
    trace_id: Mapped[str] = mapped_column(String(32), index=True)
    client: Mapped[str] = mapped_column(String(64))
    rating: Mapped[str] = mapped_column(String(4))
    comment: Mapped[str | None] = mapped_column(Text(), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(DateTime(), index=True)
    updated: Mapped[datetime] = mapped_column(DateTime())


@dataclass(frozen=True)
class StoredFeedback:
    """A feedback row as callers see it (the client digest is not part of it)."""

    id: int
    trace_id: str
    rating: str
    comment: str | None
    channel: str
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class RateResult:
    """What `FeedbackStore.rate` did: the row now stored, whether it is new, whether it changed."""

    feedback: StoredFeedback
    created: bool
    changed: bool


@dataclass(frozen=True)
class FeedbackView:
    """A rating with the answer it judged (None fields when the answer was never stored)."""

    feedback: StoredFeedback
    route: str | None = None
    mode: str | None = None
    answer_channel: str | None = None
    question: str | None = None
    answer: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    answered: datetime | None = None


def utcnow() -> datetime:
    """Now, naive UTC (the store's convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


def client_digest(client: str) -> str:
    """The stored form of a client id or address: a digest that tells clients apart."""
    return hashlib.sha256(client.encode("utf-8")).hexdigest()


def database_url(settings: Settings) -> str:
    """`FIBRO_DATABASE_URL`, or the SQLite file in the data folder."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{(Path(settings.data_dir) / SQLITE_FILE).resolve()}"


class FeedbackStore:
    """Answers and ratings in one database; thread-safe, one per process and URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        try:
            self.engine = _engine(url)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise FeedbackStoreError(f"cannot open the feedback store: {_reason(exc)}") from exc

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql" (the dialect's name)."""
        return self.engine.dialect.name

    def ensure_schema(self) -> None:
        """Create the tables if they are missing; retried on next use after a failure."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            try:
                Base.metadata.create_all(self.engine)
            except SQLAlchemyError as exc:
                raise FeedbackStoreError(
                    f"cannot create the feedback tables: {_reason(exc)}"
                ) from exc
            self._schema_ready = True

    @contextmanager
    def _session(self) -> Iterator[Session]:
        self.ensure_schema()
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise FeedbackStoreError(f"feedback store failed: {_reason(exc)}") from exc

    def record_answer(
        self,
        *,
        trace_id: str,
        channel: str,
        route: str,
        mode: str,
        question: str | None,
        answer: str | None,
        citations: list[dict[str, Any]],
        session_id: str | None,
        created: datetime | None = None,
    ) -> None:
        """Store one finished answer (already masked by the caller); a repeat is ignored."""
        row = AnswerRow(
            trace_id=trace_id,
            created=created or utcnow(),
            channel=channel,
            route=route,
            mode=mode,
            question=question,
            answer=answer,
            citations=citations,
            session_id=session_id,
        )
        try:
            with self._session() as session:
                session.add(row)
        except FeedbackStoreError as exc:
            # A trace id is written once; a second write of it is a no-op, not an error.
            if isinstance(exc.__cause__, IntegrityError):
                return
            raise

    def answer_route(self, trace_id: str) -> str | None:
        """The route of a stored answer, None when this store never saw the trace."""
        with self._session() as session:
            route: str | None = session.scalar(
                select(AnswerRow.route).where(AnswerRow.trace_id == trace_id)
            )
            return route

    def rate(
        self, *, trace_id: str, client: str, rating: str, comment: str | None, channel: str
    ) -> RateResult:
        """Store a client's rating of a trace, or update the one it gave before.

        Two requests racing to insert the same (trace, client) are settled by the unique
        constraint: the loser sees the IntegrityError and updates the winner's row instead.
        """
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}")
        digest = client_digest(client)
        for _attempt in range(2):
            try:
                return self._rate_once(trace_id, digest, rating, comment, channel)
            except FeedbackStoreError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise FeedbackStoreError("feedback store failed: the rating kept conflicting; retry")

    def _rate_once(
        self, trace_id: str, digest: str, rating: str, comment: str | None, channel: str
    ) -> RateResult:
        now = utcnow()
        with self._session() as session:
            row = session.scalar(
                select(FeedbackRow).where(
                    FeedbackRow.trace_id == trace_id, FeedbackRow.client == digest
                )
            )
            if row is None:
                row = FeedbackRow(
                    trace_id=trace_id,
                    client=digest,
                    rating=rating,
                    comment=comment,
                    channel=channel,
                    created=now,
                    updated=now,
                )
                session.add(row)
                session.flush()
                return RateResult(_stored(row), created=True, changed=True)
            changed = (row.rating, row.comment, row.channel) != (rating, comment, channel)
            if changed:
                row.rating, row.comment, row.channel, row.updated = rating, comment, channel, now
            return RateResult(_stored(row), created=False, changed=changed)

    def list_feedback(
        self, *, rating: str | None = None, since: datetime | None = None
    ) -> list[FeedbackView]:
        """Ratings, oldest first, each with the answer it judged when that was stored."""
        query = select(FeedbackRow, AnswerRow).join(
            AnswerRow, AnswerRow.trace_id == FeedbackRow.trace_id, isouter=True
        )
        if rating is not None:
            query = query.where(FeedbackRow.rating == rating)
        if since is not None:
            query = query.where(FeedbackRow.updated >= since)
        query = query.order_by(FeedbackRow.created, FeedbackRow.id)
        with self._session() as session:
            rows = session.execute(query).all()
            return [_view(fb, ans) for fb, ans in rows]

    def close(self) -> None:
        """Close the pooled connections (tests, and before a database goes away)."""
        self.engine.dispose()


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets `fibro feedback list` read while the service writes; the busy timeout
            # makes two writers wait for each other instead of failing at once. NORMAL sync
            # (SQLite's advice for WAL) drops the fsync from each commit: a JSON answer, a
            # crisis reply included, is sent after its row is written, and under load an fsync
            # per answer held replies up. A power cut may lose the last rows, never corrupt them.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # An unreachable server must fail an observer or a request in seconds, not minutes.
        connect_args["connect_timeout"] = 5
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _stored(row: FeedbackRow) -> StoredFeedback:
    return StoredFeedback(
        id=row.id,
        trace_id=row.trace_id,
        rating=row.rating,
        comment=row.comment,
        channel=row.channel,
        created=row.created,
        updated=row.updated,
    )


def _view(fb: FeedbackRow, ans: AnswerRow | None) -> FeedbackView:
    if ans is None:
        return FeedbackView(_stored(fb))
    return FeedbackView(
        _stored(fb),
        route=ans.route,
        mode=ans.mode,
        answer_channel=ans.channel,
        question=ans.question,
        answer=ans.answer,
        citations=list(ans.citations or []),
        answered=ans.created,
    )


def _reason(exc: BaseException) -> str:
    # The driver's first line says what failed; the rest repeats the SQL and parameters, which
    # may hold masked user text and have no place in a log line.
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


_stores: dict[str, FeedbackStore] = {}
_stores_lock = threading.Lock()


def get_store(settings: Settings) -> FeedbackStore:
    """The process's store for the settings' database (one engine and pool per URL)."""
    url = database_url(settings)
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = FeedbackStore(url)
        return store


def close_stores() -> None:
    """Dispose of every store's connections and forget them (tests, shutdown)."""
    with _stores_lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
