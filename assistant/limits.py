"""The limits a question must meet, checked the same way by every surface (API and CLI)."""

from __future__ import annotations

from assistant.errors import InputError
from assistant.settings import Settings


def check_question(question: str, settings: Settings) -> str:
    """The question without surrounding space, or an `InputError` saying what is accepted.

    The API turns the error into a 422; the CLI prints it and exits 2. Checked before any model
    loads, so a bad question costs nothing.
    """
    question = question.strip()
    if not question:
        raise InputError("question: the question must contain some text")
    if len(question) > settings.max_question_chars:
        raise InputError(
            f"question: the question is {len(question)} characters; "
            f"the limit is {settings.max_question_chars} (FIBRO_MAX_QUESTION_CHARS)"
        )
    return question
