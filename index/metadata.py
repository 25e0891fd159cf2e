"""Clip metadata in SQLite (embedded, no server), one row per indexed clip.

Columns: id, label (name), label_index, source, frame_start, frame_end, subject, view, dataset,
added (Unix time), user (JSON object of free-form fields), sigma (float32 blob: the embedding's
per-dimension standard deviation, for uncertainty-aware re-ranking; NULL without a Gaussian head),
preview (``index.preview``: a few frames of the preprocessed skeleton, for display; may be NULL).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    label TEXT,
    label_index INTEGER,
    source TEXT,
    frame_start INTEGER,
    frame_end INTEGER,
    subject INTEGER,
    view TEXT,
    dataset TEXT,
    added REAL NOT NULL,
    user TEXT NOT NULL DEFAULT '{}',
    sigma BLOB,
    preview BLOB
);
CREATE INDEX IF NOT EXISTS items_label ON items(label);
"""
COLUMNS = (
    "id",
    "label",
    "label_index",
    "source",
    "frame_start",
    "frame_end",
    "subject",
    "view",
    "dataset",
    "added",
    "user",
)


@dataclass
class Item:
    """One indexed clip's metadata."""

    id: int
    label: str | None = None
    label_index: int | None = None
    source: str | None = None
    frame_start: int | None = None
    frame_end: int | None = None
    subject: int | None = None
    view: str | None = None
    dataset: str | None = None
    added: float = field(default_factory=time.time)
    user: dict[str, Any] = field(default_factory=dict)
    preview: bytes | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.executescript(SCHEMA)
    return conn


def insert(conn: sqlite3.Connection, items: list[Item], sigmas: np.ndarray | None) -> None:
    rows = []
    for i, item in enumerate(items):
        blob = None if sigmas is None else np.asarray(sigmas[i], dtype=np.float32).tobytes()
        rows.append(
            (
                item.id,
                item.label,
                item.label_index,
                item.source,
                item.frame_start,
                item.frame_end,
                item.subject,
                item.view,
                item.dataset,
                item.added,
                json.dumps(item.user, sort_keys=True),
                blob,
                item.preview,
            )
        )
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()


def fetch(conn: sqlite3.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM items WHERE id IN ({marks})", ids)
    out = {}
    for row in cursor.fetchall():
        record = dict(zip(COLUMNS, row, strict=True))
        record["user"] = json.loads(record["user"])
        out[int(record["id"])] = record
    return out


def fetch_sigmas(conn: sqlite3.Connection, ids: list[int]) -> dict[int, np.ndarray | None]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT id, sigma FROM items WHERE id IN ({marks})", ids).fetchall()
    return {int(i): None if blob is None else np.frombuffer(blob, dtype=np.float32) for i, blob in rows}


def fetch_previews(conn: sqlite3.Connection, ids: list[int]) -> dict[int, bytes | None]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT id, preview FROM items WHERE id IN ({marks})", ids).fetchall()
    return {int(i): blob for i, blob in rows}


def ids_with_label(conn: sqlite3.Connection, label: str) -> set[int]:
    return {int(r[0]) for r in conn.execute("SELECT id FROM items WHERE label = ?", (label,)).fetchall()}


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
