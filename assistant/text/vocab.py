"""Vocabulary shared by the regex layers: medicines, treatments, people, hypothetical framing."""

from __future__ import annotations

import re


def c(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def alt(*parts: str) -> str:
    return "(?:" + "|".join(parts) + ")"


PILLS = alt(
    r"pills?",
    r"tablets?",
    r"tabs",
    r"meds",
    r"medications?",
    r"medicines?",
    r"capsules?",
    r"painkillers?",
    r"pain killers?",
    r"sleeping pills?",
    r"prescriptions?",
    r"drugs",
)
MED_NAMES = alt(
    r"pregabalin",
    r"lyrica",
    r"gabapentin\w*",
    r"neurontin",
    r"duloxetine",
    r"cymbalta",
    r"milnacipran",
    r"savella",
    r"amitriptyline",
    r"amitryptiline",
    r"nortriptyline",
    r"cyclobenzaprine",
    r"flexeril",
    r"tramadol",
    r"codeine",
    r"co-?codamol",
    r"oxycodone",
    r"oxycontin",
    r"morphine",
    r"fentanyl",
    r"opioids?",
    r"opiates?",
    r"naltrexone",
    r"ldn",
    r"paracetamol",
    r"acetaminophen",
    r"tylenol",
    r"ibuprofen",
    r"naproxen",
    r"nsaids?",
    r"aspirin",
    r"antidepressants?",
    r"ssris?",
    r"snris?",
    r"sertraline",
    r"fluoxetine",
    r"citalopram",
    r"escitalopram",
    r"venlafaxine",
    r"mirtazapine",
    r"trazodone",
    r"zopiclone",
    r"zolpidem",
    r"diazepam",
    r"valium",
    r"benzos?",
    r"benzodiazepines?",
    r"sleeping tablets?",
)
TREATMENTS = alt(
    r"ivig",
    r"iv ?ig",
    r"immunoglobulins?",
    r"plasma ?exchange",
    r"plasmapheresis",
    r"apheresis",
    r"immunoadsorption",
    r"rozanolixizumab",
    r"efgartigimod",
    r"fcrn\w*",
    r"rituximab",
    r"hydroxychloroquine",
    r"methotrexate",
    r"steroids?",
    r"prednis\w+",
    r"cbd",
    r"cannabis",
    r"marijuana",
    r"weed",
    r"ketamine",
    r"lidocaine",
    r"vitamin \w+",
    r"magnesium",
    r"supplements?",
    r"coq10",
    r"melatonin",
    r"antibody (?:treatment|therapy|drug|infusion)s?",
    r"infusions?",
    r"injections?",
    r"treatments?",
    r"therapy",
    r"cbt",
    r"physio\w*",
    r"acupuncture",
    r"hydrotherapy",
    r"doses?",
    r"dosage",
    r"\d+ ?mg",
    r"mg",
)
MED = alt(MED_NAMES, PILLS, TREATMENTS)

# First person / someone present with the writer.
FP_RE = c(r"\b(?:i|im|ive|id|ill|my|me|myself|mine)\b")
THIRD_RE = c(
    r"\b(?:he|she|hes|shes|him|her|they|theyre|them|someone here|"
    r"(?:my|our) (?:mum|mom|mother|dad|father|husband|wife|partner|son|daughter|friend|"
    r"boyfriend|girlfriend|child|kid|baby|sister|brother|nan|gran|grandma|grandad|grandpa|"
    r"grandmother|grandfather|flatmate|roommate|colleague|neighbou?r))\b"
)
# Hypothetical / general framing ("what should you do if someone collapses?").
HYPO_RE = c(
    r"\b(?:if|in case|whenever|when)\s+(?:someone|somebody|a person|you|people|a patient|patients|"
    r"one)\b|\bwhat (?:to do|do you do|should you do)\b|\bfirst aid\b"
)
