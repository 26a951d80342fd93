"""The extractive composer: an answer built from the best-supported source sentences.

Deterministic and model-free. It is the default when no LLM is configured and the fallback when
the LLM fails or its output does not survive verification.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from assistant.compose.plan import QuestionPlan, plan_question, question_parts, shape_fit
from assistant.index.embedder import Embedder, get_embedder
from assistant.index.lexical import tokenize
from assistant.injection import looks_like_injection
from assistant.markers import ends_sentence, with_markers
from assistant.retrieve import Passage, specific_terms
from assistant.sentences import Sentence, split_passage

# Relevance is cosine similarity plus these shares of the question's words in the sentence.
LEXICAL_WEIGHT = 0.10
SPECIFIC_WEIGHT = 0.20
# A sentence below this relevance never enters an answer.
MIN_RELEVANCE = 0.30
# The best sentence must reach this, or nothing in the passages answers the question.
ANSWERS_FLOOR = 0.40
# Sentences after the opener must score within this margin of it, or above the floor, to bear
# on the question.
BEARS_MARGIN = 0.18
BEARS_FLOOR = 0.68
# A sentence stating a fact the answer has not given yet is preferred by this much.
NEW_FACT_BONUS = 0.08
# Sentences of the opener's own passage, and more so of its paragraph, are preferred: they
# continue the answer.
NEIGHBOUR_BONUS = 0.06
PARAGRAPH_BONUS = 0.15
# The lift a sentence of the right shape gets (a figure for "how many", a date for "when").
FIT_WEIGHT = 0.10
# Answers shorter than this are filled from the opener's own paragraph, with sentences within
# WIDE_MARGIN of its relevance and above FILL_FLOOR.
MIN_SENTENCES = 3
WIDE_MARGIN = 0.40
FILL_FLOOR = 0.45
# A follower this similar to the opener continues its point.
OPENER_LINK = 0.55
# A sentence answering one part of a many-part question holds this share of its words' weight.
PART_SHARE = 0.6
# A press-release sentence opens only if no other source's sentence is this close to it.
PRESS_RELEASE_MARGIN = 0.15
# An answer quotes a press release at most this many times.
MAX_PRESS_RELEASE = 2
# A sentence of the right shape this close to the opener's relevance bears on the question
# without those words.
NEAR_OPENER = 0.03
# How much less relevant than the best sentence an opener of the right shape may be.
SHAPE_MARGIN = 0.15
# A sentence whose facts are already stated must have this share of words not yet used.
RESTATED_NOVELTY = 0.5
# Two sentences this similar say the same thing; between marked sentences, only near-duplicates.
REDUNDANCY = 0.80
NEAR_DUPLICATE = 0.92
# The paper's or a review's wording is preferred to the press release's where both are found.
PRESS_RELEASE_FACTOR = 0.88


# A sentence opening with one of these leans on the sentence before it for its meaning.
_ANAPHORA = re.compile(
    r"^(?:he|she|it|they|this|these|that|those|such|its|their|his|her|both|there)\b", re.IGNORECASE
)
# So does a short sentence that points back early on ("In the paper, that finding comes from
# mice.", "The release goes further.").
_POINTS_BACK = re.compile(
    r"\b(?:that|this|these|those|such|further|also|too|same|again|likewise|similarly)\b",
    re.IGNORECASE,
)


def needs_context(sentence: str) -> bool:
    """Whether a sentence only makes sense after the one before it."""
    if _ANAPHORA.match(sentence):
        return True
    words = sentence.split()
    return len(words) <= 14 and _POINTS_BACK.search(" ".join(words[:8])) is not None


@dataclass(frozen=True)
class Candidate:
    passage: int  # 0-based index into passages
    text: str
    offset: int  # position of the sentence in the passage text
    relevance: float
    # The sentences before it in the same paragraph, nearest first.
    previous: tuple[tuple[str, int], ...] = ()
    # Which paragraph of its passage it is in (0-based).
    paragraph: int = 0
    # How well it has the shape of an answer to the question's kind (plan.shape_fit).
    fit: float = 0.0
    # Fact-sheet facts its mark says it states, and facts that must be stated beside it.
    facts: tuple[str, ...] = ()
    qualified_by: tuple[str, ...] = ()
    # The share of the weight of the question's own words it contains, overall and for each
    # part of a question that asks several things.
    specific: float = 0.0
    parts: tuple[float, ...] = ()
    # The question's words it contains, the most telling first.
    matched: tuple[str, ...] = ()

    press_release: bool = False

    @property
    def score(self) -> float:
        """Relevance with a lift for the right shape: what the plan ranks sentences by."""
        return self.relevance + FIT_WEIGHT * self.fit


@lru_cache(maxsize=50_000)
def _usable(sentence: str) -> bool:
    words = sentence.split()
    if not 6 <= len(words) <= 70:
        return False
    # Headings, list fragments and questions do not read as answer sentences, and a passage
    # sentence that gives the assistant orders is data to ignore, not a claim to quote.
    if re.search(r"[.!][\"')\]]*$", sentence.rstrip()) is None:
        return False
    return not looks_like_injection(sentence)


def _matched(asked: set[str], words: set[str]) -> set[str]:
    """The asked terms the words contain, one a prefix of the other ("fund" ~ "funde")."""
    return {
        t
        for t in asked
        if t in words or any(min(len(t), len(w)) >= 4 and w[:4] == t[:4] for w in words)
    }


def _share(found: set[str], asked: set[str], weights: dict[str, float]) -> float:
    total = sum(weights[t] for t in asked)
    return sum(weights[t] for t in found & asked) / total if total else 0.0


def candidates(
    query: str,
    query_vector: np.ndarray,
    passages: Sequence[Passage],
    embedder: Embedder,
    plan: QuestionPlan | None = None,
    question: str | None = None,
) -> list[Candidate]:
    """Every usable sentence of the passages with its relevance to the query and its marks."""
    found: list[tuple[int, Sentence, tuple[tuple[str, int], ...], int]] = []
    for p_index, passage in enumerate(passages):
        text = passage.chunk.text
        previous: tuple[tuple[str, int], ...] = ()
        paragraph = 0
        for sentence in split_passage(text):
            usable = _usable(sentence.text)
            if usable:
                found.append((p_index, sentence, previous, paragraph))
            # A paragraph break resets the context a following pronoun could refer to.
            gap = text[sentence.end : sentence.end + 2]
            if "\n" in gap:
                paragraph += 1
            if "\n" in gap or not usable:
                previous = ()
            else:
                previous = ((sentence.text, sentence.start), *previous)
    if not found:
        return []
    vectors = embedder.encode_cached([item[1].text for item in found])
    semantic = vectors @ np.asarray(query_vector, dtype=np.float32)
    query_terms = set(tokenize(query))
    query_specific = specific_terms(query)
    sentence_specific = [_matched(query_specific, specific_terms(item[1].text)) for item in found]
    # The question's words weigh by how few of these sentences contain them: in passages that
    # all say "Goebel 2021 study", the word that tells answers apart is "funded" or "2016".
    weights = {
        term: math.log((1 + len(found)) / (1 + sum(term in t for t in sentence_specific))) + 0.1
        for term in query_specific
    }
    part_terms = [
        specific_terms(part) & query_specific for part in question_parts(question or query)
    ]
    part_terms = [terms for terms in part_terms if terms] if len(part_terms) > 1 else []
    out = []
    for (p_index, sentence, previous, paragraph), sim, own in zip(
        found, semantic, sentence_specific, strict=True
    ):
        chunk = passages[p_index].chunk
        terms = set(tokenize(sentence.text))
        overlap = len(query_terms & terms) / len(query_terms) if query_terms else 0.0
        specific = _share(own, query_specific, weights)
        relevance = float(sim) + LEXICAL_WEIGHT * overlap + SPECIFIC_WEIGHT * specific
        if chunk.source_type == "press_release":
            relevance *= PRESS_RELEASE_FACTOR
        mark = chunk.mark_at(sentence.start, sentence.end)
        out.append(
            Candidate(
                passage=p_index,
                text=sentence.text,
                offset=sentence.start,
                relevance=relevance,
                previous=previous,
                paragraph=paragraph,
                fit=shape_fit(sentence.text, plan) if plan else 0.0,
                facts=mark.facts if mark else (),
                qualified_by=mark.qualified_by if mark else (),
                specific=specific if query_specific else 1.0,
                parts=tuple(_share(own, terms, weights) for terms in part_terms),
                matched=tuple(sorted(own, key=lambda t: -weights[t])),
                press_release=chunk.source_type == "press_release",
            )
        )
    return out


def _new_facts(cand: Candidate, stated: set[str]) -> bool:
    return bool(set(cand.facts) - stated)


def _repeats(cand: Candidate, chosen: list[Candidate], stated: set[str]) -> bool:
    """A fact already stated from another passage is not stated again."""
    if not cand.facts or not set(cand.facts) <= stated:
        return False
    return all(c.passage != cand.passage for c in chosen if set(c.facts) & set(cand.facts))


def _bears(cand: Candidate, opener: Candidate, link: float) -> bool:
    """Whether a sentence bears on the question, beyond being near it in embedding space.

    It shares the most telling question word the opener answers with ("funded" in "who funded
    the study?"), or continues the opener's point (`link`: their similarity), or answers one
    part of a many-part question, or has the right shape and is as relevant as the opener.
    """
    if opener.matched and opener.matched[0] in cand.matched:
        return True
    if link >= OPENER_LINK:
        return True
    if any(share >= PART_SHARE for share in cand.parts):
        return True
    return cand.fit >= 0.5 and cand.relevance >= opener.relevance - NEAR_OPENER


def choose_opener(pool: list[Candidate]) -> Candidate:
    """The sentence to open with: the best score, of the right shape, and not the release's.

    A sentence with the shape of an answer wins over a slightly more relevant one without it;
    a press-release sentence leads only when no other source says anything close.
    """
    opener = max(pool, key=lambda c: c.score)
    shaped = [c for c in pool if c.fit >= 0.5 and c.relevance >= opener.relevance - SHAPE_MARGIN]
    if opener.fit < 0.5 and shaped:
        opener = max(shaped, key=lambda c: c.score)
    if opener.press_release:
        others = [
            c
            for c in pool
            if not c.press_release and c.relevance >= opener.relevance - PRESS_RELEASE_MARGIN
        ]
        if others:
            opener = max(others, key=lambda c: c.score)
    return opener


def plan_answer(cands: list[Candidate], limit: int, embedder: Embedder) -> list[Candidate]:
    """Open with the sentence that best answers the question, then add what bears on it.

    After the opener come the best sentence for each part of a many-part question, then, while
    they bear on the question (score within BEARS_MARGIN of the opener's and `_bears`),
    sentences from the opener's own passage first and then from others; no fact twice, at most
    MAX_PRESS_RELEASE sentences from a press release, at most `limit` in all. An answer still
    shorter than MIN_SENTENCES is filled from the opener's own paragraph. When nothing clears
    ANSWERS_FLOOR there is no answer, rather than padding.
    """
    pool = [c for c in cands if c.relevance >= MIN_RELEVANCE]
    if not pool:
        return []
    opener = choose_opener(pool)
    if opener.relevance < ANSWERS_FLOOR:
        return []
    # Within BEARS_MARGIN of the opener, or above BEARS_FLOOR outright: an opener that repeats
    # the question's own words must not raise the bar over the sentences that complete it.
    bar = max(MIN_RELEVANCE, min(opener.score - BEARS_MARGIN, BEARS_FLOOR))
    vectors = embedder.encode_cached([c.text for c in pool])
    index = {id(c): i for i, c in enumerate(pool)}
    chosen = [opener]
    stated = set(opener.facts)

    said_words: set[str] = set(tokenize(opener.text))

    def admit(cand: Candidate) -> bool:
        if cand in chosen or len(chosen) >= limit or _repeats(cand, chosen, stated):
            return False
        # A sentence restating known facts must bring words of its own ("varies with the
        # criteria"), not the same claim reworded.
        words = set(tokenize(cand.text))
        novelty = len(words - said_words) / len(words) if words else 0.0
        if cand.facts and set(cand.facts) <= stated and novelty < RESTATED_NOVELTY:
            return False
        if cand.press_release and sum(c.press_release for c in chosen) >= MAX_PRESS_RELEASE:
            return False
        vector = vectors[index[id(cand)]]
        # With fact marks, "no fact twice" is decided by the marks (`_repeats`): two sentences
        # on one subject embed alike ("much more common in women", "about 80% are women").
        limit_similarity = NEAR_DUPLICATE if cand.facts else REDUNDANCY
        if max(float(vector @ vectors[index[id(c)]]) for c in chosen) >= limit_similarity:
            return False
        chosen.append(cand)
        stated.update(cand.facts)
        said_words.update(words)
        return True

    for part in range(len(opener.parts)):
        if any(c.parts[part] >= PART_SHARE for c in chosen):
            continue
        answering = [c for c in pool if c.parts[part] >= PART_SHARE and c.relevance >= bar]
        for cand in sorted(answering, key=lambda c: c.score, reverse=True):
            if admit(cand):
                break

    def priority(c: Candidate) -> float:
        if c.passage != opener.passage:
            return c.score
        same_paragraph = c.paragraph == opener.paragraph
        return c.score + (PARAGRAPH_BONUS if same_paragraph else NEIGHBOUR_BONUS)

    ranked = sorted(pool, key=priority, reverse=True)
    links = {id(c): float(vectors[index[id(c)]] @ vectors[index[id(opener)]]) for c in ranked}
    waiting = [c for c in ranked if priority(c) >= bar and _bears(c, opener, links[id(c)])]
    while waiting and len(chosen) < limit:
        # Among sentences that bear on the question, one that states a fact not yet given
        # comes before one that adds detail to a fact already stated.
        best = max(
            waiting, key=lambda c: priority(c) + (NEW_FACT_BONUS if _new_facts(c, stated) else 0.0)
        )
        waiting.remove(best)
        admit(best)
    # A one- or two-sentence answer is usually a bare verdict ("Fibromyalgia is not cured."):
    # what qualifies it (the evidence is from mice, trials have not reported) is often worded
    # differently from the question. Fill up to MIN_SENTENCES from sentences that continue the
    # opener's point, within a wider margin.
    if len(chosen) < MIN_SENTENCES:
        wide = max(FILL_FLOOR, opener.relevance - WIDE_MARGIN)
        neighbours = [
            c
            for c in pool
            if c.passage == opener.passage and c.paragraph == opener.paragraph and c is not opener
        ]
        # The sentences right after the opener first: they continue what it says.
        neighbours.sort(key=lambda c: (c.offset < opener.offset, abs(c.offset - opener.offset)))
        for cand in neighbours:
            if len(chosen) >= MIN_SENTENCES:
                break
            if cand.relevance >= wide:
                admit(cand)
    return chosen


def with_context(chosen: list[Candidate]) -> list[Candidate]:
    """Give a sentence that opens with a pronoun the sentences it refers back to, or drop it.

    "He describes fibromyalgia as autoimmune." means nothing, or something misleading, alone.
    The chain is followed back to the nearest sentence that names its subject (at most three).
    """
    out: list[Candidate] = []
    present = {(c.passage, c.offset) for c in chosen}
    for cand in chosen:
        if not needs_context(cand.text):
            out.append(cand)
            continue
        context: list[tuple[str, int]] = []
        for text, offset in cand.previous[:3]:
            context.append((text, offset))
            if not needs_context(text):
                break
        else:
            # The chain ran out. A sentence that opens the available text and only points back
            # softly ("...list further symptoms.") is allowed to stand; a bare pronoun is not.
            opener = context[-1][0] if context else cand.text
            if len(cand.previous) > 3 or _ANAPHORA.match(opener):
                continue  # no sentence names the subject: drop rather than mislead
        for text, offset in reversed(context):
            if (cand.passage, offset) not in present:
                out.append(Candidate(cand.passage, text, offset, cand.relevance))
                present.add((cand.passage, offset))
        out.append(cand)
    return out


def arrange(chosen: list[Candidate], opener: Candidate | None = None) -> list[Candidate]:
    """Reading order: the opener's passage first, then passages in the order they were chosen.

    Within a passage sentences keep their text order, except that the opener leads its passage
    (and so the answer): the sentence that answers the question comes first.
    """
    passage_order: list[int] = []
    for cand in chosen:
        if cand.passage not in passage_order:
            passage_order.append(cand.passage)

    def key(c: Candidate) -> tuple[int, int, int]:
        leads = opener is not None and c.passage == opener.passage and c.offset >= opener.offset
        return (passage_order.index(c.passage), 0 if leads else 1, c.offset)

    return sorted(chosen, key=key)


def qualify(chosen: list[Candidate], cands: list[Candidate]) -> list[Candidate]:
    """Put beside each sentence the facts its mark says qualify it (`vs:` in the corpus).

    A press-release claim that goes beyond the paper is followed by the paper's wording; a
    recommendation one guideline makes and another rejects is followed by the other's.
    """
    stated = {f for c in chosen for f in c.facts}
    out: list[Candidate] = []
    for cand in chosen:
        out.append(cand)
        for fact in cand.qualified_by:
            if fact in stated:
                continue
            options = [c for c in cands if fact in c.facts and c not in out and c not in chosen]
            if options:
                # The qualifying sentence closest in wording to the claim it qualifies.
                claim = set(tokenize(cand.text))
                best = max(options, key=lambda c: (len(claim & set(tokenize(c.text))), c.relevance))
                out.append(best)
                stated.update(best.facts)
    return out


def _ensure_stop(text: str) -> str:
    text = text.strip()
    return text if ends_sentence(text) else text + "."


class ExtractiveComposer:
    """Picks, orders and joins source sentences, each followed by its passage number."""

    def __init__(self, sentences: int = 5, embedder: Embedder | None = None) -> None:
        self.sentences = sentences
        self.embedder = embedder or get_embedder()

    def compose(
        self,
        query: str,
        query_vector: np.ndarray,
        passages: Sequence[Passage],
        question: str | None = None,
    ) -> str:
        """The planned answer to `question` (the search `query` when not given), with markers."""
        plan = plan_question(question if question is not None else query)
        found = candidates(query, query_vector, passages, self.embedder, plan, question)
        planned = plan_answer(found, self.sentences, self.embedder)
        opener = planned[0] if planned else None
        chosen = qualify(arrange(with_context(planned), opener), found)
        return " ".join(with_markers(_ensure_stop(c.text), [c.passage + 1]) for c in chosen)
