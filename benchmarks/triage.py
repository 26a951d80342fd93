"""`fibro bench triage`: what the layered triage costs per message, against the regexes alone.

Measured in one run, on the unseen evaluation messages (none of them is in the classifier's
training set, so every message is embedded afresh, as a new question would be):

- regex layers only (`triage(..., classifier=None)`): the baseline;
- the whole walk (regexes, classifier, conversation), interleaved per message so drift cancels.
  In a conversation each earlier user turn was triaged when it was sent, so its vector is in
  the embedder's cache: the bench sends those turns first, untimed. `cold_history_p95_ms` is the
  same walk when the earlier turns were never seen (a client that sends a whole history);
- the question's forward pass, traced (the service's path) against eager, interleaved;
- start-up: training the classifier from the shipped utterance embeddings.

Target (issue 8): the whole walk's p95 <= 15 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.common import percentile

if TYPE_CHECKING:
    from assistant.index.embedder import Embedder
    from assistant.models import Turn
    from assistant.triage import SafetyClassifier

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
    regex_ms, full_ms, cold_ms = [], [], []
    for row in rows:
        history = [Turn(**t) for t in row.get("history") or []]
        if history:
            embedder.clear_cache()
            cold_ms.append(_timed(triage, row["text"], history, classifier))
            embedder.clear_cache()  # never seen again; then the conversation as it was sent
            _send_earlier_turns(history, classifier)
        regex_ms.append(_timed(triage, row["text"], history, None))
        full_ms.append(_timed(triage, row["text"], history, classifier))
    eager_ms, traced_ms = _forward_passes(embedder, [row["text"] for row in rows])

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
        "cold_history_messages": len(cold_ms),
        "cold_history_p95_ms": percentile(cold_ms, 95),
        "forward_eager_p50_ms": percentile(eager_ms, 50),
        "forward_eager_p95_ms": percentile(eager_ms, 95),
        "forward_traced_p50_ms": percentile(traced_ms, 50),
        "forward_traced_p95_ms": percentile(traced_ms, 95),
        "traced_to_eager_p95_ratio": round(
            percentile(traced_ms, 95) / max(percentile(eager_ms, 95), 1e-6), 2
        ),
        "train_s": round(train_s, 2),
        "targets": TARGETS,
    }
    figures["meets_targets"] = figures["triage_p95_ms"] <= 15
    return figures


def _timed(call: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    call(*args)
    return (time.perf_counter() - start) * 1000


def _send_earlier_turns(history: Sequence[Turn], classifier: SafetyClassifier) -> None:
    """Triage each earlier user turn with the history it was sent with, as the service did."""
    from assistant.triage import triage

    for n, turn in enumerate(history):
        if turn.role == "user":
            triage(turn.content, history[:n], classifier)


def _forward_passes(embedder: Embedder, texts: Sequence[str]) -> tuple[list[float], list[float]]:
    """One text's forward pass, eager and through the service's traced path, interleaved."""
    import torch

    from assistant.index.embedder import mean_pooled

    eager = mean_pooled(embedder.model[0].auto_model)
    tokenizer = embedder.model.tokenizer
    eager_ms, traced_ms = [], []
    for text in texts:
        text = text + " (bench)"  # not in the cache
        with torch.inference_mode():
            features = tokenizer([text], return_tensors="pt", truncation=True, max_length=256)
            eager_ms.append(_timed(eager, features["input_ids"], features["attention_mask"]))
        traced_ms.append(_timed(embedder.encode, [text]))
    return eager_ms, traced_ms
