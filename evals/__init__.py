"""Eval suites and the `fibro eval` runner: retrieval, citation, hedging and safety metrics."""
