"""Fact marks: which fact-sheet facts a corpus sentence states, and what kind of evidence it is.

The corpus summaries carry a mark after each sentence, in braces:

    Mice given patient IgG became more sensitive to cold. {A4 animal}
    The release calls fibromyalgia an immune disease. {P2 vs:L10}

- fact IDs (`A4`, `P2`, `SF1`) name the fact-sheet facts the sentence states; `-` marks a
  sentence that states none of them;
- `animal`, `human` or `none` is the sentence's evidence where it differs from the document's
  (a mouse result inside a human review, a human figure inside a mouse paper);
- `vs:ID` names a fact that qualifies this one (the paper's own wording beside a press-release
  overclaim, the other guideline where two disagree); the composer states it beside this one.

A mark covers the text since the previous mark in the same paragraph, so a mark at the end of a
paragraph with no others covers the whole paragraph. The marks are removed from the text before
it is indexed and travel with each chunk as metadata. Documents without marks (PubMed, PDF,
HTML, anyone's own notes) load exactly as before.
"""

from __future__ import annotations

import re
from typing import cast

from assistant.errors import MarkError
from assistant.marks import EVIDENCE_WORDS, ChunkMark, Mark, SentenceEvidence

FACT_ID = re.compile(r"^[A-Z]{1,2}\d{1,2}$")
# A mark: braces holding fact IDs, "-", evidence words and vs:ID relations, nothing else.
MARK_RE = re.compile(
    r"[ \t]*\{((?:[A-Z]{1,2}\d{1,2}|-|animal|human|none|vs:[A-Z]{1,2}\d{1,2})"
    r"(?:[ ,]+(?:[A-Z]{1,2}\d{1,2}|-|animal|human|none|vs:[A-Z]{1,2}\d{1,2}))*)\}"
)


def parse_mark(body: str) -> tuple[tuple[str, ...], SentenceEvidence | None, tuple[str, ...]]:
    """`"A4 animal vs:L10"` -> (("A4",), "animal", ("L10",))."""
    facts: list[str] = []
    qualified: list[str] = []
    evidence: SentenceEvidence | None = None
    for token in re.split(r"[ ,]+", body.strip()):
        if token == "-":
            continue
        if token in EVIDENCE_WORDS:
            if evidence is not None and evidence != token:
                raise MarkError(f"mark {{{body}}} gives two kinds of evidence")
            evidence = cast(SentenceEvidence, token)
        elif token.startswith("vs:"):
            qualified.append(token[3:])
        elif FACT_ID.match(token):
            facts.append(token)
        else:
            raise MarkError(
                f"mark {{{body}}}: {token!r} is not a fact ID, '-', an evidence word or vs:ID"
            )
    return tuple(dict.fromkeys(facts)), evidence, tuple(dict.fromkeys(qualified))


_BLOCK_START = re.compile(r"^\s*(?:#{1,6}\s|[-*+]\s|\d+[.)]\s|>|\|)")


def _paragraph_start(text: str) -> int:
    """Where the paragraph (or list item, or table row) that `text` ends in begins.

    Soft-wrapped lines belong to one paragraph; a blank line, a heading, a list item or a table
    row starts a new one.
    """
    end = len(text)
    while True:
        line_start = text.rfind("\n", 0, end) + 1
        line = text[line_start:end]
        if _BLOCK_START.match(line) and not line.lstrip().startswith("#"):
            return line_start
        if line_start == 0:
            return 0
        previous_start = text.rfind("\n", 0, line_start - 1) + 1
        previous = text[previous_start : line_start - 1]
        if not previous.strip() or previous.lstrip().startswith("#"):
            return line_start
        end = line_start - 1


def extract_marks(text: str) -> tuple[str, list[Mark]]:
    """Remove the marks from a document's text; return the clean text and what each mark covers."""
    marks: list[Mark] = []
    clean = ""
    cursor = 0
    segment_start = 0  # where the text the next mark covers begins, in the clean text
    for match in MARK_RE.finditer(text):
        clean += text[cursor : match.start()]
        start = max(segment_start, _paragraph_start(clean))
        covered = clean[start:].strip()
        facts, evidence, qualified = parse_mark(match.group(1))
        if covered:
            marks.append(Mark(covered, facts, evidence, qualified))
        cursor = match.end()
        segment_start = len(clean)
    return clean + text[cursor:], marks


def place_marks(chunk_text: str, marks: list[Mark]) -> list[ChunkMark]:
    """Where each mark's text sits in a chunk (a mark split across chunks is placed in neither).

    `marks` hold text as cleaned for indexing (the same normalisation as the chunk's text).
    """
    placed: list[ChunkMark] = []
    search_from = 0
    for mark in marks:
        at = chunk_text.find(mark.text, search_from)
        if at < 0:
            at = chunk_text.find(mark.text)
            if at < 0:
                continue
        placed.append(
            ChunkMark(at, at + len(mark.text), mark.facts, mark.evidence, mark.qualified_by)
        )
        search_from = at + len(mark.text)
    return placed
