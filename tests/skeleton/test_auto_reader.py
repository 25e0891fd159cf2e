from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from skeleton.errors import ClipFormatError
from skeleton.readers.auto import read_clips
from skeleton.readers.ntu import write_ntu_skeleton


def test_format_is_chosen_by_extension_and_content(tmp_path: Path) -> None:
    ntu = tmp_path / "S001C001P001R001A005.skeleton"
    write_ntu_skeleton(ntu, [[(1, np.ones((25, 3)))]])
    assert [c.layout for c in read_clips(ntu)] == ["ntu"]
    mat = tmp_path / "a3_s2_t1_skeleton.mat"
    scipy.io.savemat(str(mat), {"d_skel": np.ones((20, 3, 4))})
    assert [(c.layout, c.label) for c in read_clips(mat)] == [("kinect_v1", 2)]
    pku = tmp_path / "0002-L.txt"
    np.savetxt(pku, np.ones((6, 150)))
    assert [(c.layout, c.num_frames) for c in read_clips(pku)] == [("ntu", 6)]
    msr = tmp_path / "a01_s01_e01_skeleton3D.txt"
    msr.write_text("1 2 3 1\n" * 40)
    assert [(c.layout, c.num_frames) for c in read_clips(msr)] == [("msr", 2)]
    npz = tmp_path / "x.npz"
    np.savez(npz, joints=np.ones((3, 2, 4, 25, 3)))
    assert len(read_clips(npz)) == 3


def test_unknown_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "clip.bvh").write_text("{}")
    with pytest.raises(ClipFormatError, match=r"unsupported file type: expected .skeleton.*got .bvh"):
        read_clips(tmp_path / "clip.bvh")
    (tmp_path / "clip.json").write_text("{}")
    with pytest.raises(ClipFormatError, match=r"unrecognised JSON clip"):
        read_clips(tmp_path / "clip.json")
    with pytest.raises(ClipFormatError, match="no such file"):
        read_clips(tmp_path / "gone.skeleton")
