"""The ingest job against the real model and a real Chroma (embedded, and a `chroma run` server)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from assistant.index.store import Store
from assistant.settings import Settings
from ingest.chunk import chunk_text
from ingest.clean import normalise
from ingest.job import run_ingest
from ingest.loaders import LoadError, load_file
from tests.support import CORPUS, DATA, make_settings

pytestmark = pytest.mark.slow

LEAD = "New research from the Institute of Psychiatry, Psychology & Neuroscience"


def doc(source_id: str, body: str, **meta: str) -> str:
    fields = {
        "id": source_id,
        "title": f"Test source {source_id}",
        "source_type": "review",
        "evidence": "none",
        "topics": "[fms_symptoms]",
        "text_origin": "summary",
        "note": "Written for the test suite.",
        **meta,
    }
    front = "\n".join(f"{k}: {v}" for k, v in fields.items())
    return f"---\n{front}\n---\n{textwrap.dedent(body).strip()}\n"


def paragraphs(topic: str, n: int) -> str:
    """Distinct, readable paragraphs so dedupe keeps them all."""
    out = []
    for i in range(n):
        out.append(
            f"Paragraph {i} about {topic} explains point number {i} in its own words. "
            f"Researchers studying {topic} recorded observation {i * 7} during visit {i}. "
            f"The finding {i} for {topic} was discussed by the team in meeting {i + 100}. "
            f"Further work on {topic} item {i} is planned for season {i % 4} of the project."
        )
    return "\n\n".join(out)


@pytest.fixture(params=["embedded", "server"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "server":
        host, port = request.getfixturevalue("chroma_server")
        return make_settings(
            tmp_path / "unused",
            chroma_host=host,
            chroma_port=port,
            collection=f"t{uuid.uuid4().hex[:12]}",
        )
    return make_settings(tmp_path / "index")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(CORPUS / "press-release-kcl-2021.md", folder)
    (folder / "a.md").write_text(doc("alpha", paragraphs("sleep", 6)))
    (folder / "b.md").write_text(doc("beta", paragraphs("fatigue", 4)))
    return folder


def visible(settings: Settings) -> dict[str, list[str]]:
    store = Store(settings)
    out: dict[str, list[str]] = {}
    for chunk in store.snapshot().chunks:
        out.setdefault(chunk.source_id, []).append(chunk.text)
    return out


def assert_consistent(settings: Settings) -> None:
    """Every manifest entry's chunks exist, and nothing else is stored."""
    store = Store(settings)
    named = {cid for entry in store.manifest().values() for cid in entry.chunk_ids}
    stored = set(store.stored_text_hashes())
    assert named == stored, f"missing {named - stored}, orphans {stored - named}"


def test_press_release_lead_is_indexed_once(settings: Settings, corpus: Path) -> None:
    report = run_ingest([corpus], settings, progress=False)
    assert report.ok, report.errors
    assert report.duplicates_within >= 10
    texts = visible(settings)["kcl-press-release-2021"]
    assert sum(t.count(LEAD) for t in texts) == 1
    # The rest of the release survives: its last paragraph is still there.
    assert any("Versus Arthritis" in t for t in texts)


def test_second_run_embeds_nothing(settings: Settings, corpus: Path) -> None:
    first = run_ingest([corpus], settings, progress=False)
    assert first.embedded == first.chunks_added > 0
    second = run_ingest([corpus], settings, progress=False)
    assert second.embedded == 0
    assert second.chunks_added == second.chunks_removed == 0
    assert second.chunks_unchanged == first.chunks_added
    assert_consistent(settings)


def test_changed_source_replaces_its_chunks(settings: Settings, corpus: Path) -> None:
    run_ingest([corpus], settings, progress=False)
    before = visible(settings)
    body = paragraphs("sleep", 6).replace("point number 3", "a revised point three")
    (corpus / "a.md").write_text(doc("alpha", body))
    report = run_ingest([corpus], settings, progress=False)
    after = visible(settings)
    assert report.sources_changed == 1
    # Only the changed chunk's text needs a new embedding; the rest are reused.
    assert 1 <= report.embedded < len(after["alpha"])
    assert any("revised point three" in t for t in after["alpha"])
    assert not any("point number 3" in t for t in after["alpha"])
    assert after["beta"] == before["beta"]
    assert_consistent(settings)


def test_removed_source_is_deleted(settings: Settings, corpus: Path) -> None:
    run_ingest([corpus], settings, progress=False)
    n_beta = len(visible(settings)["beta"])
    (corpus / "b.md").unlink()
    report = run_ingest([corpus], settings, progress=False)
    assert report.sources_removed == 1
    assert report.chunks_removed == n_beta
    assert "beta" not in visible(settings)
    assert_consistent(settings)


def test_malformed_file_is_reported_and_nothing_is_lost(settings: Settings, corpus: Path) -> None:
    run_ingest([corpus], settings, progress=False)
    before = visible(settings)
    (corpus / "b.md").write_text("---\nid: beta\ntitle: [unclosed\n---\nBody text here.\n")
    (corpus / "c.md").write_text(doc("gamma", "Short but valid text about pain in gamma."))
    report = run_ingest([corpus], settings, progress=False)
    assert not report.ok
    assert [e.path.name for e in report.errors] == ["b.md"]
    assert "front matter is not valid YAML" in report.errors[0].reason
    after = visible(settings)
    assert after["beta"] == before["beta"], "a broken file must not remove its indexed version"
    assert "gamma" in after


def test_cli_exits_non_zero_and_names_the_file(tmp_path: Path, corpus: Path) -> None:
    (corpus / "bad.md").write_text("---\nid: x\ntitle: Bad\nsource_type: blog\n---\nText.\n")
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", str(corpus), "--quiet"],
        capture_output=True,
        text=True,
        env={"FIBRO_DATA_DIR": str(tmp_path / "cli-index"), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "bad.md" in result.stderr and "source_type" in result.stderr
    assert "3 sources" in result.stdout and "chunks" in result.stdout


def test_readers_never_see_half_a_source(tmp_path: Path, corpus: Path) -> None:
    settings = make_settings(tmp_path / "index", index_refresh_seconds=0.05)
    run_ingest([corpus], settings, progress=False)
    versions = {"alpha": [set(visible(settings)["alpha"])]}
    (corpus / "a.md").write_text(doc("alpha", paragraphs("sleep quality", 6)))
    reader = Store(settings)
    seen: list[frozenset[str]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            snap = reader.snapshot()
            seen.append(frozenset(c.text for c in snap.chunks if c.source_id == "alpha"))
            # A dense query must only return chunks the snapshot names, and they must exist.
            assert all(h.chunk.id in snap.by_id for h in reader.dense([0.05] * 384, 5))
            time.sleep(0.01)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        run_ingest([corpus], settings, progress=False)
    finally:
        stop.set()
        thread.join()
    versions["alpha"].append(set(visible(settings)["alpha"]))
    allowed = {frozenset(v) for v in versions["alpha"]}
    assert seen and all(s in allowed for s in seen), "a reader saw a mix of two versions"


def test_killed_job_is_repaired_by_the_next_run(tmp_path: Path, corpus: Path) -> None:
    for i in range(12):
        (corpus / f"extra{i}.md").write_text(doc(f"extra{i}", paragraphs(f"topic {i}", 8)))
    data = tmp_path / "killed-index"
    env = {"FIBRO_DATA_DIR": str(data), "PATH": "/usr/bin:/bin", "FIBRO_INDEX_REFRESH_SECONDS": "0"}
    cmd = [sys.executable, "-m", "assistant.cli", "ingest", str(corpus), "--quiet"]
    for delay in (9.0, 12.0):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        # Change a source between attempts so a replacement is also interrupted.
        (corpus / "extra0.md").write_text(doc("extra0", paragraphs(f"changed {delay}", 8)))
    settings = make_settings(data)
    report = run_ingest([corpus], settings, progress=False)
    assert report.ok
    assert_consistent(settings)
    expected = make_settings(tmp_path / "clean-index")
    run_ingest([corpus], expected, progress=False)
    assert visible(settings) == visible(expected)


# ---- formats -------------------------------------------------------------------------------


def test_html_main_text_only(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        """<html><head><title>Fibro page</title>
        <meta name="citation_doi" content="10.1/xyz"><script>var x = 'tracking';</script></head>
        <body><nav>Home | About</nav><main><h1>Fibromyalgia basics</h1>
        <p>Widespread pain is the main symptom of fibromyalgia in most people.</p>
        <p>Fatigue and poor sleep are common as well.</p></main>
        <footer>Copyright notice</footer></body></html>"""
    )
    [source] = load_file(page)
    assert source.meta.title == "Fibro page" and source.meta.doi == "10.1/xyz"
    assert "Widespread pain" in source.text and "Fatigue" in source.text
    assert (
        "tracking" not in source.text
        and "Copyright" not in source.text
        and "Home" not in source.text
    )


def test_pdf_text_layer(tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path / "paper.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setTitle("A test paper on fibromyalgia")
    pdf.drawString(72, 750, "Small fibre pathology was found in about half of the patients.")
    pdf.showPage()
    pdf.drawString(72, 750, "The second page discusses limitations of the review.")
    pdf.save()
    [source] = load_file(path)
    assert source.meta.title == "A test paper on fibromyalgia"
    assert "Small fibre pathology" in source.text and "second page" in source.text


def test_pdf_without_text_is_an_error(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "scan.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.rect(10, 10, 100, 100)
    pdf.save()
    with pytest.raises(LoadError, match="no text layer"):
        load_file(path)


def test_pubmed_xml(tmp_path: Path) -> None:
    [source] = load_file(DATA / "pubmed_sample.xml")
    meta = source.meta
    assert meta.pmid == "34196305" and meta.id == "pmid-34196305"
    assert meta.doi == "10.1172/JCI144201"
    assert meta.publisher.startswith("The Journal of clinical investigation")
    assert meta.published == "2021"
    assert meta.authors[:2] == ["Goebel A", "Krock E"]
    assert "Background:" in source.text


def test_plain_text_without_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "Notes On Sleep.txt"
    path.write_text("Sleep notes\n\nPoor sleep is common in fibromyalgia.\n")
    [source] = load_file(path)
    assert source.meta.id == "notes-on-sleep" and source.meta.title == "Sleep notes"


def test_every_format_ingests_together(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(DATA / "pubmed_sample.xml", folder)
    (folder / "notes.txt").write_text("Plain notes\n\nExercise is recommended for fibromyalgia.\n")
    (folder / "page.html").write_text(
        "<html><body><p>Pain is widespread in fibromyalgia.</p></body></html>"
    )
    settings = make_settings(tmp_path / "index")
    report = run_ingest([folder], settings, progress=False)
    assert report.ok and report.sources == 3
    assert set(visible(settings)) == {"pmid-34196305", "notes", "page"}


# ---- cleaning and chunking ----------------------------------------------------------------


def test_chunks_are_whole_sentences_with_exact_offsets() -> None:
    text = normalise(paragraphs("pain", 12))
    chunks = chunk_text(text, 80, 250, 1)
    assert len(chunks) > 2
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.words <= 250 * 1.2
        assert chunk.text.rstrip()[-1] in ".!?"
        assert chunk.start == 0 or text[chunk.start - 2 : chunk.start] in (". ", "\n\n")


def test_abbreviations_do_not_split_sentences() -> None:
    from assistant.sentences import split_sentences

    text = "Goebel A. et al. published it in J. Clin. Invest. in 2021. Dr. Smith agreed, e.g. on p. 3. Done."
    assert [s.text for s in split_sentences(text)][-1] == "Done."
    assert len(split_sentences(text)) <= 3


def test_removing_a_source_restores_passages_it_had_deduplicated(tmp_path: Path) -> None:
    folder = tmp_path / "dupes"
    folder.mkdir()
    shared = paragraphs("shared topic", 1)
    (folder / "a.md").write_text(doc("a-first", shared + "\n\n" + paragraphs("alpha", 2)))
    (folder / "b.md").write_text(doc("b-second", shared + "\n\n" + paragraphs("beta", 2)))
    settings = make_settings(tmp_path / "index")
    report = run_ingest([folder], settings, progress=False)
    assert len(report.duplicates_across) == 1 and "b-second" in report.duplicates_across[0]
    assert not any("shared topic" in t for t in visible(settings)["b-second"])
    # b.md itself is unchanged, but without a.md its copy of the shared paragraph must return.
    (folder / "a.md").unlink()
    run_ingest([folder], settings, progress=False)
    assert any("shared topic" in t for t in visible(settings)["b-second"])
    again = run_ingest([folder], settings, progress=False)
    assert again.embedded == 0 and again.chunks_added == 0
    assert_consistent(settings)


@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_a_long_lived_reader_and_an_ingest_in_another_process(
    mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The service keeps its client open while `fibro ingest` runs in another process.

    Deleted rows are never returned in either mode. With a Chroma server, new rows reach the
    dense side at once; an embedded client's in-memory vector index does not see another
    process's additions until it restarts, so new sources are reachable through BM25 only
    (the README says to use a Chroma server when ingesting while serving).
    """
    from assistant.index.embedder import get_embedder

    folder = tmp_path / "shared-corpus"
    folder.mkdir()
    for name in ("goebel2021-jci-summary.md", "known-misreports-corrections.md"):
        shutil.copy(CORPUS / name, folder)
    env = {"PATH": "/usr/bin:/bin", "FIBRO_INDEX_REFRESH_SECONDS": "0"}
    if mode == "server":
        host, port = request.getfixturevalue("chroma_server")
        collection = f"x{uuid.uuid4().hex[:12]}"
        settings = make_settings(
            tmp_path / "unused", chroma_host=host, chroma_port=port, collection=collection
        )
        env.update(FIBRO_CHROMA_HOST=host, FIBRO_CHROMA_PORT=str(port), FIBRO_COLLECTION=collection)
    else:
        settings = make_settings(tmp_path / "index")
        env["FIBRO_DATA_DIR"] = str(settings.data_dir)
    run_ingest([folder], settings, progress=False)
    reader = Store(settings)
    vector = get_embedder().encode_one("Is exercise recommended in the EULAR guideline?")
    assert reader.dense(vector, 5)

    (folder / "goebel2021-jci-summary.md").unlink()
    shutil.copy(CORPUS / "eular2016-recommendations.md", folder)
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", str(folder), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    visible = {"known-misreports-corrections", "eular2016-recommendations"}
    dense = reader.dense(vector, 5)
    assert {h.chunk.source_id for h in dense} <= visible, "a deleted row was returned"
    lexical = reader.lexical("EULAR exercise strong for", 5)
    assert lexical[0].chunk.source_id == "eular2016-recommendations"
    if mode == "server":
        assert dense[0].chunk.source_id == "eular2016-recommendations"
