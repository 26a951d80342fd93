"""Composers turn a question and numbered passages into answer text with [n] markers.

`ExtractiveComposer` (deterministic, no model) plans an answer from source sentences;
`LLMComposer` (any litellm model string) streams a model's draft. They differ in how they are
driven (a whole plan before the stream starts, fragments as they arrive), so the pipeline calls
each directly and verifies whatever they write; the model's failure falls back to extractive.
"""
