"""Fixed, reviewed reply texts for the triage routes.

No model and no retrieval run on these paths: crisis and emergency questions get these texts and
the resources below, word for word. Numbers come from FACTS.md §12 (C1-C3); keep them exact.
"""

from __future__ import annotations

from .models import Resource

__all__ = [
    "DISCLAIMER",
    "RESOURCES_CRISIS",
    "RESOURCES_EMERGENCY",
    "advice_redirect",
    "crisis_reply",
    "distress_note",
    "emergency_reply",
    "injection_notice",
    "injection_refusal",
    "scope_reply",
]

DISCLAIMER = (
    "This is general information from published sources, not medical advice; please talk to "
    "your own clinician about your health and treatment."
)

_SAMARITANS = Resource(
    name="Samaritans",
    contact="116 123",
    region="UK and Ireland",
    note="Free, 24/7, and the call does not show on your phone bill.",
)
_LIFELINE = Resource(
    name="988 Suicide & Crisis Lifeline",
    contact="988",
    region="US",
    note="Call, text or chat (988lifeline.org), 24/7.",
)
_EMERGENCY_UK = Resource(
    name="Emergency services",
    contact="999",
    region="UK",
    note="For immediate danger or a medical emergency.",
)
_EMERGENCY_EU = Resource(
    name="Emergency services",
    contact="112",
    region="EU",
    note="For immediate danger or a medical emergency.",
)
_EMERGENCY_US = Resource(
    name="Emergency services",
    contact="911",
    region="US",
    note="For immediate danger or a medical emergency.",
)
_NHS_111 = Resource(
    name="NHS 111",
    contact="111",
    region="England",
    note="For urgent help that is not an emergency.",
)
_POISON_CONTROL = Resource(
    name="US Poison Control",
    contact="1-800-222-1222",
    region="US",
    note="For an overdose or poisoning; also call 911 if the person is very unwell.",
)

RESOURCES_CRISIS: list[Resource] = [
    _SAMARITANS,
    _LIFELINE,
    _EMERGENCY_UK,
    _EMERGENCY_EU,
    _EMERGENCY_US,
    _NHS_111,
    _POISON_CONTROL,
]
RESOURCES_EMERGENCY: list[Resource] = [
    _EMERGENCY_UK,
    _EMERGENCY_EU,
    _EMERGENCY_US,
    _NHS_111,
    _POISON_CONTROL,
]

_CRISIS_REPLY = """\
I'm really sorry you're going through this. Living with this much pain and exhaustion can feel \
unbearable, and what you're feeling matters. You deserve support right now, and you don't have to \
face this alone.

Are you safe right now? If you might act on these thoughts, or you have taken more of any \
medicine than you should, please call emergency services now: 999 in the UK, 112 in the EU or 911 \
in the US. For an overdose in the US you can also call Poison Control on 1-800-222-1222.

You can talk to someone right now, at any time of day or night:
- Samaritans (UK and Ireland): call 116 123. It's free and open 24/7.
- 988 Suicide & Crisis Lifeline (US): call or text 988, or chat at 988lifeline.org, 24/7.
- NHS 111 (England) if you need urgent help that isn't an emergency.

If you can, please reach out to someone you trust, such as a friend, a family member or your \
doctor, and tell them how you're feeling. If you can, ask them to stay with you. If you're outside \
these countries, please call your local emergency number."""

_EMERGENCY_LINES = {
    "cardiac": (
        "Chest pain or pressure, especially with pain or numbness in the arm or jaw, "
        "breathlessness or sweating, needs checking straight away. Don't drive yourself; call "
        "an ambulance."
    ),
    "stroke": (
        "Sudden face drooping, arm or leg weakness, slurred speech or a sudden severe headache "
        "need urgent help. Note the time the symptoms started and tell the call handler."
    ),
    "allergic": (
        "Swelling of the throat, tongue or lips, or trouble breathing, needs emergency help now. "
        "If you have an adrenaline auto-injector, use it as you were shown."
    ),
    "poisoning": (
        "If you have taken more of a medicine than prescribed, get advice now even if you feel "
        "well: in the US call Poison Control on 1-800-222-1222; in England call NHS 111. Call "
        "emergency services if you feel very drowsy, confused, faint or find it hard to breathe. "
        "Keep the medicine packet with you."
    ),
    "general": (
        "If you are not sure whether this is an emergency, call anyway: the call handler will "
        "help you decide what to do."
    ),
    "other": (
        "If someone has collapsed, is having a seizure or is struggling to breathe, stay with "
        "them and follow the call handler's instructions."
    ),
}

_EMERGENCY_TEMPLATE = """\
What you describe could be a medical emergency. Please don't wait to see whether it is your \
fibromyalgia. Call emergency services now: 999 (UK), 112 (EU) or 911 (US).

{line}

I can't assess symptoms, so please get help first. If anything gets worse while you wait, call \
again. You can come back with questions about fibromyalgia whenever you're ready."""


def crisis_reply(reason: str = "", spanish: bool = False) -> str:
    """Fixed reply for suicidal thoughts, self-harm or overdose: support and resources only.

    When the person at risk is someone else ("my friend says she wants to die"), the reply
    speaks to the person helping them. A message written in Spanish gets the same help in
    Spanish first.
    """
    reply = _THIRD_PARTY_REPLY if reason.endswith("third_party_crisis") else _CRISIS_REPLY
    return f"{_CRISIS_REPLY_ES}\n\n{reply}" if spanish else reply


# The same resources as the English reply, in Spanish; no number or service is added.
_CRISIS_REPLY_ES = """Siento mucho que estés pasando por esto. Lo que sientes importa y no tienes que afrontarlo solo o sola. Si tú o la persona que te preocupa podéis hacer daño ahora, o se ha tomado más medicina de la debida, llama ya a emergencias: 911 en EE. UU., 112 en la UE, 999 en el Reino Unido. Por una sobredosis en EE. UU. también puedes llamar a Poison Control al 1-800-222-1222. En EE. UU. puedes llamar o escribir al 988 (988 Suicide & Crisis Lifeline), las 24 horas; en el Reino Unido e Irlanda, a Samaritans en el 116 123. Si puedes, habla con alguien de confianza y pídele que se quede contigo."""


_THIRD_PARTY_REPLY = """I'm so sorry, that sounds frightening. If the person you're worried about is in immediate danger, or may have taken an overdose, call emergency services now: 999 in the UK, 112 in the EU or 911 in the US. In the US, Poison Control is on 1-800-222-1222.

If they are safe for now, stay with them if you can, take what they say seriously, and help them contact support:
- Samaritans (UK and Ireland): call 116 123. It's free and open 24/7, for them or for you.
- 988 Suicide & Crisis Lifeline (US): call or text 988, or chat at 988lifeline.org, 24/7.
- NHS 111 (England) if you need urgent help that isn't an emergency.

Looking after someone in crisis is hard. Please make sure you have support too."""


def distress_note() -> str:
    """Put before an answer when the message carries distress below the crisis threshold.

    Worded so that it reads as care, not as a misreading, when it lands on a calm question: the
    distress line sits well below the crisis threshold, so some ordinary questions get it.
    """
    return (
        "If things feel very hard at the moment, you don't have to face that alone. If you "
        "ever feel you can't keep yourself safe, you can talk to someone at any time: "
        "Samaritans on 116 123 (UK and Ireland) or the 988 Suicide & Crisis Lifeline (US, call "
        "or text 988). Here is what the sources say about your question."
    )


def care_note() -> str:
    """One closing sentence for answers that touch a personal health decision."""
    return (
        "For decisions about your own tests, diagnosis or treatment, please talk to your "
        "clinician, who can weigh this evidence against your situation."
    )


def red_flag_note() -> str:
    """One paragraph put before an answer that mentions a possible emergency symptom."""
    return (
        "First, a safety note: chest pain or pressure, breathlessness, a drooping face, slurred "
        "speech, sudden weakness on one side, a sudden severe headache or a swelling throat can "
        "signal an emergency. If you have any of these now, or they feel new or different from "
        "your usual pain, don't assume it is fibromyalgia: call 999 (UK), 112 (EU) or 911 (US)."
    )


def emergency_reply(reason: str, spanish: bool = False) -> str:
    """Fixed reply for emergency symptoms; `reason` is e.g. "emergency:cardiac" or "stroke"."""
    kind = (reason or "").rsplit(":", 1)[-1].strip().lower()
    line = _EMERGENCY_LINES.get(kind, _EMERGENCY_LINES["general"])
    template = _POISONING_TEMPLATE if kind == "poisoning" else _EMERGENCY_TEMPLATE
    reply = template.format(line=line)
    return f"{_EMERGENCY_REPLY_ES}\n\n{reply}" if spanish else reply


_EMERGENCY_REPLY_ES = """Lo que describes puede ser una emergencia médica: no esperes a ver si es la fibromialgia. Llama \
ya a emergencias: 911 en EE. UU., 112 en la UE, 999 en el Reino Unido. Si alguien ha tomado más \
medicina de la debida, en EE. UU. también puedes llamar a Poison Control al 1-800-222-1222."""


_POISONING_TEMPLATE = """Taking too much of a medicine by accident can be serious, and it's good that you're asking. Please don't wait to see how you feel.

{line}

I can't judge whether a dose is dangerous, so please get that advice first. You can come back with questions about fibromyalgia whenever you're ready."""


def scope_reply() -> str:
    """Short, polite scope statement for unrelated requests."""
    return (
        "Sorry, that's outside what I can help with. I answer questions about fibromyalgia and "
        "the research on it, such as the 2021 study that transferred patients' antibodies (IgG) "
        "to mice, using published sources. Is there something about fibromyalgia I can help you "
        "with?"
    )


def injection_refusal() -> str:
    """Reply to a request that only tries to reveal configuration or change the rules."""
    return (
        "I can't share my configuration, instructions or source settings, and I can't change my "
        "role or rules. I'm here to answer questions about fibromyalgia and the research on it, "
        "with sources. Is there something about fibromyalgia I can help you with?"
    )


def injection_notice() -> str:
    """One sentence put before an answer when instructions inside the question were ignored."""
    return (
        "Your message included instructions about how I should answer; I've set those aside and "
        "answered the fibromyalgia question from the sources as usual."
    )


def advice_redirect() -> str:
    """Redirect for personal medication or treatment decisions (shown with general information)."""
    return (
        "I can share general information from published sources, but I can't advise on your own "
        "medication or treatment. Please don't stop, start or change any medicine without talking "
        "to your prescriber first: some, such as pregabalin, should not be stopped abruptly. Your "
        "clinician can help you weigh the options for your situation."
    )
