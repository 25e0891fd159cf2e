"""bench/retrieval.py at a toy size: every index kind is built, measured and reported in one run."""

from __future__ import annotations

import pytest

retrieval = pytest.importorskip("retrieval")


def test_index_kinds_in_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    rows = retrieval.index_kinds(count=1500, dim=192, num_queries=20, train_per_list=64, repeats=1)
    kinds = [r["kind"] for r in rows]
    assert sorted(set(kinds), key=kinds.index) == ["flat", "ivf", "ivfpq", "hnsw"]
    assert len(rows) == 1 + 3 + 3 + 3  # exact; nprobe lists/8, 64, 16 (capped, distinct); ef 128, 64, 32
    assert rows[0]["recall_at_10"] == 1.0 and all(0 <= r["recall_at_10"] <= 1 for r in rows)
    assert all(r["qps"] > 0 and r["build_s"] >= 0 for r in rows)
    flat, ivfpq = rows[0]["bytes"], rows[kinds.index("ivfpq")]["bytes"]
    assert flat >= 1500 * 192 * 4 and ivfpq < flat / 2  # 48-byte codes (plus codebooks) vs 768 bytes
    assert "ivfpq" in capsys.readouterr().out
