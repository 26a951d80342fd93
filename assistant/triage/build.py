"""Rebuild the shipped utterance embeddings after editing ``utterances/*.jsonl``.

    python -m assistant.triage.build

Without it the service still works: it embeds the changed set once at start-up (about 90 s on
2 cores) and caches the result in the data folder. A test fails while the shipped file is stale.
"""

from __future__ import annotations

import sys

from assistant.index.embedder import get_embedder
from assistant.triage.classifier import (
    SHIPPED_VECTORS,
    embed_with_cache,
    load_utterances,
    vectors_key,
    write_vectors,
)


def main() -> int:
    embedder = get_embedder()
    texts = [u.text for u in load_utterances()]
    vectors = embed_with_cache(embedder, texts, None)
    write_vectors(SHIPPED_VECTORS, vectors_key(embedder, texts), vectors)
    print(f"wrote {len(texts)} vectors to {SHIPPED_VECTORS.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
