"""Helpers shared by the tests and the benchmarks; fixtures stay in tests/conftest.py.

A test module imports from here, never from conftest: conftest is pytest's plugin file, loaded
by pytest itself, and importing it as a module makes a second copy that pytest does not manage.
The benchmarks (benchmarks/) use the same settings and server helpers, so a test and a bench run
the app the same way. Nothing here imports pytest, so `fibro bench` needs no dev extras.
"""

from tests.support.paths import CORPUS, DATA, VENV_BIN
from tests.support.server import (
    LiveServer,
    free_port,
    retry_after_in_range,
    wait_for,
    wait_ready,
)
from tests.support.settings import make_settings
from tests.support.sse import parse_sse

__all__ = [
    "CORPUS",
    "DATA",
    "VENV_BIN",
    "LiveServer",
    "free_port",
    "make_settings",
    "parse_sse",
    "retry_after_in_range",
    "wait_for",
    "wait_ready",
]
