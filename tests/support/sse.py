"""Reading the app's Server-Sent Events, for tests of more than one surface."""

from __future__ import annotations

import json
from typing import Any


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Strictly parse `event: <name>\\ndata: <json>\\n\\n` frames."""
    assert text.endswith("\n\n"), "the stream ends with a complete frame"
    events = []
    for frame in text[:-2].split("\n\n"):
        lines = frame.split("\n")
        assert len(lines) == 2, f"frame is not two lines: {frame!r}"
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        events.append((lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])))
    return events
