"""The bench scripts import each other by bare name (``harness``), as when run as scripts: their
folder goes first on ``sys.path`` here too, so tests import them the same way (and mypy, whose
``mypy_path`` holds ``bench``, sees one module name per file)."""

from __future__ import annotations

import sys

from tests.conftest import REPO

if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))
