"""The composer interface."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from assistant.models import Turn
from assistant.retrieve import Passage


class ComposerError(RuntimeError):
    """The composer could not produce a draft (provider down, timeout, empty reply)."""


@dataclass(frozen=True)
class Draft:
    """Answer text whose [n] markers number into the passages it was given (1-based)."""

    text: str
    mode: str  # "llm" or "extractive"
    model: str | None = None


class Composer(Protocol):
    """Writes a draft from passages; must cite with [n] and use nothing but the passages."""

    mode: str

    def compose(self, question: str, passages: Sequence[Passage], history: Sequence[Turn]) -> Draft:
        """The whole draft at once."""
        ...

    def stream(
        self, question: str, passages: Sequence[Passage], history: Sequence[Turn]
    ) -> Iterator[str]:
        """The draft as text fragments, as they are produced."""
        ...
