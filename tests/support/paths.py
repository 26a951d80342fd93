"""Folders the tests read: the bundled corpus, the test data, and the venv's executables."""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.settings import PROJECT_ROOT

CORPUS = PROJECT_ROOT / "corpus"
DATA = Path(__file__).resolve().parent.parent / "data"
# The interpreter's own bin folder, so a test finds the `chroma` CLI of this venv, not another.
VENV_BIN = Path(sys.executable).parent
