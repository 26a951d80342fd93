"""Every error the project raises on purpose, in one tree (as httpx keeps its own).

Catch `FibroError` to handle anything of ours; catch a branch to handle one kind of failure. A
message always says what went wrong and, where it can, what to do about it.

    FibroError
    ├── InputError            a question or setting a user can correct (empty, malformed)
    │   ├── InputTooLongError a message over its length limit (the API answers 413)
    │   └── InvalidTextError  text that is not valid Unicode (a lone surrogate)
    ├── StoreError            the index could not be opened or read
    ├── EmbedderError         the embedding model could not be found or loaded
    ├── ComposerError         the model gave no usable draft (provider down, timeout, empty reply)
    ├── ClassifierError       the triage utterance set is missing or malformed
    ├── FeedbackStoreError    the feedback store could not be opened, read or written
    ├── IngestError           a file could not be made into passages
    │   ├── LoadError         a file could not be read as a source
    │   └── MarkError         a fact mark in a corpus document cannot be read
    └── EvalError             an eval run could not be set up or scored
        ├── CaseLoadError     an eval case file is malformed
        ├── RunLoadError      an eval output folder cannot be read
        ├── ThresholdError    the thresholds file is malformed
        ├── HttpTargetError   the service under evaluation did not answer
        └── VerifierError     an independent verifier could not score an answer

The classes keep the built-in base they had before the tree existed (`RuntimeError`,
`ValueError`), so code that caught those still works.
"""

from __future__ import annotations

from pathlib import Path


class FibroError(Exception):
    """The root of every error this project raises on purpose."""


class InputError(FibroError, ValueError):
    """Input a user can correct: the message says what is accepted."""


class InputTooLongError(InputError):
    """A message longer than its limit (`max_question_chars`): the API answers 413."""


class InvalidTextError(InputError):
    """Text that is not valid Unicode (a lone surrogate): it cannot be encoded, stored or sent."""


class StoreError(FibroError, RuntimeError):
    """The index could not be opened or read (a Chroma server down, a damaged folder)."""


class EmbedderError(FibroError, RuntimeError):
    """The embedding model could not be found or loaded."""


class ComposerError(FibroError, RuntimeError):
    """The composer could not produce a draft (provider down, timeout, empty reply)."""


class ClassifierError(FibroError, RuntimeError):
    """The utterance set is missing or malformed."""


class FeedbackStoreError(FibroError, RuntimeError):
    """The feedback store (SQLite or Postgres) could not be opened, read or written."""


class IngestError(FibroError):
    """A file could not be made into passages."""


class LoadError(IngestError):
    """A file could not be read as a source; the message says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class MarkError(IngestError, ValueError):
    """A mark that cannot be read; the message names it."""


class EvalError(FibroError):
    """An eval run could not be set up or scored."""


class CaseLoadError(EvalError, ValueError):
    """An eval case file is malformed; the message names the file and line."""


class RunLoadError(EvalError, ValueError):
    """An output folder's summary.json or results.jsonl cannot be read (names file and line)."""


class ThresholdError(EvalError, ValueError):
    """The thresholds file is malformed; the message names the entry."""


class HttpTargetError(EvalError, RuntimeError):
    """The service under evaluation did not answer."""


class VerifierError(EvalError, RuntimeError):
    """An independent verifier could not score an answer."""
