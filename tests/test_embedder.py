"""The embedder's one-text fast path gives the same vectors as sentence-transformers' encode()."""

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
