"""A `fibro ingest` killed at each named point, repaired by the next run, seen by a live service.

The crash is real: `FIBRO_INGEST_CRASH_AT` makes the job SIGKILL itself at the named point
(assistant/index/faults.py), in a subprocess writing to a real `chroma run` server. The service
is the real app over HTTP on the same collection, started before the crash and never restarted:
after the recovery run its /readyz and /v1/chunks must show the new corpus within a couple of
refresh periods, and the index must hold exactly the chunks a clean ingest makes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from assistant.errors import IngestError
from assistant.index.faults import ENV, POINTS
from assistant.index.store import Store
from assistant.settings import Settings
from ingest.job import run_ingest
from tests.support import LiveServer, make_settings

pytestmark = pytest.mark.slow

REFRESH = 0.5
# Small model batches make several writes out of a small corpus, so "partly written" is partial.
EMBED_BATCH = 1
# Points reached only when a source is removed; the others when sources change or are added.
REMOVAL_POINTS = {"source_removed"}


def doc(source_id: str, topic: str, paragraphs: int) -> str:
    """A source with distinct paragraphs (de-duplication keeps them all)."""
    body = "\n\n".join(
        f"Paragraph {i} about {topic} explains point number {i} in its own words. "
        f"Researchers studying {topic} recorded observation {i * 7} during visit {i}. "
        f"The finding {i} for {topic} was discussed by the team in meeting {i + 100}. "
        f"Further work on {topic} item {i} is planned for season {i % 4} of the project."
        for i in range(paragraphs)
    )
    front = textwrap.dedent(
        f"""\
        ---
        id: {source_id}
        title: Test source {source_id}
        source_type: review
        evidence: none
        topics: [fms_symptoms]
        text_origin: summary
        note: Written for the test suite.
        ---
        """
    )
    return front + body + "\n"


def write_v1(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.md").write_text(doc("alpha", "sleep", 6))
    (folder / "b.md").write_text(doc("beta", "fatigue", 4))
    (folder / "c.md").write_text(doc("gamma", "stiffness", 4))


def write_v2(folder: Path, point: str) -> None:
    """The change the crashed run makes: a removal for the removal point, else content.

    Each change is the only one, so the recovery run has nothing else to write: a removal it
    had to finish would bump the generation anyway and hide a recovery that does not.
    """
    if point in REMOVAL_POINTS:
        (folder / "c.md").unlink()
        return
    (folder / "a.md").write_text(doc("alpha", "sleep quality", 9))
    (folder / "d.md").write_text(doc("delta", "memory", 7))


def settings_for(chroma: tuple[str, int], data: Path) -> Settings:
    host, port = chroma
    return make_settings(
        data,
        chroma_host=host,
        chroma_port=port,
        collection=f"crash{uuid.uuid4().hex[:12]}",
        index_refresh_seconds=REFRESH,
        embed_batch_size=EMBED_BATCH,
    )


Expected = tuple[dict[str, tuple[str, ...]], set[str]]


@pytest.fixture(scope="module")
def clean_v2(
    chroma_server: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Expected]:
    """What a clean ingest makes of v2 for a point: chunk ids by source, and the ids v1 lacks."""
    made: dict[bool, Expected] = {}

    def expected(point: str) -> Expected:
        removal = point in REMOVAL_POINTS
        if removal not in made:
            folder = tmp_path_factory.mktemp("clean") / "corpus"
            write_v1(folder)
            settings = settings_for(chroma_server, folder.parent / "unused")
            run_ingest([folder], settings, progress=False)
            v1 = {cid for e in Store(settings).manifest().values() for cid in e.chunk_ids}
            write_v2(folder, point)
            settings = settings_for(chroma_server, folder.parent / "unused")
            run_ingest([folder], settings, progress=False)
            v2 = {sid: e.chunk_ids for sid, e in Store(settings).manifest().items()}
            made[removal] = v2, {cid for ids in v2.values() for cid in ids} - v1
        return made[removal]

    return expected


@pytest.fixture
def service(
    chroma_server: tuple[str, int], tmp_path: Path
) -> Iterator[tuple[Settings, Path, LiveServer]]:
    """A v1 index and the real app serving it, started before anything crashes."""
    from assistant.api.app import create_app
    from assistant.pipeline import Pipeline

    folder = tmp_path / "corpus"
    write_v1(folder)
    settings = settings_for(chroma_server, tmp_path / "unused")
    assert run_ingest([folder], settings, progress=False).ok
    with LiveServer(create_app(settings, Pipeline.from_settings(settings))) as server:
        yield settings, folder, server


def crashed_ingest(
    settings: Settings, folder: Path, point: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "FIBRO_CHROMA_HOST": str(settings.chroma_host),
        "FIBRO_CHROMA_PORT": str(settings.chroma_port),
        "FIBRO_COLLECTION": settings.collection,
        "FIBRO_INDEX_REFRESH_SECONDS": str(REFRESH),
        "FIBRO_EMBED_BATCH_SIZE": str(EMBED_BATCH),
        ENV: point,
    }
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", str(folder), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def served_view(server: LiveServer) -> dict[str, int]:
    body = httpx.get(server.url + "/readyz", timeout=10).json()
    return {"chunks": body.get("chunks", 0), "sources": body.get("sources", 0)}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_job_killed_at_each_point_is_repaired_and_served(
    point: str,
    service: tuple[Settings, Path, LiveServer],
    clean_v2: Callable[[str], Expected],
) -> None:
    settings, folder, server = service
    expected, new_ids = clean_v2(point)
    want = {"chunks": sum(len(ids) for ids in expected.values()), "sources": len(expected)}
    before = served_view(server)
    assert before != want, "v1 and v2 must differ in what /readyz shows, or the test proves nothing"

    write_v2(folder, point)
    crashed = crashed_ingest(settings, folder, point)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    assert f"fault injection: crashing at {point}" in crashed.stderr
    store = Store(settings)
    if point == "chunks_partly_written":
        stored = set(store.stored_text_hashes())
        assert new_ids & stored and new_ids - stored, "the crash was not between two writes"

    report = run_ingest([folder], settings, progress=False)
    assert report.ok

    # The recovery run has already waited two refresh periods when it had readers to move;
    # give a busy machine a few more before calling the service stale.
    deadline = time.monotonic() + 3 * REFRESH + 5
    view = served_view(server)
    while view != want and time.monotonic() < deadline:
        time.sleep(REFRESH / 2)
        view = served_view(server)
    assert view == want, f"the running service still shows {view}, a clean ingest {want}"
    for cid in sorted(new_ids):
        assert httpx.get(f"{server.url}/v1/chunks/{cid}", timeout=10).status_code == 200, cid

    # No chunk lost and none left over: exactly what a clean ingest makes.
    manifest = store.manifest()
    assert {sid: e.chunk_ids for sid, e in manifest.items()} == expected
    named = {cid for e in manifest.values() for cid in e.chunk_ids}
    assert set(store.stored_text_hashes()) == named


def test_an_unknown_crash_point_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "corpus"
    write_v1(folder)
    settings = make_settings(tmp_path / "index")
    monkeypatch.setenv(ENV, "after_lunch")
    with pytest.raises(IngestError, match="names no crash point"):
        run_ingest([folder], settings, progress=False)
    assert not Store(settings).manifest()


@pytest.mark.timeout(120)  # a writer error that hung the job would fail here, not block the run
def test_a_failed_write_is_an_ingest_error_and_makes_nothing_visible(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    write_v1(folder)
    settings = make_settings(tmp_path / "index", embed_batch_size=EMBED_BATCH)
    store = Store(settings)
    # A row of another width makes Chroma refuse every 384-dimensional write: a real failure
    # inside the writer thread, after the model has started encoding.
    store.chunks.add(
        ids=["other-width"], embeddings=[[0.1, 0.2, 0.3]], documents=["x"], metadatas=[{"a": 1}]
    )
    with pytest.raises(IngestError, match="Writing chunks to the index folder"):
        run_ingest([folder], settings, store=store, progress=False)
    assert not store.manifest()
    assert not [t for t in threading.enumerate() if t.name.startswith("ingest-writer")]
