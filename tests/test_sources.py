"""`fibro sources`, the front-matter warning and reported skips, on a real embedded Chroma."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import cli
from assistant.index.store import Store
from assistant.manage import list_sources
from assistant.settings import get_settings
from ingest.job import run_ingest
from ingest.loaders import load_file
from tests.support import make_settings

pytestmark = pytest.mark.slow

SOURCE = """---
id: sleep-notes
title: Sleep in fibromyalgia
source_type: review
evidence: none
topics: [fms_symptoms]
text_origin: summary
note: Written for the test suite.
---
Poor sleep is common in fibromyalgia and is reported by most patients in surveys.
Sleep that does not refresh is one of the symptoms the diagnostic criteria count.
"""

README_LIKE = """# my-project

A tool for indexing documents. Run `make serve` to start it on port 8000.

## Development

Run the tests with `make test`.
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """`fibro` as a user runs it: settings from FIBRO_ variables, an index in a tmp folder."""
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name in list(os.environ):
        if name.upper().startswith(("FIBRO_", "LANGFUSE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FIBRO_DATA_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("FIBRO_INDEX_REFRESH_SECONDS", "0")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_sources_lists_and_removes(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sleep.md").write_text(SOURCE)
    (corpus / "README.md").write_text(README_LIKE)
    assert cli.main(["ingest", "--quiet", str(corpus)]) == 0
    err = capsys.readouterr().err
    # The README-like file is indexed, but the user is told, by name, how to take it out.
    assert re.search(r"warning: .*README\.md: no front matter", err)
    assert "fibro sources remove readme" in err
    assert "sleep.md" not in err

    settings = make_settings(tmp_path / "index")
    rows = {row.source_id: row for row in list_sources(settings)}
    assert set(rows) == {"sleep-notes", "readme"}
    sleep = rows["sleep-notes"]
    assert sleep.title == "Sleep in fibromyalgia" and sleep.chunks >= 1
    assert sleep.path == str((corpus / "sleep.md").resolve()) and sleep.ingested

    assert cli.main(["sources"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^sleep-notes\s+\d+ chunks\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+Sleep in", out, re.M)
    assert "readme" in out and str(corpus / "README.md") in out

    assert cli.main(["sources", "remove", "readme"]) == 0
    assert "removed 1 sources" in capsys.readouterr().out
    store = Store(settings)
    assert set(store.manifest()) == {"sleep-notes"}
    # Its chunks are gone from the collection too, not only hidden.
    assert not [cid for cid in store.stored_text_hashes() if cid.startswith("readme:")]

    assert cli.main(["sources", "remove", "no-such-source"]) == 1
    assert "no such source: no-such-source" in capsys.readouterr().err
    assert [r.source_id for r in list_sources(settings)] == ["sleep-notes"]


def test_unsupported_files_are_reported_by_name(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "sleep.md").write_text(SOURCE)
    (folder / "letter.docx").write_bytes(b"PK\x03\x04 not really a docx")
    (folder / ".hidden.docx").write_bytes(b"ignored")

    report = run_ingest([folder], make_settings(tmp_path / "index"), progress=False)
    assert report.ok and report.sources == 1
    assert [(p.name, reason.split(";")[0]) for p, reason in report.unsupported] == [
        ("letter.docx", "unsupported format '.docx'")
    ]

    # Named directly, it is a failed file (exit 1), reported with the reason.
    assert cli.main(["ingest", "--quiet", str(folder), str(folder / "letter.docx")]) == 1
    err = capsys.readouterr().err
    assert re.search(r"skipped .*letter\.docx: unsupported format '\.docx'", err)
    assert ".hidden" not in err


def test_pypdf_noise_stays_out_of_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "damaged.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setTitle("A damaged paper")
    pdf.drawString(72, 750, "Small fibre pathology was found in about half of the patients.")
    pdf.save()
    # A wrong cross-reference offset: pypdf recovers, but logs about it.
    path.write_bytes(re.sub(rb"startxref\s+\d+", b"startxref\n999", path.read_bytes()))
    with caplog.at_level(logging.DEBUG):
        [source] = load_file(path)
    assert "Small fibre pathology" in source.text
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    captured = capsys.readouterr()
    assert not captured.err and not captured.out
