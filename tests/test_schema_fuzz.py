"""The OpenAPI document and the server agree: schemathesis fuzzes every route of the real app.

Over 1,000 requests generated from `/openapi.json` (valid ones and ones that break the schema on
purpose), sent over HTTP to the app with the extractive composer and the real index. None may be
a server error, answer with a status the document does not list, or send a body or content type
that does not match what the document says. Generation is derandomized, so a run is repeatable,
and shrinking is off: a failure is reported as found, and the run stays bounded in time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assistant.settings import Settings
from tests.support import LiveServer, make_settings

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Cases per operation and mode. Answering a valid question runs the whole pipeline, so those
# routes get fewer valid cases; everything else is cheap.
ANSWERING = {"/v1/answer", "/v1/answer/stream", "/v1/chat/completions"}
VALID_ANSWERS = 30
CASES = 160
AT_LEAST = 1000


@pytest.fixture(scope="module")
def fuzz_app(corpus_pipeline: Any, corpus_settings: Settings) -> Iterator[LiveServer]:
    """The app over the session's index, with per-client limits off: one fuzzer sends it all."""
    from assistant.api.app import create_app

    unthrottled = make_settings(
        corpus_settings.data_dir,
        rate_per_minute=0,
        session_rate_per_minute=0,
        feedback_rate_per_minute=0,
    )
    # LiveServer returns once the warm-up has run: "starting" is a true answer, not one to fuzz.
    with LiveServer(create_app(unthrottled, corpus_pipeline), startup_seconds=600) as server:
        yield server


def fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    url: str,
    session: requests.Session,
    sent: Counter[str],
    failures: list[tuple[str, str, str]],
) -> None:
    """Send `examples` generated cases to one operation; record every failed check."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        sent[operation.label] += 1
        try:
            response = case.call(base_url=url, session=session, timeout=60)
            case.validate_response(response, checks=CHECKS)
        # Check failures come as a FailureGroup (a BaseExceptionGroup); each is kept, not
        # raised, so Hypothesis neither stops at the first nor spends the budget shrinking it.
        except (Exception, FailureGroup) as exc:
            failures.append((operation.label, mode.value, str(exc)))

    try:
        run()
    except Unsatisfiable:
        # Nothing to break on purpose: the operation takes no parameters and no body.
        assert mode is GenerationMode.NEGATIVE, operation.label


# The bound on the whole run (about 1,100 requests); a healthy run needs a fraction of it.
@pytest.mark.timeout(600, func_only=True)
def test_the_server_keeps_to_its_openapi_document(fuzz_app: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_app.url}/openapi.json")
    sent: Counter[str] = Counter()
    failures: list[tuple[str, str, str]] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                pytest.fail(f"an operation of the document cannot be read: {result.err()}")
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                expensive = operation.path in ANSWERING and mode is GenerationMode.POSITIVE
                examples = VALID_ANSWERS if expensive else CASES
                fuzz(operation, mode, examples, fuzz_app.url, session, sent, failures)

    total = sum(sent.values())
    # One example of each kind of failure (operation, mode, check code), with its count.
    kinds: dict[tuple[str, str, str], list[str]] = {}
    for label, how, text in failures:
        code = next((w for w in text.split() if w.startswith("ST") and w[2:].isdigit()), "?")
        kinds.setdefault((label, how, code), []).append(text)
    shown = "\n\n".join(
        f"{len(texts)} x {label} [{how}] {code}:\n{texts[0][:1500]}"
        for (label, how, code), texts in kinds.items()
    )
    assert not failures, f"{len(failures)} of {total} cases failed:\n\n{shown}"
    assert total >= AT_LEAST, dict(sent)
