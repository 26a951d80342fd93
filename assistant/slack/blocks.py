"""Block Kit for answers, built with `slack_sdk.models.blocks` so Slack's limits are checked here.

Slack rejects a whole message when one block breaks a limit (section text 3,000 characters, ten
context elements, fifty blocks, a 2,000-character button value), and a rejected answer is worse
than a shortened one. So every text is cut to its limit here, the sources are packed into as few
sections as fit, and `to_dicts` runs slack_sdk's own validation: a breach fails in tests, not in
front of a staff member.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)

from assistant.models import Answer, Citation, Route

SECTION_CHARS = 3000
CONTEXT_CHARS = 3000  # per text element of a context block
MAX_BLOCKS = 50
BUTTON_VALUE_CHARS = 2000
FALLBACK_CHARS = 3500  # the notification text; Slack truncates beyond 40,000 but keep it short
QUOTE_CHARS = 300  # a passage quoted in the sources block; the link leads to the rest
# Budgets that keep a whole message well within what Slack accepts and a reader can take in.
ANSWER_CHARS = 4 * SECTION_CHARS
SOURCES_CHARS = 3 * SECTION_CHARS

# action_id of each button; app.py listens for them.
FEEDBACK_UP = "fibro_feedback_up"
FEEDBACK_DOWN = "fibro_feedback_down"
ESCALATE = "fibro_escalate"
SHARE = "fibro_share"

ESCALATION_NOTE = (
    ":rotating_light: *For staff:* this message reads as a {kind}. The person was given the fixed "
    "reply and help lines above. Please consider escalating to a human now "
    "(the button below posts it to the escalation channel)."
)


def escape(text: str) -> str:
    """Slack's three control characters; anything else is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, marking a cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def button_value(trace_id: str, question: str) -> str:
    """What the escalate and share buttons carry: the trace and the (shortened) question.

    Carried in the message itself so a button still works in another process, or after a
    restart, when no memory of the answer is left.
    """
    value = {"t": trace_id, "q": question}
    text = json.dumps(value, ensure_ascii=False)
    while len(text) > BUTTON_VALUE_CHARS:
        value["q"] = cut(value["q"], len(value["q"]) - (len(text) - BUTTON_VALUE_CHARS) - 1)
        text = json.dumps(value, ensure_ascii=False)
    return text


def read_button_value(value: str) -> tuple[str, str]:
    """(trace_id, question) from `button_value`; a bare trace id (feedback buttons) also works."""
    try:
        data = json.loads(value)
    except ValueError:
        return value, ""
    if not isinstance(data, dict):
        return value, ""
    return str(data.get("t", "")), str(data.get("q", ""))


def _sections(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Split long mrkdwn into section-sized pieces, at paragraph or line ends where possible."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        at = max(rest.rfind("\n", 0, limit), rest.rfind(". ", 0, limit) + 1)
        at = at if at > limit // 2 else limit
        pieces.append(rest[:at].strip())
        rest = rest[at:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def source_line(c: Citation) -> str:
    """One source: `[n]` and the title as a link, its type and evidence, the quoted passage."""
    title = escape(cut(c.title, 200))
    link = f"<{c.url}|{title}>" if c.url and "|" not in c.url and ">" not in c.url else title
    kind = c.source_type.replace("_", " ")
    evidence = f", {c.evidence} evidence" if c.evidence and c.evidence != "none" else ""
    quote = escape(cut(" ".join(c.quote.split()), QUOTE_CHARS))
    return f"*[{c.n}]* {link} _({kind}{evidence})_\n> {quote}"


def _sources_text(citations: list[Citation]) -> str:
    """The sources block's text: whole source lines within the budget, then how many are left."""
    lines = ["*Sources*"]
    used = len(lines[0])
    for i, c in enumerate(citations):
        line = source_line(c)
        if used + len(line) + 40 > SOURCES_CHARS:
            lines.append(f"_…and {len(citations) - i} more sources_")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def answer_blocks(
    answer: Answer, question: str, *, share: bool = False, progress: str | None = None
) -> list[dict[str, Any]]:
    """The whole answer message: text, sources, hedges, resources, disclaimer, buttons.

    `share` adds the "Share in channel" button of a private `/fibro` draft. The body is cut
    to leave room for the fixed blocks, so the result never exceeds Slack's fifty blocks.
    """
    blocks: list[Block] = []
    crisis = answer.route in (Route.crisis, Route.emergency)
    body = [
        SectionBlock(text=MarkdownTextObject(text=p))
        for p in _sections(cut(escape(answer.answer), ANSWER_CHARS))
    ]
    if progress:
        body.append(SectionBlock(text=MarkdownTextObject(text=progress)))
    tail: list[Block] = []
    if answer.hedges:
        hedges = "\n".join(f":warning: _{escape(h)}_" for h in answer.hedges)
        text = cut("*How far the evidence goes*\n" + hedges, SECTION_CHARS)
        tail.append(SectionBlock(text=MarkdownTextObject(text=text)))
    if answer.resources:
        lines = [
            f"• *{escape(r.name)}*: {escape(r.contact)} ({escape(r.region)})"
            + (f" {escape(r.note)}" if r.note else "")
            for r in answer.resources
        ]
        text = cut("*Help lines*\n" + "\n".join(lines), SECTION_CHARS)
        tail.append(SectionBlock(text=MarkdownTextObject(text=text)))
    if crisis:
        kind = "crisis" if answer.route == Route.crisis else "medical emergency"
        tail.append(SectionBlock(text=MarkdownTextObject(text=ESCALATION_NOTE.format(kind=kind))))
    sources: list[Block] = []
    if answer.citations:
        sources.append(DividerBlock())
        sources += [
            SectionBlock(text=MarkdownTextObject(text=p))
            for p in _sections(_sources_text(answer.citations))
        ]
    footer: list[Block] = [
        ContextBlock(
            elements=[MarkdownTextObject(text=cut(escape(answer.disclaimer), CONTEXT_CHARS))]
        ),
        ActionsBlock(elements=_buttons(answer, question, share=share)),
    ]
    # Keep the fixed parts; shorten the body and the sources when the total would exceed 50.
    room = MAX_BLOCKS - len(tail) - len(footer)
    sources = sources[: max(0, room - 1)]
    body = body[: max(1, room - len(sources))]
    blocks = body + tail + sources + footer
    return [b.to_dict() for b in blocks[:MAX_BLOCKS]]  # to_dict() validates each block


def _buttons(answer: Answer, question: str, *, share: bool) -> list[ButtonElement]:
    value = button_value(answer.trace_id, question)
    buttons = [
        ButtonElement(text="👍", action_id=FEEDBACK_UP, value=answer.trace_id),
        ButtonElement(text="👎", action_id=FEEDBACK_DOWN, value=answer.trace_id),
        ButtonElement(
            text="Escalate to a human",
            action_id=ESCALATE,
            value=value,
            style="danger" if answer.route in (Route.crisis, Route.emergency) else None,
        ),
    ]
    if share:
        buttons.insert(
            0, ButtonElement(text="Share in channel", action_id=SHARE, value=value, style="primary")
        )
    return buttons


def fallback_text(answer: Answer) -> str:
    """The notification and history text of an answer message (`text` beside the blocks)."""
    return cut(answer.answer, FALLBACK_CHARS)


def escalation_blocks(
    question: str, answer_text: str, link: str, user: str | None
) -> list[dict[str, Any]]:
    """What the escalation channel sees: who asked for help, the question, the answer, the link."""
    who = f"<@{user}>" if user else "A staff member"
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f":sos: {who} escalated a question to a human. <{link}|Open the thread>"
            )
        ),
        SectionBlock(
            text=MarkdownTextObject(text=cut("*Question*\n" + escape(question), SECTION_CHARS))
        ),
        SectionBlock(
            text=MarkdownTextObject(text=cut("*Answer*\n" + escape(answer_text), SECTION_CHARS))
        ),
    ]
    return [b.to_dict() for b in blocks]
