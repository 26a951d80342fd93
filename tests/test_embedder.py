"""The embedder: its one-text path (traced) and its pieces give the vectors of a plain encode()."""

from __future__ import annotations

import numpy as np

from assistant.index.embedder import get_embedder

TEXTS = [
    "Did the mice recover once the antibodies cleared?",
    "x",
    "una frase en español sobre el dolor crónico y la fatiga " * 30,  # past the 256-token limit
]


def test_one_text_at_a_time_matches_the_batch_path() -> None:
    embedder = get_embedder()
    batch = embedder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    single = np.vstack([embedder.encode([t]) for t in TEXTS])
    assert single.dtype == np.float32 and single.shape == batch.shape
    np.testing.assert_allclose(single, batch, atol=1e-5)
    # A few texts at once go one by one through the same (traced) path: the same vectors.
    np.testing.assert_allclose(embedder.encode(TEXTS, urgent=True), batch, atol=1e-5)


def test_ordinary_calls_in_pieces_match_one_whole_batch() -> None:
    """Answers encode in pieces (so triage can get in between); the vectors are the same."""
    embedder = get_embedder()
    texts = [f"sentence {n} about pain, sleep and fatigue in fibromyalgia" for n in range(37)]
    whole = embedder.encode(texts, whole=True)
    pieces = embedder.encode(texts)
    urgent = embedder.encode(texts, urgent=True)
    assert pieces.shape == whole.shape == (37, embedder.dimension)
    np.testing.assert_allclose(pieces, whole, atol=1e-5)
    np.testing.assert_allclose(urgent, whole, atol=1e-5)
