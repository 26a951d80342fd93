"""The shared index: the embedder and the store that ingest writes through and retrieval reads."""
