"""The limits a message must meet, checked the same way by every surface (API and CLI).

One limit (`max_question_chars`) for the question and for every earlier user turn sent with it:
a history turn is read by triage, retrieval and the model just as the question is, so a long one
costs the same and would otherwise be a way around the limit. An assistant turn is the
assistant's own earlier answer sent back by a chat client, with its sources and notes, so it
gets `ASSISTANT_TURN_FACTOR` times as much room: refusing a follow-up because our own answer was
long would be our fault, not the user's.
"""

from __future__ import annotations

from collections.abc import Iterable

from assistant.errors import InputError, InputTooLongError, InvalidTextError
from assistant.settings import Settings

# How many times `max_question_chars` an assistant turn may be (an answer with its sources list).
ASSISTANT_TURN_FACTOR = 4


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a UTF-16 surrogate, which JSON's `\\ud800` escape can smuggle in.

    Such a string cannot be encoded as UTF-8, so it breaks the tokenizer, the logs and the
    stores downstream; it is refused at the door instead.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def invalid_text(where: str) -> InvalidTextError:
    """The error for text at `where` that is not valid Unicode; it names the place, not the text."""
    return InvalidTextError(
        f"{where}: the text contains an unpaired UTF-16 surrogate (for example \\ud800), "
        "which is not valid Unicode; send UTF-8 text"
    )


def check_text(text: str, where: str) -> None:
    """An `InvalidTextError` naming `where` when `text` is not valid Unicode (never echoing it)."""
    if has_lone_surrogate(text):
        raise invalid_text(where)


def turn_limit(role: str, settings: Settings) -> int:
    """The most characters a message of this role may have (assistant turns get more room)."""
    factor = ASSISTANT_TURN_FACTOR if role == "assistant" else 1
    return settings.max_question_chars * factor


def check_length(text: str, where: str, settings: Settings, role: str = "user") -> None:
    """An `InputTooLongError` naming `where` when `text` is longer than its role's limit."""
    size = len(text.strip())
    limit = turn_limit(role, settings)
    if size > limit:
        setting = "FIBRO_MAX_QUESTION_CHARS"
        if role == "assistant":
            setting = f"{ASSISTANT_TURN_FACTOR} x {setting}"
        raise InputTooLongError(
            f"{where}: the message is {size} characters; the limit is {limit} ({setting})"
        )


def check_question(question: str, settings: Settings) -> str:
    """The question without surrounding space, or an `InputError` saying what is accepted.

    The API turns a too-long question into a 413 and any other input error into a 422; the CLI
    prints it and exits 2. Checked before any model loads, so a bad question costs nothing.
    """
    check_text(question, "question")
    question = question.strip()
    if not question:
        raise InputError("question: the question must contain some text")
    check_length(question, "question", settings)
    return question


def check_turns(texts: Iterable[tuple[str, str, str]], settings: Settings) -> None:
    """Check each `(where, text, role)` of a conversation: valid Unicode and within its limit."""
    for where, text, role in texts:
        check_text(text, where)
        check_length(text, where, settings, role)
