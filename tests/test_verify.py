"""Citation verification with the real embedding model."""

from __future__ import annotations

import json

import pytest

from assistant.sentences import split_answer
from assistant.settings import Settings
from assistant.verify import is_factual, support_score, verify_sentence
from tests.support import DATA

pytestmark = pytest.mark.slow

# The calibrated default, not the developer's environment.
SUPPORT_THRESHOLD: float = Settings.model_fields["support_threshold"].default

PASSAGES = [
    "Patient IgG did not directly activate sensory neurons from untreated (naive) mice. "
    "The authors therefore interpret the effect as sensitisation of peripheral nociceptors.",
    "No randomised placebo-controlled trial of IVIG in fibromyalgia was found in the sources "
    "consulted. The human evidence for IVIG in fibromyalgia is limited to two small uncontrolled studies.",
]


def test_threshold_separates_the_calibration_set() -> None:
    rows = [
        json.loads(line) for line in (DATA / "support_calibration.jsonl").read_text().splitlines()
    ]
    correct = sum(
        (support_score(r["sentence"], [r["passage"]]) >= SUPPORT_THRESHOLD) == r["supported"]
        for r in rows
    )
    accuracy = correct / len(rows)
    print(f"support calibration: {correct}/{len(rows)} = {accuracy:.2f} at {SUPPORT_THRESHOLD}")
    assert accuracy >= 0.9
    # Unsupported claims must never pass: precision on the positive side is what protects readers.
    false_pass = [
        r["sentence"]
        for r in rows
        if not r["supported"] and support_score(r["sentence"], [r["passage"]]) >= SUPPORT_THRESHOLD
    ]
    assert false_pass == []


def test_a_number_the_passages_do_not_contain_is_never_supported() -> None:
    assert support_score("IVIG helped 80% of patients [2].", PASSAGES) == 0.0


def test_verify_drops_bad_citations_uncited_claims_and_unsupported_sentences() -> None:
    text = (
        "Patient IgG did not directly activate naive sensory neurons [1]. "
        "The evidence for IVIG in fibromyalgia is limited to two small uncontrolled studies [2][7]. "
        "IVIG cured most patients in a large trial [2]. "
        "Fibromyalgia affects many people worldwide. "
        "Please talk to your clinician about your own treatment."
    )
    checked = [verify_sentence(s, PASSAGES, SUPPORT_THRESHOLD) for s in split_answer(text)]
    kept = [item for item, _, _ in checked if item is not None]
    reasons = {s: reason for s, (_, reason, _) in zip(split_answer(text), checked, strict=True)}
    assert sum(removed for _, _, removed in checked) == 1
    assert kept[0].text.startswith("Patient IgG") and kept[0].cites == [1]
    assert kept[1].cites == [2]
    assert not any("large trial" in k.text for k in kept)
    assert not any("worldwide" in k.text for k in kept)
    assert kept[-1].text.startswith("Please talk to your clinician")
    assert reasons["Fibromyalgia affects many people worldwide."] == "no valid citation"


def test_markers_after_the_full_stop_stay_with_their_sentence() -> None:
    assert split_answer("Mice recovered. [1] Patients were not tested. [2]") == [
        "Mice recovered [1].",
        "Patients were not tested [2].",
    ]


@pytest.mark.parametrize(
    ("sentence", "factual"),
    [
        ("Please talk to your prescriber before changing anything.", False),
        ("I can't advise on your own medication.", False),
        ("The mice recovered after a few weeks.", True),
    ],
)
def test_is_factual(sentence: str, factual: bool) -> None:
    assert is_factual(sentence) is factual
