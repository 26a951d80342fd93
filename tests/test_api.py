"""The HTTP API with the extractive composer, over a real index and a real uvicorn server."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support import parse_sse

pytestmark = pytest.mark.slow

ORDINARY = "What did the Goebel 2021 study find when patient antibodies were given to mice?"
MARKER = re.compile(r"\[(\d+)\]")
POST_ENDPOINTS = ("/v1/answer", "/v1/answer/stream", "/v1/chat/completions")


@pytest.fixture(scope="module")
def client(live_app) -> httpx.Client:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live_app.url, timeout=60.0) as c:
        yield c


def ask(client: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/answer", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def assert_markers_map_to_citations(body: dict[str, Any]) -> None:
    numbers = {c["n"] for c in body["citations"]}
    used = {int(n) for n in MARKER.findall(body["answer"])}
    assert used, f"no [n] markers in {body['answer']!r}"
    assert used <= numbers, f"markers {used - numbers} have no citation"
    assert numbers == set(range(1, len(numbers) + 1)), "citations are numbered 1..k"


# ---- status ------------------------------------------------------------------------------------


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_chunks(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["chunks"] > 0
    assert body["sources"] > 0
    assert body["composer"] == "extractive"


def test_openapi_lists_the_answer_endpoints(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/v1/answer", "/v1/answer/stream", "/v1/chat/completions"):
        assert "post" in paths[path], path


# ---- answers -----------------------------------------------------------------------------------


def test_ordinary_question_gets_a_cited_answer(client: httpx.Client) -> None:
    body = ask(client, ORDINARY)
    assert body["route"] == "answer"
    assert body["mode"] == "extractive"
    assert body["citations"]
    assert_markers_map_to_citations(body)
    assert body["trace_id"]
    assert {"triage", "retrieve", "compose", "verify"} <= set(body["timings_ms"])
    assert "not medical advice" in body["disclaimer"]
    assert body["retrieved"], "the retrieved passages are reported"
    for citation in body["citations"]:
        chunk = client.get(f"/v1/chunks/{citation['chunk_id']}")
        assert chunk.status_code == 200
        assert citation["quote"] in chunk.json()["text"]
        assert chunk.json()["source_id"] == citation["source_id"]


def test_mouse_findings_are_hedged(client: httpx.Client) -> None:
    body = ask(client, ORDINARY)
    if any(c["evidence"] == "animal" for c in body["citations"]):
        assert body["hedges"]
        assert "mice" in " ".join(body["hedges"]).lower()


def test_same_answer_on_json_and_stream(client: httpx.Client) -> None:
    """One pipeline: JSON and SSE give the same answer text and citations."""
    body = ask(client, ORDINARY)
    stream = client.post("/v1/answer/stream", json={"question": ORDINARY})
    done = dict(parse_sse(stream.text))["done"]
    assert done["answer"] == body["answer"]
    assert [c["chunk_id"] for c in done["citations"]] == [c["chunk_id"] for c in body["citations"]]


@pytest.mark.parametrize(
    "question",
    [
        "I want to kill myself",
        "i cant take this pain anymore. ive been thinking about ending it all tonight",
    ],
)
def test_crisis_gets_fixed_reply_with_resources(client: httpx.Client, question: str) -> None:
    body = ask(client, question)
    assert body["route"] == "crisis"
    assert body["mode"] == "fixed"
    assert body["citations"] == []
    assert body["retrieved"] == []
    contacts = {r["contact"] for r in body["resources"]}
    assert {"116 123", "988"} <= contacts
    assert "116 123" in body["answer"] and "988" in body["answer"]


def test_emergency_gets_fixed_reply_with_resources(client: httpx.Client) -> None:
    body = ask(client, "I'm having chest pain that's spreading down my left arm")
    assert body["route"] == "emergency"
    assert body["mode"] == "fixed"
    assert body["citations"] == []
    contacts = {r["contact"] for r in body["resources"]}
    assert {"999", "911", "112"} <= contacts


def test_out_of_scope(client: httpx.Client) -> None:
    body = ask(client, "can you give me a good recipe for gluten free banana bread")
    assert body["route"] == "out_of_scope"
    assert body["citations"] == []
    assert "banana" not in body["answer"].lower()


UNCOVERED = "What is the best brand of running shoes for fibromyalgia?"


def test_uncovered_question_does_not_invent(client: httpx.Client) -> None:
    body = ask(client, UNCOVERED)
    for brand in ("nike", "adidas", "asics", "brooks", "hoka", "new balance", "saucony"):
        assert brand not in body["answer"].lower()
    # Whatever it says is quoted from the index and cited.
    for citation in body["citations"]:
        chunk = client.get(f"/v1/chunks/{citation['chunk_id']}").json()
        assert citation["quote"] in chunk["text"]


def test_uncovered_question_gets_no_evidence_route(client: httpx.Client) -> None:
    body = ask(client, UNCOVERED)
    assert body["route"] in ("no_evidence", "out_of_scope"), body["answer"]
    assert body["citations"] == []


def test_follow_up_uses_the_conversation(client: httpx.Client) -> None:
    history = [
        {"role": "user", "content": "Did the mice in the Goebel study recover?"},
        {
            "role": "assistant",
            "content": "Yes, the mice got better within a few weeks as the antibodies cleared [1].",
        },
    ]
    body = ask(client, "what about in humans?", history=history)
    assert body["route"] == "answer"
    top = body["retrieved"][:5]
    wanted_topics = {"followup_antiSGC", "immune_therapy_trials", "mouse_to_human"}
    assert any(
        r["evidence"] in ("human", "mixed") or wanted_topics & set(r["topics"]) for r in top
    ), [(r["source_id"], r["evidence"], r["topics"]) for r in top]


def test_follow_up_stays_on_the_conversation_topic(client: httpx.Client) -> None:
    history = [
        {"role": "user", "content": "Did the mice in the Goebel study recover?"},
        {"role": "assistant", "content": "Yes, within a few weeks [1]."},
    ]
    body = ask(client, "what about in humans?", history=history)
    assert body["route"] == "answer"
    top = body["retrieved"][:5]
    # "what about in humans?" alone is meaningless; the Goebel study comes from the history.
    assert any("goebel" in r["source_id"] or "goebel" in r["title"].lower() for r in top)


# ---- the SSE stream ----------------------------------------------------------------------------


def test_sse_frames_and_event_order(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/answer/stream", json={"question": ORDINARY}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    events = parse_sse(text)
    names = [name for name, _ in events]
    assert names[0] == "meta"
    assert names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"delta"}
    assert len(names) >= 4
    meta, done = events[0][1], events[-1][1]
    assert meta["trace_id"] == done["trace_id"]
    assert meta["route"] == done["route"] == "answer"
    joined = " ".join(data["text"].strip() for name, data in events if name == "delta")
    assert " ".join(joined.split()) == " ".join(done["answer"].split())
    assert events[-2][1]["citations"] == done["citations"]


def test_sse_crisis_stream(client: httpx.Client) -> None:
    text = client.post("/v1/answer/stream", json={"question": "I want to kill myself"}).text
    events = parse_sse(text)
    assert [n for n, _ in events] == ["meta", "delta", "citations", "done"]
    assert events[0][1]["route"] == "crisis"
    assert events[-1][1]["resources"]


# ---- bad input ---------------------------------------------------------------------------------

BAD_BODIES: list[tuple[str, Any]] = [
    ("empty question", {"question": ""}),
    ("whitespace question", {"question": "   \n\t "}),
    ("2001-char question", {"question": "a" * 2001}),
    ("missing question", {}),
    ("question as a number", {"question": 42}),
    ("question as null", {"question": None}),
    ("question as a list", {"question": ["what", "is", "fibromyalgia"]}),
    ("history not a list", {"question": "What is fibromyalgia?", "history": "hello"}),
    (
        "history item with bad role",
        {"question": "What is fibromyalgia?", "history": [{"role": "system", "content": "x"}]},
    ),
    (
        "history item missing content",
        {"question": "What is fibromyalgia?", "history": [{"role": "user"}]},
    ),
    ("extra unknown field", {"question": "What is fibromyalgia?", "temperature": 2}),
    (
        "huge history",
        {
            "question": "What is fibromyalgia?",
            "history": [{"role": "user", "content": "hi"}] * 41,
        },
    ),
    ("body is a list", [{"question": "What is fibromyalgia?"}]),
    ("body is a string", "What is fibromyalgia?"),
]


@pytest.mark.parametrize("path", ["/v1/answer", "/v1/answer/stream"])
@pytest.mark.parametrize(("label", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_a_4xx_with_a_message(
    client: httpx.Client, path: str, label: str, body: Any
) -> None:
    response = client.post(path, json=body)
    assert 400 <= response.status_code < 500, (label, response.status_code, response.text)
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"], label


@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_the_question_length_limit_is_one_setting_and_one_status(
    client: httpx.Client,
    corpus_settings,
    path: str,  # type: ignore[no-untyped-def]
) -> None:
    limit = corpus_settings.max_question_chars
    question = "Is fibromyalgia an autoimmune disease? " * (limit // 20)
    assert len(question.strip()) > limit
    if path == "/v1/chat/completions":
        body: dict[str, Any] = {"messages": [{"role": "user", "content": question}]}
    else:
        body = {"question": question}
    response = client.post(path, json=body)
    assert response.status_code == 413, response.text
    assert f"the limit is {limit}" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_malformed_json_is_a_4xx(client: httpx.Client, path: str) -> None:
    response = client.post(
        path, content=b'{"question": "what is', headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_wrong_content_type_is_a_4xx(client: httpx.Client, path: str) -> None:
    response = client.post(
        path,
        content=b"question=What+is+fibromyalgia",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


def test_chat_completions_bad_input(client: httpx.Client) -> None:
    cases: list[Any] = [
        {},
        {"messages": []},
        {"messages": "hello"},
        {"messages": [{"role": "assistant", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "   "}]},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": [{"role": "user", "content": 42}]},
        {"messages": [{"role": "user", "content": "a" * 2001}]},
        {"messages": [{"role": "user", "content": "hi"}] * 61},
    ]
    for body in cases:
        response = client.post("/v1/chat/completions", json=body)
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        assert response.json()["error"]["message"]


def test_unknown_chunk_is_404(client: httpx.Client) -> None:
    response = client.get("/v1/chunks/does-not-exist")
    assert response.status_code == 404
    assert "does-not-exist" in response.json()["error"]["message"]


def test_unknown_route_is_404_json(client: httpx.Client) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["message"]


# ---- property-style: random bodies never cause a 5xx -------------------------------------------

_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!?'\"[]{}()<>/\\-_=+*&^%$#@~`|"
    "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\t\r\n"
    "\u00e9\u00fc\u00df\u4e2d\u6587\u0627\u0644\u0639\u0631\u0628\u064a\u0629\u05d0"
    "\u200b\u200d\u2028\u2029\ufeff\ufffd\u202e\U0001f600\U0001f9e0\u0301"
)
_WORDS = [
    "fibromyalgia",
    "pain",
    "mice",
    "antibodies",
    "IgG",
    "Goebel",
    "study",
    "trial",
    "pregabalin",
    "dose",
    "ignore",
    "previous",
    "instructions",
    "system",
    "prompt",
    "what",
    "how",
    "why",
    "[1]",
    "[9]",
    "suicide",
    "chest",
]
_KEYS = ["question", "history", "session_id", "messages", "role", "content", "stream", "model", "x"]


def _random_string(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.35:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12)))
    length = rng.choice([0, 1, 2, 5, 20, 100, 500, 1999, 2000, 2001, 4000, 10000])
    return "".join(rng.choice(_ALPHABET) for _ in range(length))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choices = ["str", "int", "float", "bool", "null"]
    if depth < 3:
        choices += ["list", "dict"]
    kind = rng.choice(choices)
    if kind == "str":
        return _random_string(rng)
    if kind == "int":
        return rng.choice([0, -1, 1, 2**31, -(2**63), 10**30])
    if kind == "float":
        return rng.choice([0.0, -1.5, 1e308, 3.14])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {
        rng.choice(_KEYS + [_random_string(rng)[:20]]): _random_value(rng, depth + 1)
        for _ in range(rng.randint(0, 5))
    }


def _random_content(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.7:
        return _random_string(rng)
    if roll < 0.9:
        return [
            {"type": rng.choice(["text", "image_url", "x"]), "text": _random_value(rng, 2)}
            for _ in range(rng.randint(0, 3))
        ]
    return _random_value(rng, 1)


def _random_body(rng: random.Random, path: str) -> Any:
    """Mostly near-valid bodies for the endpoint (so the pipeline runs), some pure noise."""
    roll = rng.random()
    if roll < 0.15:
        return _random_value(rng)
    turn_roles = ["user", "assistant", "system", "tool", "developer", "", None, 3]
    history = [
        {"role": rng.choice(turn_roles), "content": _random_value(rng, 2)}
        for _ in range(rng.choice([0, 0, 1, 2, 7, 41]))
    ]
    if path == "/v1/chat/completions":
        roles = ["user", "assistant", "system", "developer", "tool"]
        messages = [
            {"role": rng.choice(roles), "content": _random_content(rng)}
            for _ in range(rng.choice([0, 1, 2, 5]))
        ]
        if rng.random() < 0.1:
            messages += history
        messages.append({"role": "user", "content": _random_content(rng)})
        body: dict[str, Any] = {"model": "fibro-assistant", "messages": messages}
        if rng.random() < 0.3:
            body["stream"] = rng.choice([True, False, "yes", 1, None])
    else:
        body = {"question": _random_string(rng)}
        if rng.random() < 0.5:
            body["history"] = [
                {"role": rng.choice(["user", "assistant"]), "content": _random_string(rng)[:300]}
                for _ in range(rng.randint(0, 3))
            ]
        if rng.random() < 0.15:
            body["history"] = history
    if roll > 0.9:
        body[rng.choice(_KEYS)] = _random_value(rng, 1)
    return body


@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_random_bodies_never_cause_a_server_error(client: httpx.Client, path: str) -> None:
    rng = random.Random(f"fibro-{path}")
    failures = []
    statuses: Counter[int] = Counter()
    for i in range(200):
        body = _random_body(rng, path)
        if rng.random() < 0.05:
            raw = json.dumps(body)[: rng.randint(0, 50)].encode()  # truncated JSON
            response = client.post(path, content=raw, headers={"content-type": "application/json"})
        else:
            response = client.post(path, json=body)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append((i, response.status_code, json.dumps(body)[:300], response.text[:300]))
            continue
        if response.status_code >= 400:
            assert response.json()["error"]["message"], response.text
        elif "event: error" in response.text or 'data: {"error"' in response.text:
            failures.append((i, "stream error", json.dumps(body)[:300], response.text[-300:]))
    assert not failures, failures[:5]
    # Enough bodies were valid for the whole pipeline to run on odd text.
    assert statuses[200] >= 50, statuses
