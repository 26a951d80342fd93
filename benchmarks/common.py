"""What more than one benchmark uses: the synthetic vocabulary, percentiles, memory, the table."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

# Vocabulary of the synthetic prose. Plain lowercase words without dots, so that sentence
# splitting cannot trip over abbreviations; large enough that random sentences never repeat.
_WORDS_TEXT = """
pain fatigue sleep stiffness tenderness memory concentration mood anxiety depression widespread
chronic muscle joint nerve fibre small skin biopsy density sensory threshold pressure heat cold
touch allodynia hyperalgesia sensitisation central peripheral spinal cord dorsal root ganglion
neuron satellite glial cell antibody immunoglobulin serum plasma transfer mouse mice model
patient participant cohort trial placebo control group sample baseline week month year follow
score scale questionnaire index severity symptom burden function quality life daily activity
exercise aerobic strength training walking swimming yoga tai chi movement graded program
education cognitive behavioural therapy sleep hygiene medication dose response effect size
benefit harm adverse event dropout adherence outcome primary secondary analysis result finding
evidence review guideline recommendation clinician physician nurse physiotherapist practice
diagnosis criteria assessment examination history survey prevalence incidence population women
men age onset duration course stress trauma infection genetic family risk factor association
mechanism pathway inflammation cytokine immune autoimmune receptor signal brain imaging network
connectivity activity region cortex thalamus insula amygdala pathway modulation descending
inhibition facilitation study design method measure protocol randomised blinded open label
observational longitudinal cross sectional laboratory clinic hospital community primary care
specialist referral management plan goal priority education support peer group coping pacing
relaxation breathing mindfulness diet weight vitamin supplement caffeine alcohol smoking work
employment disability leave income cost health service visit test blood marker level change
increase decrease difference similar higher lower stronger weaker earlier later common rare
typical variable moderate mild severe persistent fluctuating morning evening night rest
"""
WORDS = _WORDS_TEXT.split()


class Progress:
    """One line on stderr per phase, with the time since the bench began (a bench runs minutes)."""

    def __init__(self, name: str, verbose: bool = True) -> None:
        self.name = name
        self.verbose = verbose
        self.started = time.perf_counter()

    def __call__(self, phase: str) -> None:
        if self.verbose:
            elapsed = time.perf_counter() - self.started
            print(f"[{self.name} {elapsed:6.1f} s] {phase}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float, scale: float = 1.0) -> float:
    """The q-th percentile of values times scale, to two decimals (seconds * 1000 = ms)."""
    return round(float(np.percentile(np.asarray(values) * scale, q)), 2)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def print_table(title: str, figures: dict[str, Any], stream: Any) -> None:
    """A short human-readable table of the figures (the JSON goes to stdout)."""
    print(f"\n{title}", file=stream)
    for key, value in figures.items():
        if isinstance(value, dict):
            continue
        target = figures.get("targets", {}).get(key)
        met = figures.get("targets_met", {}).get(key)
        mark = "" if target is None else f"   target {target}: {'ok' if met else 'MISSED'}"
        print(f"  {key:<24} {value}{mark}", file=stream)
