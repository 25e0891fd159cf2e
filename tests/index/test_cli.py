"""``vcl index`` end to end with a tiny exported VCL model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skeleton.readers.npz import write_npz
from skeleton.synthetic import synthetic_clip
from tests.conftest import tiny_exported_model
from vcl.cli import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("indexcli")
    data, model = tiny_exported_model(root, seed=7, streams="[joint]")
    clips = root / "clips.npz"
    write_npz(clips, [synthetic_clip(i, seed=7) for i in (3, 4)])
    return data, model, clips


def test_build_search_add_remove_info(
    setup: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, model, clips = setup
    index = tmp_path / "index"
    assert main(["index", "build", "--model", str(model), "--data", str(data), "--out", str(index)]) == 0
    assert "built" in capsys.readouterr().out

    def search(*extra: str) -> list:
        assert (
            main(
                [
                    "index",
                    "search",
                    "--index",
                    str(index),
                    "--model",
                    str(model),
                    str(clips),
                    "--json",
                    *extra,
                ]
            )
            == 0
        )
        return json.loads(capsys.readouterr().out)

    results = search("--k", "3", "--uncertainty-aware")
    assert len(results) == 2 and all(len(r["neighbours"]) == 3 for r in results)
    first = results[0]["neighbours"][0]
    assert first["version"] == "v000001" and first["mls"] is not None
    everything = {n["id"]: n for n in search("--k", "44")[0]["neighbours"]}
    assert everything[3]["score"] == pytest.approx(1.0, abs=1e-4)  # the same clip, indexed from the dataset
    assert main(["index", "add", "--index", str(index), "--model", str(model), str(clips)]) == 0
    assert "ids 44, 45" in capsys.readouterr().out
    assert main(["index", "remove", "--index", str(index), "44", "45"]) == 0
    capsys.readouterr()
    assert main(["index", "info", "--index", str(index)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == 44 and info["version"] == "v000003" and info["versions"] == ["v000002", "v000003"]
    assert main(["index", "remove", "--index", str(index), "999"]) == 2
    assert "ids not in the index: [999]" in capsys.readouterr().err
