"""Composers turn a question and numbered passages into a draft answer with [n] markers.

Two implementations behind one interface: `ExtractiveComposer` (deterministic, no model) and
`LLMComposer` (any litellm model string). The pipeline verifies whatever they write.
"""

from assistant.compose.base import Composer, ComposerError, Draft

__all__ = ["Composer", "ComposerError", "Draft"]
