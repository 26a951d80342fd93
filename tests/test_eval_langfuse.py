"""``fibro eval --langfuse`` end to end: a tiny suite run in-process through the real pipeline,
traced by the real Langfuse SDK to the local capture server (tests/fakes/langfuse_server.py).

The command is run as ``python -m evals.cli`` runs it (``evals.cli.main``); only the target is
swapped for the session's indexed pipeline with the tracer as an observer, as
tests/test_eval_e2e.py runs the eval against ``corpus_pipeline``. Each server has its own keys:
the SDK keeps one client per public key per process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.observe import observers_for
from assistant.settings import Settings
from evals.cli import CORE_SUITE, main
from evals.registry import BY_CASE_NAME
from evals.runner import InProcessTarget
from tests.fakes.langfuse_server import FakeLangfuse, ReceivedSpan

TINY = ["SF-05", "EM-01", "MT-101"]  # an answer, a crisis case (never any text), multi-turn
EXPERIMENT = "langfuse.experiment."
LANGFUSE_ENV = (
    "LANGFUSE_HOST",
    "LANGFUSE_BASE_URL",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
)


def tiny_suite(folder: Path) -> Path:
    """TINY's lines of the core suite, as a suite file of their own (``tiny.jsonl``)."""
    lines = [
        line
        for line in CORE_SUITE.read_text().splitlines()
        if line.strip() and json.loads(line)["id"] in TINY
    ]
    assert len(lines) == len(TINY)
    path = folder / "tiny.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeLangfuse,
    corpus_settings: Settings,
    corpus_pipeline: Any,
    tmp_path: Path,
    *extra: str,
    content: bool = False,
) -> tuple[int, Path]:
    """``python -m evals.cli --cases tiny.jsonl --langfuse ...`` with the keys in the
    environment and the target the pipeline traced to ``fake``."""
    from assistant.pipeline import Pipeline

    for name in LANGFUSE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIBRO_LANGFUSE_HOST", fake.url)
    monkeypatch.setenv("FIBRO_LANGFUSE_PUBLIC_KEY", fake.public_key)
    monkeypatch.setenv("FIBRO_LANGFUSE_SECRET_KEY", fake.secret_key)
    monkeypatch.setenv("FIBRO_TRACE_CONTENT", "true" if content else "false")
    traced = corpus_settings.model_copy(
        update={**fake.settings_overrides(), "trace_content": content}
    )
    pipeline = Pipeline(
        traced, corpus_pipeline.store, corpus_pipeline.embedder, observers=observers_for(traced)
    )
    monkeypatch.setattr("evals.cli._build_target", lambda args: InProcessTarget(pipeline))
    out = tmp_path / "run-1"
    code = main(
        [
            "--cases",
            str(tiny_suite(tmp_path)),
            "--out",
            str(out),
            "--no-thresholds",
            "--no-progress",
            "--workers",
            "2",
            "--langfuse",
            *extra,
        ]
    )
    return code, out


def results(out: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {row["id"]: row for row in rows}


def case_spans(fake: FakeLangfuse) -> dict[str, ReceivedSpan]:
    """The experiment item observations, by case id."""
    spans = [s for s in fake.all_spans() if s.name == "eval-case"]
    return {s.metadata["case_id"]: s for s in spans}


@pytest.fixture
def lf() -> Iterator[FakeLangfuse]:
    with FakeLangfuse() as server:
        yield server


@pytest.mark.slow
def test_eval_langfuse_records_dataset_run_items_and_scores(
    monkeypatch: pytest.MonkeyPatch,
    lf: FakeLangfuse,
    corpus_settings: Settings,
    corpus_pipeline: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(monkeypatch, lf, corpus_settings, corpus_pipeline, tmp_path)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Langfuse: dataset 'fibro-tiny' (3 items)" in printed.out
    assert lf.rejected == 0

    # The dataset, and one item per case with the expectations and the labels.
    dataset = lf.datasets["fibro-tiny"]
    items = {item["metadata"]["case_id"]: item for item in lf.items_of("fibro-tiny")}
    assert set(items) == set(TINY)
    rows = results(out)
    for case_id, item in items.items():
        assert item["id"] == f"fibro-tiny/{case_id}"
        assert item["metadata"]["category"] == rows[case_id]["category"]
        assert item["expectedOutput"]["expected_routes"] == rows[case_id]["expected_routes"]
        assert item["expectedOutput"]["must_hedge"] == rows[case_id]["must_hedge"]
        # Trace content is off: the item carries the case id and sizes, not the question.
        assert item["input"] == {
            "case_id": case_id,
            "question_chars": len(rows[case_id]["question"]),
            "history_turns": len(rows[case_id]["history"]),
        }
        assert rows[case_id]["question"] not in json.dumps(item)
    assert items["MT-101"]["input"]["history_turns"] > 0

    # One run item per case, in the answer's own trace (traced under channel "eval").
    spans = case_spans(lf)
    assert set(spans) == set(TINY)
    experiment_ids = set()
    for case_id, span in spans.items():
        trace_id = rows[case_id]["answer"]["trace_id"]
        assert span.trace_id == trace_id
        assert span.attr(EXPERIMENT + "dataset.id") == dataset["id"]
        assert span.attr(EXPERIMENT + "item.id") == f"fibro-tiny/{case_id}"
        assert span.attr(EXPERIMENT + "name") == "run-1"
        assert span.attr(EXPERIMENT + "item.root_observation_id") == span.span_id
        assert json.loads(span.attr(EXPERIMENT + "metadata"))["composer"] == "extractive"
        experiment_ids.add(span.attr(EXPERIMENT + "id"))
        answer = [s for s in lf.trace(trace_id) if s.name == "answer"]
        assert len(answer) == 1 and answer[0].metadata["channel"] == "eval"
        assert span.output["route"] == rows[case_id]["route"]
        assert "answer" not in span.output  # no text without FIBRO_TRACE_CONTENT
    assert len(experiment_ids) == 1

    # Every registered per-case score that applies, numeric, on the case's trace.
    for case_id, row in rows.items():
        trace_id = row["answer"]["trace_id"]
        sent = {s["name"]: s for s in lf.scores_for(trace_id)}
        expected = {name: value for name, value in row["scores"].items() if value is not None}
        assert expected, case_id
        assert set(sent) == set(expected), case_id
        assert set(sent) <= set(BY_CASE_NAME)
        for name, score in sent.items():
            assert score["value"] == pytest.approx(expected[name])
            assert score["dataType"] == "NUMERIC"
            assert score["observationId"] == spans[case_id].span_id


@pytest.mark.slow
def test_eval_langfuse_with_trace_content_sends_masked_text_but_none_for_crisis(
    monkeypatch: pytest.MonkeyPatch,
    lf: FakeLangfuse,
    corpus_settings: Settings,
    corpus_pipeline: Any,
    tmp_path: Path,
) -> None:
    code, out = run_cli(
        monkeypatch,
        lf,
        corpus_settings,
        corpus_pipeline,
        tmp_path,
        "--dataset",
        "fibro-tiny-content",
        content=True,
    )
    assert code == 0
    rows = results(out)
    items = {i["metadata"]["case_id"]: i for i in lf.items_of("fibro-tiny-content")}
    assert items["SF-05"]["input"]["question"] == rows["SF-05"]["question"]
    assert items["MT-101"]["input"]["history"]
    assert "question" not in items["EM-01"]["input"]  # a crisis case never carries text
    spans = case_spans(lf)
    assert spans["SF-05"].output["answer"] == rows["SF-05"]["answer"]["answer"]
    assert "answer" not in spans["EM-01"].output


def test_eval_langfuse_without_keys_says_so_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in LANGFUSE_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"FIBRO_{name}", raising=False)
    monkeypatch.chdir(tmp_path)  # no developer .env with keys

    def no_target(args: Any) -> Any:
        raise AssertionError("the run must not start without Langfuse keys")

    monkeypatch.setattr("evals.cli._build_target", no_target)
    code = main(["--cases", str(tiny_suite(tmp_path)), "--no-progress", "--langfuse"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "--langfuse needs Langfuse keys" in err and "FIBRO_LANGFUSE_PUBLIC_KEY" in err
