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


def test_an_earlier_layer_comes_from_the_same_pass_as_the_model_cut_there() -> None:
    """`encode_layers` reads layer 3 of the model's own pass: the vectors of the same network
    cut after three layers, one text or several at a time, and the usual vectors beside them."""
    import pytest

    from assistant.errors import EmbedderError
    from assistant.index.embedder import Embedder

    embedder = get_embedder()
    texts = [*TEXTS, "yes, tonight", "what helps with sleep in fibromyalgia?", "ok"]
    last, early = embedder.encode_layers(texts, 3, whole=True)
    one_last, one_early = embedder.encode_layers(texts[:3], 3)
    cut = Embedder(embedder.path)
    encoder = cut.model[0].auto_model.encoder
    encoder.layer = encoder.layer[:3]
    expected = cut.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)

    np.testing.assert_allclose(early, expected, atol=1e-5)
    np.testing.assert_allclose(one_early, expected[:3], atol=1e-5)
    np.testing.assert_allclose(last, embedder.encode(texts, whole=True), atol=1e-5)
    np.testing.assert_allclose(one_last, last[:3], atol=1e-5)
    assert float(np.max(np.sum(early * last, axis=1))) < 0.95  # a different representation

    # Through the cache: both halves, and the usual half serves ordinary callers as well.
    embedder.clear_cache()
    rows = embedder.encode_cached(texts[:2], layer=3)
    assert rows.shape == (2, 2 * embedder.dimension)
    np.testing.assert_allclose(rows[:, embedder.dimension :], early[:2], atol=1e-5)
    np.testing.assert_allclose(embedder.encode_cached(texts[:2]), last[:2], atol=1e-5)

    with pytest.raises(EmbedderError, match="Cannot read layer 6"):
        embedder.encode_layers(texts, 6)
