"""The real app on loopback: free ports, waiting for a server, and uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 60.0, *, alive: Callable[[], bool] | None = None) -> None:
    """Return once `url` answers HTTP at all; raise after `seconds`.

    A server started in another thread or process gives no signal when it is listening, so
    this polls. `alive` says whether that server is still running: when it has died, waiting
    out the deadline would only hide the error, so this raises at once.
    """
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError as exc:
            last = exc
        if alive is not None and not alive():
            raise RuntimeError(f"the server behind {url} stopped before answering: {last}")
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {seconds}s: {last}")


def wait_ready(url: str, seconds: float = 120.0) -> None:
    """Return once `url`/readyz is past its warm-up ("starting"); ready or not, it has decided.

    `/readyz` says "starting" until the pipeline's warm-up has run; a test that asks for
    readiness, or times a first answer, must not race it.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = httpx.get(url + "/readyz", timeout=30)
        if response.status_code == 200 or response.json().get("status") != "starting":
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url}/readyz was still starting after {seconds}s")


class LiveServer:
    """The real app served by uvicorn on loopback in a background thread.

    One process, so a test or benchmark can hand the app a pipeline it built (a shared index,
    a fake provider) and still talk to it over real HTTP. The access log is off: it would
    only add a line per request, and under a benchmark's load its cost would count as ours.
    """

    def __init__(self, app: Any, startup_seconds: float = 60.0) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_seconds = startup_seconds
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_for(self.url + "/healthz", self.startup_seconds, alive=self.thread.is_alive)
        wait_ready(self.url, self.startup_seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def retry_after_in_range(header: str) -> bool:
    """A busy 503's `Retry-After` is a whole number of seconds in the gate's spread."""
    from assistant.api.gate import RETRY_AFTER_SECONDS

    low, high = RETRY_AFTER_SECONDS
    return header.isdigit() and low <= int(header) <= high
