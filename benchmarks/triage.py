"""`fibro bench triage`: what the layered triage costs per message, against the regexes alone.

Measured in one run, on the unseen evaluation messages (none of them is in the classifier's
training set, so every message is embedded afresh, as a new question would be):

- regex layers only (`triage(..., classifier=None)`): the baseline;
- the whole walk (regexes, classifier, conversation), interleaved per message so drift cancels;
- start-up: training the classifier from the shipped utterance embeddings.

Target (issue 8): the whole walk's p95 <= 15 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.common import percentile

TARGETS = {"triage_p95_ms": "<= 15"}


def run_triage_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Measure and return the figures (the CLI prints them and writes --json)."""
    from assistant.index.embedder import get_embedder
    from assistant.models import Turn
    from assistant.settings import get_settings
    from assistant.triage import SafetyClassifier, triage
    from assistant.triage.classifier import load_utterances
    from evals.triage import load_unseen

    settings = get_settings()
    embedder = get_embedder(settings.embedding_model_path)
    utterances = load_utterances()
    start = time.perf_counter()
    classifier = SafetyClassifier.train(embedder, utterances)
    train_s = time.perf_counter() - start

    rows = load_unseen()
    for row in rows[:5]:  # first calls pay for lazy imports and allocator growth
        triage(row["text"] + " warm-up", (), classifier)
    regex_ms, full_ms = [], []
    for row in rows:
        history = [Turn(**t) for t in row.get("history") or []]
        start = time.perf_counter()
        triage(row["text"], history, None)
        regex_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        triage(row["text"], history, classifier)
        full_ms.append((time.perf_counter() - start) * 1000)

    figures: dict[str, Any] = {
        "messages": len(rows),
        "utterances": len(utterances),
        "regex_p50_ms": percentile(regex_ms, 50),
        "regex_p95_ms": percentile(regex_ms, 95),
        "triage_p50_ms": percentile(full_ms, 50),
        "triage_p95_ms": percentile(full_ms, 95),
        "triage_to_regex_p95_ratio": round(
            percentile(full_ms, 95) / max(percentile(regex_ms, 95), 1e-6), 1
        ),
        "train_s": round(train_s, 2),
        "targets": TARGETS,
    }
    figures["meets_targets"] = figures["triage_p95_ms"] <= 15
    return figures
