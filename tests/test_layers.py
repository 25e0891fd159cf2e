"""The package layering of ``../shared/STYLE.md``, held by parsing every module's imports.

Allowed arrows (importer -> imported): ``skeleton <- runtime <- index <- server`` and
``skeleton <- train <- export -> runtime``; ``common`` may be imported by every package and imports
none; ``vcl`` (the CLI) and ``bench`` import anything; nothing else imports ``server``. Imports inside
functions count: a lazy import is still an arrow. ``runtime``, ``index`` and ``server`` (and the
``skeleton`` and ``common`` they stand on) never import torch; a subprocess checks that importing
them really leaves torch out. Tests are exempt.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("common", "skeleton", "runtime", "index", "server", "train", "export", "vcl", "bench")
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "skeleton": {"common"},
    "runtime": {"common", "skeleton"},
    "index": {"common", "skeleton", "runtime"},
    "server": {"common", "skeleton", "runtime", "index"},
    "train": {"common", "skeleton"},
    "export": {"common", "skeleton", "train", "runtime"},
    "vcl": set(PACKAGES),
    "bench": set(PACKAGES),
}
TORCH_FREE = ("common", "skeleton", "runtime", "index", "server")


def imported_roots(path: Path) -> list[tuple[int, str]]:
    """(line, top-level name) of every import in the file, relative imports resolved."""
    package = path.relative_to(REPO).parts[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, package if node.level else (node.module or "").split(".")[0]))
    return found


def modules(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if ".venv" not in p.parts)


def test_every_package_has_modules() -> None:
    assert all(modules(p) for p in PACKAGES), [p for p in PACKAGES if not modules(p)]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_allowed_arrows(package: str) -> None:
    wrong = [
        f"{path.relative_to(REPO)}:{line}: {package} -> {root}"
        for path in modules(package)
        for line, root in imported_roots(path)
        if (root in PACKAGES and root != package and root not in ALLOWED[package]) or root == "tests"
    ]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", TORCH_FREE)
def test_torch_free_packages_never_import_torch(package: str) -> None:
    wrong = [
        f"{path.relative_to(REPO)}:{line}: imports {root}"
        for path in modules(package)
        for line, root in imported_roots(path)
        if root in ("torch", "torchvision", "onnx", "onnxscript")
    ]
    assert not wrong, "\n".join(wrong)


def test_importing_server_index_and_runtime_loads_no_torch() -> None:
    code = (
        "import sys, server.app, index.store, runtime, runtime.model, runtime.scores, runtime.manifest; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'train', 'export')); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
