"""Clip files reaching the server: uploads, archives and paths under the data root.

Uploads are data only: a file is written under a fresh temporary directory with its base name
reduced to safe characters, read by the data layer's readers and deleted; nothing from a request
ever chooses where the server reads or writes outside that. Paths given in requests are relative
to the configured data root and must stay inside it after symlinks are resolved. Archives
(``.zip``, ``.tar``, ``.tar.gz``) are unpacked member by member with the same rules, bounded in
member count and unpacked size, refused before anything is decompressed when a member's declared
size, the total or the compression ratio is past its bound, and copied in bounded chunks cut at
the declared size (only stored and deflate zip members, plain and gzip tar: the methods whose
decompression can be bounded). Every file a listing or a rebuild reads is resolved and must stay
inside the data root (a symlink leading out is skipped). Messages name files relative to the data
root; ``redact`` takes server paths out of any text that leaves the server.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import re
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO, cast

from index.build import CLIP_SUFFIXES
from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.readers.auto import read_clips

MAX_ARCHIVE_MEMBERS = 100_000
MAX_LISTED_FILES = 1000
MAX_WALKED_ENTRIES = 200_000  # a listing stops after looking at this many names
MAX_COMPRESSION_RATIO = 200  # unpacked / packed bytes; skeleton data compresses 2-10x
COPY_CHUNK = 1 << 20
# unpacking errors the archive's own member names cause: a file and a folder of one name, a name too long
BAD_MEMBER_ERRNOS = frozenset({errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG})


class PathError(SkeletonError):
    """A request path that is absolute, leaves the data root, or does not exist."""


def safe_name(filename: str | None) -> str:
    """The upload's base name with anything but letters, digits, '.', '-' and '_' replaced."""
    base = PurePosixPath((filename or "").replace("\\", "/")).name
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return clean[:200] or "upload"


# an upload may also be pose-estimator output (arrays, landmark lists, Kinetics-skeleton, one
# OpenPose frame); folders scanned for clips keep CLIP_SUFFIXES, where any .json is not a clip.
# Never .pkl: pickles are read only by `vcl data prepare --dataset pyskl`.
UPLOAD_SUFFIXES = CLIP_SUFFIXES | {".npy", ".json", ".csv"}


def read_upload(filename: str | None, data: bytes) -> list[Clip]:
    """Every clip in one uploaded file (any format the data layer reads, chosen by suffix)."""
    name = safe_name(filename)
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise SkeletonError(
            f"upload {filename!r}: unsupported file type {suffix or '(none)'}; expected one of "
            f"{', '.join(sorted(UPLOAD_SUFFIXES))}"
        )
    if not data:
        raise SkeletonError(f"upload {filename!r}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="vcl-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            clips = read_clips(path)
        except SkeletonError as err:
            raise SkeletonError(str(err).replace(str(path), f"upload {filename!r}")) from None
        except Exception as err:  # a reader's library failing on garbage is still bad input
            raise SkeletonError(
                f"upload {filename!r}: not a readable {suffix} file ({type(err).__name__})"
            ) from None
    if not clips:
        raise SkeletonError(f"upload {filename!r}: no clips in the file")
    # the temporary path means nothing to anyone: name the upload instead
    return [replace(c, meta=replace(c.meta, source=f"upload:{name}")) for c in clips]


def read_path(root: Path, path: Path) -> list[Clip]:
    """Every clip in ``path`` (confined under the data root ``root``); messages and sources name
    it relative to the root, never by its server path."""
    relative = _relative(path, root.resolve())
    try:
        clips = read_clips(path)
    except SkeletonError as err:
        raise SkeletonError(str(err).replace(str(path), relative)) from None
    except Exception as err:  # a reader's library failing on garbage is still bad input
        raise SkeletonError(f"{relative}: not a readable {path.suffix} file ({type(err).__name__})") from None
    return [replace(c, meta=replace(c.meta, source=relative)) for c in clips]


def confine(root: Path | None, relative: str) -> Path:
    """``root / relative`` when it exists and stays inside ``root`` (symlinks resolved)."""
    if root is None:
        raise PathError("paths are not accepted: the server has no data root (VCL_DATA_ROOT)")
    if not relative or PurePosixPath(relative).is_absolute() or Path(relative).is_absolute():
        raise PathError(f"path {relative!r}: give a path relative to the data root")
    base = root.resolve()
    if "\0" in relative:
        raise PathError(f"path {relative!r}: contains a NUL byte")
    try:
        target = (base / relative).resolve()
        if target != base and base not in target.parents:
            raise PathError(f"path {relative!r}: outside the data root")
        exists = target.exists()
    except OSError as err:  # e.g. a name too long for the file system
        raise PathError(f"path {relative!r}: not a usable path ({err.strerror})") from None
    if not exists:
        raise PathError(f"path {relative!r}: no such file or folder under the data root")
    return target


def _walk(folder: Path) -> Iterator[Path]:
    """Names under ``folder`` in sorted order, symlinked folders not entered, at most
    ``MAX_WALKED_ENTRIES`` looked at."""
    seen = 0
    for current, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            seen += 1
            if seen > MAX_WALKED_ENTRIES:
                return
            yield Path(current) / name


def confined_files(
    root: Path, folder: Path, suffixes: Iterable[str] | None = None
) -> tuple[list[Path], list[str]]:
    """Regular files under ``folder`` (optionally only those ``suffixes``) whose real path is
    inside the data root ``root``, resolved; and the names, relative to ``root``, of those
    skipped because they lead out of it (symlinks) or are not regular files."""
    base = root.resolve()
    wanted = None if suffixes is None else {s.lower() for s in suffixes}
    files: list[Path] = []
    skipped: list[str] = []
    for path in _walk(folder):
        if wanted is not None and path.suffix.lower() not in wanted:
            continue
        resolved = path.resolve()
        if base not in resolved.parents or not resolved.is_file():
            skipped.append(_relative(path, base))
            continue
        files.append(resolved)
    return files, skipped


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


def list_clip_files(root: Path) -> list[str]:
    """Clip files under the data root, relative, sorted (at most ``MAX_LISTED_FILES``); files
    whose real path leaves the data root are left out."""
    base = root.resolve()
    out: list[str] = []
    for path in _walk(base):
        if path.suffix.lower() in CLIP_SUFFIXES:
            resolved = path.resolve()
            if base in resolved.parents and resolved.is_file():
                out.append(path.relative_to(base).as_posix())
                if len(out) >= MAX_LISTED_FILES:
                    break
    return out


def redact(text: str, places: dict[str, str]) -> str:
    """``text`` with each server path in ``places`` (path -> what to say instead, longest first)
    replaced, and any temporary upload or rebuild directory named by what it is."""
    for path, name in sorted(places.items(), key=lambda kv: -len(kv[0])):
        if path:
            text = text.replace(path.rstrip("/") + "/", name + "/" if name else "").replace(path, name or ".")
    return re.sub(r"/[^\s'\"]*/vcl-(upload|rebuild)-[^/\s'\"]+/?", "", text)


def extract_archive(data: bytes, filename: str | None, dest: Path, max_bytes: int) -> int:
    """Unpack a ``.zip`` or ``.tar[.gz]`` upload into ``dest``; regular files only, no absolute
    paths or '..', at most ``MAX_ARCHIVE_MEMBERS`` members and ``max_bytes`` unpacked, each member
    within ``MAX_COMPRESSION_RATIO`` of its packed size. Declared sizes are checked before a
    member is decompressed and members are copied in chunks, cut at their declared size.
    Returns the number of files written."""
    label = f"archive {filename!r}"
    buffer = io.BytesIO(data)
    if zipfile.is_zipfile(buffer):
        return _extract_zip(buffer, label, dest, max_bytes)
    head = data[:6]
    if head[:2] == b"\x1f\x8b":
        stream = cast(IO[bytes], gzip.GzipFile(fileobj=io.BytesIO(data)))  # inflates in bounded steps
    elif head[:3] == b"BZh" or head == b"\xfd7zXZ\x00":
        raise SkeletonError(f"{label}: bzip2 and xz archives are not accepted; use .zip, .tar or .tar.gz")
    else:
        stream = io.BytesIO(data)
    return _extract_tar(stream, len(data), label, dest, max_bytes)


def _extract_zip(buffer: io.BytesIO, label: str, dest: Path, max_bytes: int) -> int:
    try:
        archive = zipfile.ZipFile(buffer)
    except Exception as err:  # a damaged directory is still bad input
        raise SkeletonError(f"{label}: not a readable zip archive ({_why(err)})") from None
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise SkeletonError(f"{label}: {len(infos)} files, at most {MAX_ARCHIVE_MEMBERS}")
    if sum(info.file_size for info in infos) > max_bytes:
        raise SkeletonError(f"{label}: unpacks to more than {max_bytes} bytes")
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SkeletonError(
                f"{label}: member {info.filename!r}: only stored or deflate members are accepted"
            )
        _check_ratio(label, info.filename, info.file_size, info.compress_size)
        if info.compress_size > info.file_size + info.file_size // 1000 + 1024:  # deflate's worst case
            raise SkeletonError(
                f"{label}: member {info.filename!r} declares {info.file_size} bytes but packs "
                f"{info.compress_size}: its declared size is wrong"
            )
    for info in infos:
        target = _member_target(label, info.filename, dest)
        try:
            with archive.open(info) as handle:
                _copy(handle, info.file_size, target, label, info.filename)
        except SkeletonError:
            raise
        except OSError as err:
            if err.errno is not None and err.errno not in BAD_MEMBER_ERRNOS:
                raise
            raise SkeletonError(f"{label}: member {info.filename!r} cannot be read ({_why(err)})") from None
        except Exception as err:  # corrupt, encrypted or a bad CRC
            raise SkeletonError(f"{label}: member {info.filename!r} cannot be read ({_why(err)})") from None
    return len(infos)


def _extract_tar(stream: IO[bytes], packed: int, label: str, dest: Path, max_bytes: int) -> int:
    """A tar read as a stream (no seeking back): each member's declared size is checked against
    what is left of the budget and the ratio bound before its data is read."""
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")
    except Exception as err:  # not a tar, or a compressed stream cut short or damaged
        raise SkeletonError(f"{label}: not a zip or tar archive ({_why(err)})") from None
    count = total = 0
    try:
        for member in tar:
            if member.isdir():
                continue
            if not member.isfile():
                raise SkeletonError(f"{label}: {member.name!r} is a link or device; only files are accepted")
            count += 1
            total += member.size
            if count > MAX_ARCHIVE_MEMBERS:
                raise SkeletonError(f"{label}: more than {MAX_ARCHIVE_MEMBERS} files")
            if total > max_bytes:
                raise SkeletonError(f"{label}: unpacks to more than {max_bytes} bytes")
            _check_ratio(label, "(all members)", total, packed)
            target = _member_target(label, member.name, dest)
            handle = tar.extractfile(member)
            if handle is not None:
                _copy(handle, member.size, target, label, member.name)
    except SkeletonError:
        raise
    except OSError as err:
        if err.errno is not None and err.errno not in BAD_MEMBER_ERRNOS:
            raise
        raise SkeletonError(f"{label}: not a readable tar archive ({_why(err)})") from None
    except Exception as err:  # truncated or damaged: still bad input
        raise SkeletonError(f"{label}: not a readable tar archive ({_why(err)})") from None
    return count


def _check_ratio(label: str, name: str, unpacked: int, packed: int) -> None:
    if unpacked > MAX_COMPRESSION_RATIO * max(packed, 1) and unpacked > COPY_CHUNK:
        raise SkeletonError(
            f"{label}: member {name!r} unpacks to {unpacked} bytes from {packed}, a ratio above "
            f"{MAX_COMPRESSION_RATIO}"
        )


def _member_target(label: str, name: str, dest: Path) -> Path:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or re.match(r"^[A-Za-z]:", parts[0]):
        raise SkeletonError(f"{label}: member {name!r} has an absolute or parent path")
    target = dest.joinpath(*(safe_name(p) for p in parts))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if err.errno not in BAD_MEMBER_ERRNOS:
            raise
        raise SkeletonError(f"{label}: member {name!r} cannot be unpacked ({err.strerror})") from None
    return target


def _copy(handle: IO[bytes], size: int, target: Path, label: str, name: str) -> None:
    """Copy at most ``size`` bytes from ``handle`` to ``target`` in ``COPY_CHUNK`` pieces."""
    left = size
    try:
        with open(target, "wb") as out:
            while left > 0:
                chunk = handle.read(min(COPY_CHUNK, left))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
        if handle.read(1):  # more than declared (a zip member also checks its CRC here)
            raise SkeletonError(f"{label}: member {name!r} holds more than its declared {size} bytes")
    except OSError as err:
        if err.errno not in BAD_MEMBER_ERRNOS:
            raise
        raise SkeletonError(f"{label}: member {name!r} cannot be unpacked ({err.strerror})") from None


def _why(err: Exception) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
