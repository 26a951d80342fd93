"""Stored feedback: POST /v1/feedback over real HTTP, the answers the run observer records, the
`fibro feedback` commands, on SQLite and (when its binaries are here) a throwaway Postgres.

Nothing of ours is mocked: the app is the real one over loopback, answering from the real
corpus index, and the stores are real databases.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

from assistant.api.routes.feedback import Channel
from assistant.feedback.store import SQLITE_FILE, close_stores, database_url
from assistant.observe import CHANNELS
from assistant.settings import Settings, get_settings
from tests.support import LiveServer, free_port, make_settings, parse_sse

ORDINARY = "Did the mice in the antibody study recover?"
CRISIS = "I want to kill myself"


# ---- a throwaway Postgres ---------------------------------------------------------------------


@dataclass
class Postgres:
    port: int
    admin_url: str

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"fibro_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://fibro@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """initdb + pg_ctl on a free loopback port in a temporary folder; skipped when unavailable.

    Postgres refuses to run as root, so as root the folder is given to `nobody` and the server
    runs as that user through `runuser`. The folder is made with mkdtemp under /tmp (not
    pytest's tmp_path, whose parents are private to root) so that user can reach it.
    """
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("Postgres is not installed (initdb and pg_ctl are not on PATH)")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="fibro-pg-"))
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root without `runuser` to start Postgres as another user")
        os.chown(base, 65534, 65534)  # nobody
        as_user = [runuser, "-u", "nobody", "--"]
    data, port = base / "db", free_port()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*as_user, *args], cwd=base, capture_output=True, text=True, timeout=120
        )

    init = run(
        initdb, "-D", str(data), "-U", "fibro", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"
    )
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = run(
        pg_ctl, "start", "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "-o", options
    )
    if start.returncode != 0:
        log = (base / "log").read_text(errors="replace")[-300:] if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"Postgres did not start: {start.stderr.strip()[-300:]} {log}")
    try:
        yield Postgres(port, f"postgresql://fibro@127.0.0.1:{port}/postgres")
    finally:
        close_stores()
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


# ---- the app, per backend ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str | None:
    """The store's URL: None for the default SQLite file in the data folder, else Postgres."""
    if request.param == "sqlite":
        return None
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.new_database()


@dataclass
class Served:
    server: LiveServer
    settings: Settings
    client: httpx.Client

    def ask(self, question: str, **extra: Any) -> dict[str, Any]:
        response = self.client.post("/v1/answer", json={"question": question, **extra})
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def rate(self, trace_id: str, rating: str = "down", **extra: Any) -> httpx.Response:
        headers = extra.pop("headers", None)
        body = {"trace_id": trace_id, "rating": rating, "channel": "api", **extra}
        return self.client.post("/v1/feedback", json=body, headers=headers)


def serve(corpus_pipeline: Any, data_dir: Path, **overrides: Any) -> Iterator[Served]:
    """The real app with its own settings (feedback store, rate) over the shared corpus index.

    The pipeline gets the observers these settings turn on, so answers reach the store the way
    they do in the service.
    """
    from assistant.api.app import create_app
    from assistant.observe import observers_for
    from assistant.pipeline import Pipeline

    settings = make_settings(data_dir, **overrides)
    pipeline = Pipeline(
        settings,
        corpus_pipeline.store,
        corpus_pipeline.embedder,
        observers=observers_for(settings),
    )
    with (
        LiveServer(create_app(settings, pipeline)) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        yield Served(server, settings, client)
    close_stores()


@pytest.fixture
def served(corpus_pipeline: Any, database: str | None, tmp_path: Path) -> Iterator[Served]:
    yield from serve(corpus_pipeline, tmp_path / "data", database_url=database)


@pytest.fixture
def fibro(
    served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> Iterator[Any]:
    """`fibro ...` in this process, reading the same store as the served app (by environment)."""
    from assistant.cli import main

    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("FIBRO_DATA_DIR", str(served.settings.data_dir))
    if served.settings.database_url:
        monkeypatch.setenv("FIBRO_DATABASE_URL", served.settings.database_url)
    else:
        monkeypatch.delenv("FIBRO_DATABASE_URL", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    get_settings.cache_clear()


def listed(fibro: Any, *args: str) -> list[dict[str, Any]]:
    code, out, err = fibro("feedback", "list", "--json", *args)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


# ---- tests ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_rating_is_stored_with_its_masked_answer_and_listed(
    served: Served, fibro: Any, database: str | None
) -> None:
    question = f"{ORDINARY} You can reach me at jane.doe@example.com"
    answer = served.ask(question, session_id="call me on +44 20 7946 0958")
    assert answer["route"] == "answer" and answer["citations"]

    response = served.rate(
        answer["trace_id"],
        comment="Wrong study. Mail jane.doe@example.com or ring (555) 123-4567.",
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["trace_id"] == answer["trace_id"] and body["rating"] == "down"
    assert body["comment"] == "Wrong study. Mail [email] or ring [phone]."
    assert body["created"].endswith(("Z", "+00:00"))

    if database is None:  # the default store is a SQLite file in the data folder
        assert (served.settings.data_dir / SQLITE_FILE).is_file()
        assert database_url(served.settings).endswith(SQLITE_FILE)

    [row] = listed(fibro)
    assert row["trace_id"] == answer["trace_id"] and row["rating"] == "down"
    assert row["route"] == "answer" and row["mode"] == answer["mode"]
    assert "jane.doe" not in row["question"] and "[email]" in row["question"]
    assert row["question"].startswith(ORDINARY)
    assert row["answer"] == answer["answer"]  # nothing in it to mask
    assert [c["chunk_id"] for c in row["citations"]] == [c["chunk_id"] for c in answer["citations"]]
    assert set(row["citations"][0]) == {"n", "title", "source_id", "chunk_id"}
    assert row["comment"] == body["comment"]

    code, out, _ = fibro("feedback", "list")
    assert code == 0 and answer["trace_id"] in out and f"Q: {row['question']}" in out
    assert listed(fibro, "--rating", "up") == []
    assert listed(fibro, "--since", "2000-01-01") and not listed(fibro, "--since", "2999-01-01")


@pytest.mark.slow
def test_the_same_client_rating_again_updates_instead_of_duplicating(
    served: Served, fibro: Any
) -> None:
    trace = served.ask(ORDINARY)["trace_id"]
    first = served.rate(trace, "up", comment="useful")
    assert first.status_code == 201
    again = served.rate(trace, "up", comment="useful")
    assert again.status_code == 200 and again.json() == first.json()

    changed = served.rate(trace, "down", comment="on second thought, no")
    assert changed.status_code == 200
    assert changed.json()["id"] == first.json()["id"]
    assert (
        changed.json()["rating"] == "down" and changed.json()["updated"] >= first.json()["updated"]
    )

    other = served.rate(trace, "up", headers={"X-Client-Id": "widget-user-7"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert served.rate(trace, "up", headers={"X-Client-Id": "widget-user-7"}).status_code == 200

    rows = listed(fibro)
    assert sorted(r["rating"] for r in rows) == ["down", "up"]
    assert all(r["trace_id"] == trace for r in rows)


@pytest.mark.slow
def test_a_crisis_exchange_is_stored_without_its_words(
    served: Served, fibro: Any, database: str | None
) -> None:
    crisis = served.ask(CRISIS, session_id="session-of-someone")
    assert crisis["route"] == "crisis"
    response = served.rate(crisis["trace_id"], "down", comment="I still want to kill myself")
    assert response.status_code == 201 and response.json()["comment"] is None

    [row] = listed(fibro)
    assert row["route"] == "crisis" and row["trace_id"] == crisis["trace_id"]
    assert row["question"] is None and row["answer"] is None and row["comment"] is None
    assert row["citations"] == []
    if database is None:  # not in the database file nor its write-ahead log
        for path in served.settings.data_dir.glob(SQLITE_FILE + "*"):
            stored = path.read_bytes()
            assert b"kill myself" not in stored and b"session-of-someone" not in stored
    code, out, _ = fibro("feedback", "list")
    assert code == 0 and "never stored" in out


@pytest.mark.slow
def test_a_streamed_answer_is_recorded_with_its_channel(served: Served, fibro: Any) -> None:
    text = served.client.post("/v1/answer/stream", json={"question": ORDINARY}).text
    done = next(data for name, data in parse_sse(text) if name == "done")
    body = {"trace_id": done["trace_id"], "rating": "up", "channel": "stream"}
    assert served.client.post("/v1/feedback", json=body).status_code == 201
    [row] = listed(fibro)
    assert row["channel"] == "stream" and row["question"] == ORDINARY
    assert row["answer"] == done["answer"]


@pytest.mark.slow
def test_export_writes_draft_cases_the_eval_loader_reads(
    served: Served, fibro: Any, tmp_path: Path
) -> None:
    from evals.cases import load_suite

    down = served.ask(ORDINARY)
    up = served.ask("Is there a blood test for fibromyalgia?")
    crisis = served.ask(CRISIS)
    assert served.rate(down["trace_id"], "down", comment="missed the point").status_code == 201
    assert served.rate(down["trace_id"], "down", headers={"X-Client-Id": "b"}).status_code == 201
    assert served.rate(up["trace_id"], "up").status_code == 201
    assert served.rate(crisis["trace_id"], "down").status_code == 201

    out = tmp_path / "drafts" / "feedback.jsonl"
    code, stdout, stderr = fibro("feedback", "export", "--cases", str(out))
    assert code == 0, stderr
    assert "wrote 1 draft case" in stdout and "skipped 1" in stderr  # the crisis reply

    [case] = load_suite(out)
    assert case.id == f"draft-{down['trace_id']}"
    assert "draft" in case.tags and "from_feedback" in case.tags
    assert case.question == ORDINARY
    assert case.expected_behavior.startswith("DRAFT")
    assert down["answer"] in case.expected_behavior
    assert "missed the point" in case.expected_behavior
    assert "2 client(s)" in case.expected_behavior
    assert down["citations"][0]["source_id"] in case.expected_behavior

    ups = tmp_path / "ups.jsonl"
    code, _, _ = fibro("feedback", "export", "--cases", str(ups), "--rating", "up")
    assert code == 0
    [liked] = load_suite(ups)
    assert liked.id == f"draft-{up['trace_id']}" and "rated_up" in liked.tags


BAD_BODIES = [
    pytest.param({"trace_id": "abc", "rating": "up", "channel": "api"}, id="short-trace"),
    pytest.param({"trace_id": "z" * 32, "rating": "up", "channel": "api"}, id="not-hex"),
    pytest.param({"trace_id": "a" * 33, "rating": "up", "channel": "api"}, id="long-trace"),
    pytest.param({"trace_id": "a" * 32, "rating": "meh", "channel": "api"}, id="rating"),
    pytest.param({"trace_id": "a" * 32, "rating": "up", "channel": "fax"}, id="channel"),
    pytest.param({"trace_id": "a" * 32, "rating": "up"}, id="no-channel"),
    pytest.param(
        {"trace_id": "a" * 32, "rating": "up", "channel": "api", "comment": "x" * 2001},
        id="long-comment",
    ),
    pytest.param(
        {"trace_id": "a" * 32, "rating": "up", "channel": "api", "score": 5}, id="extra-field"
    ),
]


@pytest.fixture(scope="module")
def sqlite_app(corpus_pipeline: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One app on SQLite for the request-shape tests, with a rate of 3 a minute."""
    yield from serve(
        corpus_pipeline, tmp_path_factory.mktemp("feedback-shape"), feedback_rate_per_minute=3
    )


@pytest.mark.slow
@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_feedback_is_a_422_with_the_error_json(
    sqlite_app: Served, body: dict[str, Any]
) -> None:
    # Each case from its own client, so the rate limit never answers first.
    response = sqlite_app.client.post(
        "/v1/feedback", json=body, headers={"X-Client-Id": uuid.uuid4().hex}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and error["message"]


@pytest.mark.slow
def test_an_overlong_client_id_is_a_422(sqlite_app: Served) -> None:
    response = sqlite_app.rate(uuid.uuid4().hex, headers={"X-Client-Id": "c" * 201})
    assert response.status_code == 422 and response.json()["error"]["type"] == "invalid_request"


@pytest.mark.slow
def test_too_much_feedback_from_one_client_is_a_429_with_retry_after(sqlite_app: Served) -> None:
    # Ratings of traces the store never saw are kept too (the answer may be another process's).
    client = {"X-Client-Id": "noisy"}
    for _ in range(3):
        assert sqlite_app.rate(uuid.uuid4().hex, headers=client).status_code == 201
    refused = sqlite_app.rate(uuid.uuid4().hex, headers=client)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["type"] == "rate_limited"
    # Another client is not held back.
    assert sqlite_app.rate(uuid.uuid4().hex, headers={"X-Client-Id": "quiet"}).status_code == 201
    # Without the header a client is its address.
    for _ in range(3):
        assert sqlite_app.rate(uuid.uuid4().hex).status_code == 201
    assert sqlite_app.rate(uuid.uuid4().hex).status_code == 429


@pytest.mark.slow
def test_an_unreachable_database_fails_feedback_but_never_an_answer(
    corpus_pipeline: Any, tmp_path: Path
) -> None:
    nowhere = f"postgresql+psycopg://fibro@127.0.0.1:{free_port()}/none"
    for app in serve(corpus_pipeline, tmp_path / "data", database_url=nowhere):
        answer = app.ask(ORDINARY)
        assert answer["route"] == "answer"
        response = app.rate(answer["trace_id"])
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert response.json()["error"]["message"].startswith("feedback could not be stored")


def test_the_channel_names_are_the_pipeline_channels() -> None:
    assert get_args(Channel) == CHANNELS


def test_the_store_keeps_one_rating_per_trace_and_client(
    database: str | None, tmp_path: Path
) -> None:
    from assistant.feedback.store import get_store

    store = get_store(make_settings(tmp_path, database_url=database))
    trace = uuid.uuid4().hex
    for _ in range(2):  # a trace's answer is written once; a repeat is not an error
        store.record_answer(
            trace_id=trace,
            channel="cli",
            route="answer",
            mode="extractive",
            question="q",
            answer="a [1]",
            citations=[{"n": 1, "title": "T", "source_id": "s", "chunk_id": "s-0"}],
            session_id=None,
        )
    first = store.rate(trace_id=trace, client="c", rating="up", comment=None, channel="cli")
    same = store.rate(trace_id=trace, client="c", rating="up", comment=None, channel="cli")
    other = store.rate(trace_id=trace, client="d", rating="down", comment="x", channel="cli")
    assert (first.created, first.changed) == (True, True)
    assert (same.created, same.changed, same.feedback) == (False, False, first.feedback)
    assert other.created and other.feedback.id != first.feedback.id
    views = store.list_feedback()
    assert [v.feedback.rating for v in views] == ["up", "down"]
    assert views[0].question == "q" and views[0].citations[0]["chunk_id"] == "s-0"
    assert [v.feedback.id for v in store.list_feedback(rating="down")] == [other.feedback.id]
    assert store.backend == ("sqlite" if database is None else "postgresql")
    close_stores()
