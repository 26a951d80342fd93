"""The eval runner end to end against the real pipeline: in-process, over HTTP, and the CI gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from assistant.errors import HttpTargetError
from evals.cases import load_cases
from evals.cli import CORE_SUITE, DEFAULT_THRESHOLDS
from evals.report import format_table, load_thresholds
from evals.runner import HttpTarget, InProcessTarget, run_suite
from evals.verifiers import make_verifier

pytestmark = pytest.mark.slow

SMALL = ["SF-05", "MH-01", "DX-01", "EM-01", "OS-01", "PI-03", "MA-01"]


def small_suite() -> list:
    cases = load_cases([CORE_SUITE])
    picked = [c for c in cases if c.id in SMALL]
    assert len(picked) == len(SMALL)
    return picked


def test_small_suite_in_process_and_over_http_agree(
    corpus_pipeline, live_app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    cases = small_suite()
    local = run_suite(
        cases, InProcessTarget(corpus_pipeline), tmp_path / "local", workers=2, progress=False
    )
    remote_target = HttpTarget(live_app.url)
    try:
        remote = run_suite(cases, remote_target, tmp_path / "http", workers=2, progress=False)
    finally:
        remote_target.close()
    for a, b in zip(local.rows, remote.rows, strict=True):
        assert a.error is None and b.error is None, (a.error, b.error)
        assert a.route == b.route, a.id
        assert a.answer is not None and b.answer is not None
        assert [c["chunk_id"] for c in a.answer["citations"]] == [
            c["chunk_id"] for c in b.answer["citations"]
        ], a.id
    for out in (tmp_path / "local", tmp_path / "http"):
        assert {p.name for p in out.iterdir()} >= {"results.jsonl", "summary.json", "report.html"}
        summary = json.loads((out / "summary.json").read_text())
        assert summary["overall"]["citation_validity"] == 1.0
        assert summary["overall"]["crisis_recall"] == 1.0
        html = (out / "report.html").read_text()
        assert "<svg" in html and "http" not in html.split("<body", 1)[0].lower().replace(
            "http-equiv", ""
        )


def test_core_suite_meets_its_thresholds_in_extractive_mode(
    corpus_pipeline, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The CI gate: the whole core suite, extractive, against evals/thresholds.toml."""
    cases = load_cases([CORE_SUITE])
    assert len(cases) >= 120
    outcome = run_suite(
        cases,
        InProcessTarget(corpus_pipeline),
        tmp_path / "core",
        workers=2,
        verifier=make_verifier(None),
        thresholds=load_thresholds(DEFAULT_THRESHOLDS),
        progress=False,
    )
    print(format_table(outcome.summary))
    failing = [r.id for r in outcome.rows if not r.passed]
    print(f"failing cases ({len(failing)}): {failing}")
    assert outcome.threshold_failures == [], outcome.threshold_failures


def test_eval_over_http_sends_the_key_a_keyed_service_asks_for(
    corpus_pipeline, corpus_settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`fibro eval --url` against a deployment with FIBRO_API_KEYS: the key from the
    environment (or --api-key) goes in the Authorization header; without it, a clear 401."""
    import argparse

    from assistant.api.app import create_app
    from evals import cli
    from evals.runner import HttpTarget
    from tests.support import LiveServer

    keyed = corpus_settings.model_copy(update={"api_keys": [SecretStr("eval-key")]})
    parser = argparse.ArgumentParser(prog="fibro")
    cli.add_eval_parser(parser.add_subparsers(dest="command"))
    with LiveServer(create_app(keyed, corpus_pipeline)) as server:
        monkeypatch.delenv(cli.API_KEY_ENV, raising=False)
        bare = cli._build_target(parser.parse_args(["eval", "--url", server.url]))
        assert isinstance(bare, HttpTarget)
        with pytest.raises(HttpTargetError, match="401"):
            bare.answer("What is fibromyalgia?", [])
        bare.close()
        monkeypatch.setenv(cli.API_KEY_ENV, "eval-key")
        for args in (
            ["eval", "--url", server.url],
            ["eval", "--url", server.url, "--api-key", "eval-key"],
        ):
            target = cli._build_target(parser.parse_args(args))
            assert isinstance(target, HttpTarget)
            try:
                assert target.answer("What is fibromyalgia?", []).route == "answer"
            finally:
                target.close()
