"""A local Langfuse that records what the SDK sends, for the tracing tests.

It replaces Langfuse at the network boundary: the real SDK exports to it over HTTP exactly as it
would to Langfuse Cloud. It speaks the endpoints the SDK uses:

* ``POST /api/public/otel/v1/traces``: OTLP/HTTP protobuf (gunzipped when the SDK compresses),
  decoded with opentelemetry-proto into :class:`ReceivedSpan` objects;
* ``POST /api/public/scores``: a JSON batch (list) of scores, answered 202 as Langfuse does;
* ``GET /api/public/projects``: what ``Langfuse.auth_check()`` asks (and ``run_experiment``, for
  the project id);
* ``POST /api/public/v2/datasets`` (an upsert by name, as Langfuse does) and
  ``GET /api/public/v2/datasets/{name}``: datasets, recorded in ``datasets``;
* ``POST /api/public/dataset-items``: dataset items, upserted by id and recorded in
  ``dataset_items`` (every request in arrival order; ``items_of`` gives the current ones).

Datasets and items are answered with the JSON bodies Langfuse returns (the SDK parses them into
its ``Dataset`` and ``DatasetItem`` models). Experiment run items have no endpoint of their own in
SDK v5: they arrive as spans with ``langfuse.experiment.*`` attributes.

Every request must carry HTTP Basic auth with the server's public and secret key; others get a
401 and are counted in ``rejected``. Everything is recorded in arrival order, so a test flushes
the SDK and then reads ``spans`` and ``scores``: no polling, no sleeps.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def _value(value: AnyValue) -> Any:
    """An OTLP attribute value as plain Python."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if kind is None:
        return None
    return getattr(value, kind)


@dataclass
class ReceivedSpan:
    """One exported span, with its attributes decoded (Langfuse JSON attributes stay strings;
    `attr_json` parses them)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int
    end_ns: int
    scope: str
    attributes: dict[str, Any]

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attributes.get(key, default)

    def attr_json(self, key: str) -> Any:
        """A Langfuse attribute the SDK stores JSON-encoded (input, output, metadata, usage)."""
        raw = self.attributes.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except (TypeError, ValueError):
            return raw

    @property
    def type(self) -> str | None:
        return self.attributes.get("langfuse.observation.type")

    @property
    def input(self) -> Any:
        return self.attr_json("langfuse.observation.input")

    @property
    def output(self) -> Any:
        return self.attr_json("langfuse.observation.output")

    @property
    def metadata(self) -> dict[str, Any]:
        """Observation metadata: the SDK writes one attribute per top-level key."""
        prefix = "langfuse.observation.metadata."
        return {
            key[len(prefix) :]: self.attr_json(key)
            for key in self.attributes
            if key.startswith(prefix)
        }

    @property
    def trace_metadata(self) -> dict[str, Any]:
        prefix = "langfuse.trace.metadata."
        return {
            key[len(prefix) :]: self.attr_json(key)
            for key in self.attributes
            if key.startswith(prefix)
        }

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    """Spans of an OTLP ExportTraceServiceRequest (protobuf)."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        scope=scope_spans.scope.name,
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                    )
                )
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _authorised(self) -> bool:
        fake = self.server.fake
        expected = "Basic " + base64.b64encode(
            f"{fake.public_key}:{fake.secret_key}".encode()
        ).decode("ascii")
        if self.headers.get("Authorization") == expected:
            return True
        with fake._lock:
            fake.rejected += 1
        self._send(401, b'{"message":"Invalid credentials"}', "application/json")
        return False

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        return raw

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if not self._authorised():
            return
        path = self.path.split("?")[0].rstrip("/")
        prefix = "/api/public/v2/datasets/"
        if path.startswith(prefix):
            with self.server.fake._lock:
                dataset = self.server.fake.datasets.get(unquote(path[len(prefix) :]))
            if dataset is None:
                self._send(404, b'{"message":"Dataset not found"}', "application/json")
            else:
                self._send(200, json.dumps(dataset).encode(), "application/json")
        elif path == "/api/public/projects":
            project = {
                "id": "project-test",
                "name": "fibro-test",
                "organization": {"id": "org-test", "name": "test"},
                "metadata": {},
            }
            body = {"data": [project]}
            self._send(200, json.dumps(body).encode(), "application/json")
        else:
            self._send(404, b'{"message":"not found"}', "application/json")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?")[0].rstrip("/")
        raw = self._body()
        if not self._authorised():
            return
        fake = self.server.fake
        if path == "/api/public/otel/v1/traces":
            spans = decode_spans(raw)
            with fake._lock:
                fake.spans.extend(spans)
                fake.trace_requests += 1
            body = ExportTraceServiceResponse().SerializeToString()
            self._send(200, body, "application/x-protobuf")
        elif path == "/api/public/scores":
            # The v5 SDK sends a batch (a JSON list); a single score object is accepted too.
            payload = json.loads(raw or b"[]")
            with fake._lock:
                fake.scores.extend(payload if isinstance(payload, list) else [payload])
            self._send(202, b'{"message":"Accepted"}', "application/json")
        elif path == "/api/public/v2/datasets":
            body = fake._upsert_dataset(json.loads(raw or b"{}"))
            self._send(200, json.dumps(body).encode(), "application/json")
        elif path == "/api/public/dataset-items":
            item = fake._upsert_item(json.loads(raw or b"{}"))
            if item is None:
                self._send(404, b'{"message":"Dataset not found"}', "application/json")
            else:
                self._send(200, json.dumps(item).encode(), "application/json")
        else:
            self._send(404, b'{"message":"not found"}', "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLangfuse


class FakeLangfuse:
    """The capture server; use as a context manager. Each instance has its own keys, because
    the SDK keeps one client per public key for the life of the process."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:12]
        self.public_key = f"pk-lf-test-{suffix}"
        self.secret_key = f"sk-lf-test-{suffix}"
        self.spans: list[ReceivedSpan] = []
        self.scores: list[dict[str, Any]] = []
        self.datasets: dict[str, dict[str, Any]] = {}  # by name, as last upserted
        self.dataset_items: list[dict[str, Any]] = []  # every item request, in arrival order
        self._items: dict[str, dict[str, Any]] = {}  # by id, as last upserted
        self.trace_requests = 0
        self.rejected = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{int(self._server.server_address[1])}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def settings_overrides(self) -> dict[str, Any]:
        """Settings fields that point tracing at this server."""
        from pydantic import SecretStr

        return {
            "langfuse_host": self.url,
            "langfuse_public_key": self.public_key,
            "langfuse_secret_key": SecretStr(self.secret_key),
        }

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """The spans received for one trace, in start order."""
        with self._lock:
            spans = [s for s in self.spans if s.trace_id == trace_id]
        return sorted(spans, key=lambda s: (s.start_ns, s.end_ns))

    def scores_for(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.scores if s.get("traceId") == trace_id]

    def items_of(self, dataset_name: str) -> list[dict[str, Any]]:
        """The current items of a dataset (after upserts), in first-created order."""
        with self._lock:
            return [i for i in self._items.values() if i["datasetName"] == dataset_name]

    def _upsert_dataset(self, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/public/v2/datasets``: create, or update the dataset of that name."""
        now = _now()
        with self._lock:
            seen = self.datasets.get(request["name"])
            dataset = {
                "id": seen["id"] if seen else f"ds-{uuid.uuid4().hex[:12]}",
                "name": request["name"],
                "description": request.get("description"),
                "metadata": request.get("metadata"),
                "projectId": "project-test",
                "createdAt": seen["createdAt"] if seen else now,
                "updatedAt": now,
            }
            self.datasets[request["name"]] = dataset
            return dict(dataset)

    def _upsert_item(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """``POST /api/public/dataset-items``: create, or update the item with that id."""
        now = _now()
        with self._lock:
            dataset = self.datasets.get(request.get("datasetName", ""))
            if dataset is None:
                return None
            self.dataset_items.append(request)
            item_id = request.get("id") or uuid.uuid4().hex
            seen = self._items.get(item_id)
            item = {
                "id": item_id,
                "status": request.get("status") or "ACTIVE",
                "input": request.get("input"),
                "expectedOutput": request.get("expectedOutput"),
                "metadata": request.get("metadata"),
                "sourceTraceId": request.get("sourceTraceId"),
                "sourceObservationId": request.get("sourceObservationId"),
                "datasetId": dataset["id"],
                "datasetName": dataset["name"],
                "createdAt": seen["createdAt"] if seen else now,
                "updatedAt": now,
                "version": now,
                "mediaReferences": [],
            }
            self._items[item_id] = item
            return dict(item)

    def all_spans(self) -> Iterator[ReceivedSpan]:
        with self._lock:
            yield from list(self.spans)

    def __enter__(self) -> FakeLangfuse:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
