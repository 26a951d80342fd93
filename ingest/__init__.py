"""The ingest job: load sources, clean and de-duplicate, chunk, embed and index them."""
