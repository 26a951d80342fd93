"""A real `redis-server` (Debian's package) on a free loopback port, for the shared-state tests.

No persistence and no config file, so each server starts empty and leaves nothing behind.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import redis

from tests.support.server import free_port

# Why a test is skipped when there is no server, and how to get one.
MISSING = (
    "redis-server is not installed: `apt-get install redis-server` (Debian; `make test` installs "
    "it when run as root)"
)


def redis_binary() -> str | None:
    """The `redis-server` executable, or None when it is not installed."""
    return shutil.which("redis-server")


class RedisServer:
    """`with RedisServer() as server:` runs redis-server until the block ends; `server.url`."""

    def __init__(self, startup_seconds: float = 20.0) -> None:
        binary = redis_binary()
        if binary is None:
            raise RuntimeError(MISSING)
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.startup_seconds = startup_seconds
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + self.startup_seconds
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
        client.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
