"""Semantic triage layer: a classifier trained on our own labelled utterances.

Regexes catch the phrasings someone thought of; this layer is there for the ones nobody did.
Features are the sentence embedding the service already computes (all-MiniLM-L6-v2), the
mean-pooled output of one of its earlier layers from the same forward pass (`TRIAGE_LAYER`: it
keeps more of the wording, which grouped cross-validation found telling), and character and
word n-grams (which carry typos, slang and Spanish that the English embedding model reads
poorly). A multinomial logistic regression over them is deterministic and fits in a quarter of a
minute on 2 cores, so it is trained on first start from `utterances/*.jsonl` and kept in the data
folder; the utterance embeddings ship beside the utterances, keyed by the model, the layer and
the texts, so only a changed data set is re-embedded.

Decision thresholds are chosen for recall on the safety classes from grouped cross-validation
(`python -m assistant.triage.train`); see docs/SAFETY.md for the figures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import ClassifierError
from assistant.text.normalise import normalise
from assistant.triage.batching import Batcher

if TYPE_CHECKING:
    from assistant.index.embedder import Embedder

log = logging.getLogger("fibro.triage")

UTTERANCES_DIR = Path(__file__).parent / "utterances"
# Embeddings of the utterances, shipped so that start-up trains in a second instead of embedding
# thousands of texts; keyed by model and texts, so a stale file is simply not used.
SHIPPED_VECTORS = Path(__file__).parent / "utterance-vectors.npz"

# The earlier layer of the embedding model whose pooled output joins the sentence vector. Grouped
# cross-validation (docs/SAFETY.md) chose it; the pass is the one the question needs anyway.
TRIAGE_LAYER = 3

LABELS: tuple[str, ...] = (
    "crisis_self",
    "crisis_other",
    "emergency",
    "poisoning",
    "advice",
    "out_of_scope",
    "injection",
    "ordinary",
)


@dataclass(frozen=True)
class Thresholds:
    """Probability mass at which a safety class fires.

    Chosen from out-of-fold predictions (grouped by paraphrase family) so that recall on the
    safety classes meets its target; false fires are then brought down with better ordinary
    examples, not by raising these.
    """

    crisis: float = 0.10
    emergency: float = 0.15
    advice: float = 0.25
    out_of_scope: float = 0.40
    injection: float = 0.60
    # A prior crisis turn keeps the conversation on the crisis route when the new message is
    # at least this crisis-like (or short, or names a plan, time or means).
    crisis_followup: float = 0.04
    # Distress worth a supportive note with help lines when nothing else fires.
    distress: float = 0.06


@dataclass(frozen=True)
class Utterance:
    text: str
    label: str
    family: str
    lang: str = "en"


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for one message."""

    probs: dict[str, float]

    @property
    def label(self) -> str:
        return max(self.probs, key=self.probs.__getitem__)

    @property
    def crisis(self) -> float:
        return self.probs["crisis_self"] + self.probs["crisis_other"]

    @property
    def emergency(self) -> float:
        return self.probs["emergency"] + self.probs["poisoning"]

    def __getitem__(self, label: str) -> float:
        return self.probs[label]


def load_utterances(folder: Path = UTTERANCES_DIR) -> list[Utterance]:
    """Every labelled utterance under `folder` (`*.jsonl`: text, label, family, lang)."""
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise ClassifierError(f"no utterance files (*.jsonl) in {folder}")
    out: list[Utterance] = []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                item = Utterance(
                    text=str(row["text"]).strip(),
                    label=str(row["label"]),
                    family=f"{path.stem}:{row['family']}",
                    lang=str(row.get("lang", "en")),
                )
            except (ValueError, KeyError) as exc:
                raise ClassifierError(
                    f"{path.name}:{n}: not a valid utterance row ({exc})"
                ) from exc
            if item.label not in LABELS:
                raise ClassifierError(f"{path.name}:{n}: unknown label {item.label!r}")
            if item.text:
                out.append(item)
    return out


class Featuriser:
    """Sentence embedding joined with character and word n-gram TF-IDF, one sparse row per text.

    The embedding carries meaning across wordings; character n-grams carry typos, slang and
    Spanish; word n-grams carry short telling phrases. Grouped cross-validation chose the weights.
    """

    CHAR_WEIGHT = 1.0
    WORD_WEIGHT = 1.0

    def __init__(self, embedder: Embedder) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.embedder = embedder
        self.chars = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(2, 5),
            min_df=2,
            sublinear_tf=True,
            max_features=40_000,
            dtype=np.float32,
        )
        self.words = TfidfVectorizer(
            analyzer="word",
            ngram_range=(1, 2),
            min_df=2,
            sublinear_tf=True,
            token_pattern=r"(?u)\b\w+\b",
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str], vectors: np.ndarray) -> Any:
        normalised = [normalise(t) for t in texts]
        self.chars.fit(normalised)
        self.words.fit(normalised)
        return self._stack(normalised, vectors)

    def join(self, texts: Sequence[str], vectors: np.ndarray) -> Any:
        return self._stack([normalise(t) for t in texts], vectors)

    def _stack(self, normalised: list[str], vectors: np.ndarray) -> Any:
        from scipy import sparse

        return sparse.hstack(
            [
                sparse.csr_matrix(vectors),
                self.chars.transform(normalised) * self.CHAR_WEIGHT,
                self.words.transform(normalised) * self.WORD_WEIGHT,
            ],
            format="csr",
        )

    def transform(self, texts: Sequence[str]) -> Any:
        # Urgent: triage must not wait behind answers embedding their passages.
        vectors = self.embedder.encode_cached(list(texts), urgent=True, layer=TRIAGE_LAYER)
        return self.join(texts, vectors)


def fit_model(features: Any, labels: Sequence[str]) -> Any:
    """The logistic regression every build uses (deterministic: lbfgs, fixed settings)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=8.0, max_iter=3000)
    model.fit(features, list(labels))
    return model


class SafetyClassifier:
    """Class probabilities for messages; built once per process and shared."""

    def __init__(self, featuriser: Featuriser, model: Any, thresholds: Thresholds) -> None:
        self.featuriser = featuriser
        self.model = model
        self.thresholds = thresholds
        self._classes = [str(c) for c in model.classes_]
        # Threads triaging at the same moment share one forward pass (batching.py).
        self._batched = Batcher(self._predict_now)

    @classmethod
    def train(
        cls,
        embedder: Embedder,
        utterances: Sequence[Utterance] | None = None,
        thresholds: Thresholds | None = None,
        cache_dir: Path | None = None,
        vectors: np.ndarray | None = None,
    ) -> SafetyClassifier:
        """Fit on the utterance set (embeddings from the on-disk cache when it matches, or
        `vectors` when the caller has them, as cross-validation does)."""
        items = list(utterances) if utterances is not None else load_utterances()
        texts = [u.text for u in items]
        if vectors is None:
            vectors = embed_with_cache(embedder, texts, cache_dir)
        featuriser = Featuriser(embedder)
        features = featuriser.fit(texts, vectors)
        model = fit_model(features, [u.label for u in items])
        return cls(featuriser, model, thresholds or Thresholds())

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Probabilities per label for each text (texts are embedded through the cache)."""
        if not texts:
            return []
        return self._batched(texts)

    def _predict_now(self, texts: list[str]) -> list[Prediction]:
        import sklearn

        # The features are ours and finite, and the model was fitted here: sklearn's input
        # checks cost about a millisecond a message on the path every request takes.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            rows = self.model.predict_proba(self.featuriser.transform(texts))
        return [
            Prediction({label: float(p) for label, p in zip(self._classes, row, strict=True)})
            for row in rows
        ]

    def predict_one(self, text: str) -> Prediction:
        return self.predict([text])[0]


def embed_with_cache(
    embedder: Embedder, texts: Sequence[str], cache_dir: Path | None
) -> np.ndarray:
    """Embeddings of the training texts.

    Read from the artefact shipped beside the utterances when the same model embedded the same
    texts (rebuild it with ``python -m assistant.triage.build``), else from `cache_dir`, else
    computed (about 90 s on 2 cores) and written to `cache_dir`.
    """
    key = vectors_key(embedder, texts)
    width = 2 * embedder.dimension  # the last layer's vector, then TRIAGE_LAYER's
    shipped = _read_vectors(SHIPPED_VECTORS, key, len(texts), width)
    if shipped is not None:
        return shipped
    path = cache_dir / f"triage-utterances-{key}.npz" if cache_dir else None
    cached = _read_vectors(path, key, len(texts), width) if path else None
    if cached is not None:
        return cached
    log.info("embedding %d triage utterances (cached afterwards)", len(texts))
    last, early = embedder.encode_layers(list(texts), TRIAGE_LAYER, whole=True)
    # Stored and used at half precision, so a fresh build and a cached one train identically.
    vectors = np.hstack([last, early]).astype(np.float16)
    if path is not None:
        try:
            write_vectors(path, key, vectors)
            _prune(path, "triage-utterances-*.npz")
        except OSError as exc:  # a read-only data folder costs time at each start, no more
            log.warning("could not write triage embedding cache: %s", exc)
    return vectors.astype(np.float32)


def write_vectors(path: Path, key: str, vectors: np.ndarray) -> None:
    """Write utterance vectors with the key that says which model and texts they belong to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        np.savez(handle, key=np.array(key), vectors=vectors.astype(np.float16))
    tmp.replace(path)


def _prune(kept: Path, pattern: str) -> None:
    """Remove the cache files of earlier utterance sets: only the current one is ever read."""
    for old in kept.parent.glob(pattern):
        if old != kept:
            old.unlink(missing_ok=True)


def _read_vectors(path: Path | None, key: str, rows: int, width: int) -> np.ndarray | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path) as data:
            if str(data["key"]) != key or data["vectors"].shape != (rows, width):
                return None
            return data["vectors"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        log.warning("triage embedding cache %s unreadable; ignoring it", path.name)
        return None


def vectors_key(embedder: Embedder, texts: Iterable[str]) -> str:
    """A short digest of the model, the layer read and the texts: which vectors a file holds."""
    digest = hashlib.sha256(f"{embedder.path.name}+layer{TRIAGE_LAYER}".encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


_shared: dict[int, SafetyClassifier] = {}
_shared_lock = threading.Lock()


def get_classifier(embedder: Embedder, cache_dir: Path | None = None) -> SafetyClassifier:
    """The process-wide classifier for an embedder, trained on first use.

    With a `cache_dir`, the fitted model is kept there too, keyed by the model, the utterances
    and the library versions, so a later start loads it in a fraction of a second instead of
    fitting again (several seconds). The cache is our own file in our own data folder.
    """
    with _shared_lock:
        if id(embedder) not in _shared:
            _shared[id(embedder)] = load_or_train(embedder, cache_dir)
        return _shared[id(embedder)]


def load_or_train(embedder: Embedder, cache_dir: Path | None) -> SafetyClassifier:
    import pickle

    import sklearn

    utterances = load_utterances()
    # This module's own source is part of the key: a change to the features or the model
    # invalidates the cache as surely as a change to the data.
    source = Path(__file__).read_text(encoding="utf-8")
    key = vectors_key(embedder, [source, *(f"{u.label}\t{u.text}" for u in utterances)])
    path = cache_dir / f"triage-classifier-{key}-{sklearn.__version__}.pkl" if cache_dir else None
    if path is not None and path.is_file():
        try:
            with path.open("rb") as handle:
                featuriser, model = pickle.load(handle)
            featuriser.embedder = embedder
            return SafetyClassifier(featuriser, model, Thresholds())
        except Exception as exc:  # a damaged or foreign cache file: fit again
            log.warning("triage classifier cache %s unreadable (%s); refitting", path.name, exc)
    classifier = SafetyClassifier.train(embedder, utterances, cache_dir=cache_dir)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            featuriser = classifier.featuriser
            with tmp.open("wb") as handle:
                # The embedder is the process's own; it is not part of the fitted model.
                featuriser.embedder = None  # type: ignore[assignment]
                try:
                    pickle.dump((featuriser, classifier.model), handle)
                finally:
                    featuriser.embedder = embedder
            tmp.replace(path)
            _prune(path, "triage-classifier-*.pkl")
        except OSError as exc:
            log.warning("could not cache the triage classifier: %s", exc)
    return classifier
