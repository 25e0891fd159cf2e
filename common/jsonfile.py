"""Read a JSON file written by VCL and check its ``format`` field: the one reader of manifests,
checkpoint metadata and index manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.errors import VclError


def read_json_file(
    path: str | Path,
    expected_format: str | None,
    error: type[VclError],
    what: str,
) -> dict[str, Any]:
    """The JSON object in ``path``; raises ``error`` naming the file when it is missing, is not
    valid JSON, is not an object, or its ``format`` field is not ``expected_format``.

    Args:
        path: the file.
        expected_format: required value of the top-level ``format`` field (None: not checked).
        error: the exception class to raise (a ``VclError`` subclass of the caller's layer).
        what: what the file should be, for the "missing" message (e.g. "an exported model").
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path.parent}: not {what} (no {path.name})")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{path}: invalid JSON ({err})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object, got {type(data).__name__}")
    if expected_format is not None and data.get("format") != expected_format:
        raise error(f"{path}: field 'format': expected {expected_format!r}, got {data.get('format')!r}")
    return data
