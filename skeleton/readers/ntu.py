"""NTU RGB+D 60/120 raw ``.skeleton`` files (Kinect v2, 25 joints).

Format (whitespace separated, CRLF tolerated): frame count; then per frame a body count and,
for each body, one line of 10 body fields (bodyID first), a joint-count line (25) and 25 lines
of 12 joint fields (x y z first). Bodies are kept by their position within the frame (slot 0 is
the first body listed), as the official VCL / ST-GCN code does; the bodyID of each slot is kept
beside the joints so a pipeline may track identities instead. The file name
``SsssCcccPpppRrrrAaaa`` gives setup, camera, performer, replication and action (1-based).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from skeleton.clip import Clip, ClipMeta, check_joints
from skeleton.errors import ClipFormatError

NUM_JOINTS = 25
_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


def parse_ntu_name(name: str) -> dict[str, int] | None:
    """Setup, camera, subject, repetition and 1-based action from an NTU sample name."""
    match = _NAME.search(name)
    if match is None:
        return None
    setup, camera, subject, repetition, action = (int(g) for g in match.groups())
    return {"setup": setup, "camera": camera, "subject": subject, "repetition": repetition, "action": action}


class _Lines:
    """Cursor over the lines of a text file that reports positions in errors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.lines = path.read_text(encoding="ascii", errors="replace").splitlines()
        except OSError as err:
            raise ClipFormatError(path, f"cannot read file ({err.strerror})") from None
        self.pos = 0

    def next_int(self, what: str) -> int:
        line = self._take(what)
        tokens = line.split()
        try:
            value = int(tokens[0]) if len(tokens) == 1 else None
        except ValueError:
            value = None
        if value is None or value < 0:
            raise ClipFormatError(
                self.path,
                f"bad {what}",
                line=self.pos,
                expected="one non-negative integer",
                actual=repr(line.strip()[:60]),
            )
        return value

    def next_tokens(self, what: str, count: int) -> list[str]:
        tokens = self._take(what).split()
        if len(tokens) != count:
            raise ClipFormatError(
                self.path,
                f"bad {what}",
                line=self.pos,
                expected=f"{count} values",
                actual=f"{len(tokens)} values",
            )
        return tokens

    def block(self, what: str, rows: int, count: int) -> np.ndarray:
        """The first 3 columns of the next ``rows`` lines, each of ``count`` values, as float64."""
        start = self.pos
        if start + rows > len(self.lines):
            self.pos = len(self.lines)
            self._take(what)
        chunk = [line.split() for line in self.lines[start : start + rows]]
        for offset, tokens in enumerate(chunk):
            if len(tokens) != count:
                raise ClipFormatError(
                    self.path,
                    f"bad {what}",
                    line=start + offset + 1,
                    expected=f"{count} values",
                    actual=f"{len(tokens)} values",
                )
        self.pos = start + rows
        try:
            values = np.array([[float(t[0]), float(t[1]), float(t[2])] for t in chunk])
        except ValueError:
            for offset, tokens in enumerate(chunk):
                try:
                    [float(t) for t in tokens[:3]]
                except ValueError:
                    raise ClipFormatError(
                        self.path,
                        f"non-numeric {what}",
                        line=start + offset + 1,
                        expected="x y z as numbers",
                        actual=" ".join(tokens[:3]),
                    ) from None
            raise
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            bad = int(np.argmin(finite))
            raise ClipFormatError(
                self.path,
                f"non-finite {what}",
                line=start + bad + 1,
                expected="finite x y z",
                actual=" ".join(chunk[bad][:3]),
            )
        return values

    def _take(self, what: str) -> str:
        if self.pos >= len(self.lines):
            raise ClipFormatError(
                self.path, "truncated file", line=len(self.lines), expected=what, actual="end of file"
            )
        line = self.lines[self.pos]
        self.pos += 1
        return line


def _parse_fast(lines: list[str]) -> tuple[list[list[int]], np.ndarray] | None:
    """Whole-file parse for well-formed files: (body ids per frame, xyz (bodies, 25, 3)).

    Returns None as soon as anything deviates from the canonical layout (single spaces, 10 body
    fields, 25 joints of 12 fields, finite values); the checked parser then reads the file and
    names the problem.
    """
    try:
        num_frames = int(lines[0])
        pos = 1
        starts: list[int] = []
        ids: list[list[int]] = []
        for _ in range(num_frames):
            frame_ids = []
            for _ in range(int(lines[pos])):
                info = lines[pos + 1].strip()
                if info.count(" ") != 9 or int(lines[pos + 2]) != NUM_JOINTS:
                    return None
                frame_ids.append(int(info.split(" ", 1)[0]))
                starts.append(pos + 3)
                pos += 2 + NUM_JOINTS
            ids.append(frame_ids)
            pos += 1
        block = [lines[s + k].strip() for s in starts for k in range(NUM_JOINTS)]
    except (ValueError, IndexError):
        return None
    if any(line.count(" ") != 11 for line in block):
        return None
    try:
        values = np.array([float(v) for line in block for v in line.split(" ", 3)[:3]])
    except ValueError:
        return None
    if not np.isfinite(values).all():
        return None
    return ids, values.reshape(-1, NUM_JOINTS, 3)


def _parse_checked(path: Path) -> tuple[list[list[int]], np.ndarray]:
    """Line-by-line parse that raises a ClipFormatError naming the line on any problem."""
    cursor = _Lines(path)
    num_frames = cursor.next_int("frame count")
    bodies: list[np.ndarray] = []
    ids: list[list[int]] = []
    for f in range(num_frames):
        num_bodies = cursor.next_int(f"body count of frame {f + 1}")
        frame_ids: list[int] = []
        for b in range(num_bodies):
            info = cursor.next_tokens(f"body info of frame {f + 1}, body {b + 1}", 10)
            try:
                frame_ids.append(int(info[0]))
            except ValueError:
                raise ClipFormatError(
                    path,
                    "bad body id",
                    line=cursor.pos,
                    field="bodyID",
                    expected="an integer",
                    actual=info[0],
                ) from None
            joint_count = cursor.next_int(f"joint count of frame {f + 1}, body {b + 1}")
            if joint_count != NUM_JOINTS:
                raise ClipFormatError(
                    path,
                    "wrong joint count",
                    line=cursor.pos,
                    field="joint count",
                    expected=NUM_JOINTS,
                    actual=joint_count,
                )
            bodies.append(cursor.block(f"joints of frame {f + 1}, body {b + 1}", NUM_JOINTS, 12))
        ids.append(frame_ids)
    return ids, np.array(bodies).reshape(-1, NUM_JOINTS, 3)


def read_ntu_skeleton(path: str | Path, dataset: str = "ntu") -> Clip:
    """Read one ``.skeleton`` file.

    Returns:
        A Clip with joints (M, F, 25, 3) float64, M = the largest body count of any frame,
        label = action - 1 when the name carries one, and ``body_ids`` (M, F) (0 where a slot
        is empty).

    Raises:
        ClipFormatError: truncated or malformed file, wrong joint count, NaN/inf coordinates,
            or no body in any frame (the known samples with missing skeletons).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as err:
        raise ClipFormatError(path, f"cannot read file ({err.strerror})") from None
    parsed = _parse_fast(lines)
    ids, xyz = parsed if parsed is not None else _parse_checked(path)
    num_frames = len(ids)
    if num_frames == 0:
        raise ClipFormatError(
            path, "empty sequence", line=1, field="frame count", expected="at least 1 frame", actual=0
        )
    if len(xyz) == 0:
        raise ClipFormatError(
            path,
            "no body in any frame (sample with missing skeleton)",
            expected="at least one body",
            actual=f"0 bodies in {num_frames} frames",
        )
    num_slots = max(len(frame_ids) for frame_ids in ids)
    joints = np.zeros((num_slots, num_frames, NUM_JOINTS, 3))
    body_ids = np.zeros((num_slots, num_frames), dtype=np.int64)
    k = 0
    for f, frame_ids in enumerate(ids):
        n = len(frame_ids)
        joints[:n, f] = xyz[k : k + n]
        body_ids[:n, f] = frame_ids
        k += n
    check_joints(joints, str(path), NUM_JOINTS)
    fields = parse_ntu_name(path.stem)
    meta = ClipMeta(
        source=str(path),
        name=path.stem,
        dataset=dataset,
        subject=fields["subject"] if fields else None,
        view=str(fields["camera"]) if fields else None,
        setup=fields["setup"] if fields else None,
        repetition=fields["repetition"] if fields else None,
        frame_range=(0, num_frames),
    )
    label = fields["action"] - 1 if fields else None
    return Clip(joints=joints, label=label, meta=meta, layout="ntu", body_ids=body_ids)


def read_skip_list(path: str | Path) -> set[str]:
    """Sample names (one per line, e.g. the published lists of samples with missing skeletons)."""
    return {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}


def write_ntu_skeleton(path: str | Path, frames: list[list[tuple[int, np.ndarray]]]) -> None:
    """Write a ``.skeleton`` file: per frame a list of (bodyID, (25, 3) joints) in slot order.

    Fields the readers ignore (tracking states, depth/colour coordinates, orientations) are
    written as zeros. Useful to export clips for tools that read NTU files, and in tests.
    """
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for body_id, joints in bodies:
            out.append(f"{body_id} 0 1 1 1 1 0 0 0 2")
            out.append(str(len(joints)))
            out.extend(" ".join(repr(float(v)) for v in xyz) + " 0 0 0 0 0 0 0 0 2" for xyz in joints)
    Path(path).write_text("\r\n".join(out) + "\r\n")
