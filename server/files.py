"""Clip files reaching the server: uploads, archives and paths under the data root.

Uploads are data only: a file is written under a fresh temporary directory with its base name
reduced to safe characters, read by the data layer's readers and deleted; nothing from a request
ever chooses where the server reads or writes outside that. Paths given in requests are relative
to the configured data root and must stay inside it after symlinks are resolved. Archives
(``.zip``, ``.tar``, ``.tar.gz``) are unpacked member by member with the same rules, bounded in
member count and unpacked size.
"""

from __future__ import annotations

import errno
import io
import re
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path, PurePosixPath

from index.build import CLIP_SUFFIXES
from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.readers.auto import read_clips

MAX_ARCHIVE_MEMBERS = 100_000
MAX_LISTED_FILES = 1000
# unpacking errors the archive's own member names cause: a file and a folder of one name, a name too long
BAD_MEMBER_ERRNOS = frozenset({errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG})


class PathError(SkeletonError):
    """A request path that is absolute, leaves the data root, or does not exist."""


def safe_name(filename: str | None) -> str:
    """The upload's base name with anything but letters, digits, '.', '-' and '_' replaced."""
    base = PurePosixPath((filename or "").replace("\\", "/")).name
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return clean[:200] or "upload"


def read_upload(filename: str | None, data: bytes) -> list[Clip]:
    """Every clip in one uploaded file (any format the data layer reads, chosen by suffix)."""
    name = safe_name(filename)
    suffix = Path(name).suffix.lower()
    if suffix not in CLIP_SUFFIXES:
        raise SkeletonError(
            f"upload {filename!r}: unsupported file type {suffix or '(none)'}; expected one of "
            f"{', '.join(sorted(CLIP_SUFFIXES))}"
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


def list_clip_files(root: Path) -> list[str]:
    """Clip files under the data root, relative, sorted (at most ``MAX_LISTED_FILES``)."""
    base = root.resolve()
    out: list[str] = []
    for path in sorted(base.rglob("*")):
        if path.suffix.lower() in CLIP_SUFFIXES and path.is_file():
            resolved = path.resolve()
            if base in resolved.parents:
                out.append(path.relative_to(base).as_posix())
                if len(out) >= MAX_LISTED_FILES:
                    break
    return out


def extract_archive(data: bytes, filename: str | None, dest: Path, max_bytes: int) -> int:
    """Unpack a ``.zip`` or ``.tar[.gz]`` upload into ``dest``; regular files only, no absolute
    paths or '..', at most ``MAX_ARCHIVE_MEMBERS`` members and ``max_bytes`` unpacked.
    Returns the number of files written."""
    label = f"archive {filename!r}"
    buffer = io.BytesIO(data)
    members: list[tuple[str, int, Callable[[], bytes]]] = []
    if zipfile.is_zipfile(buffer):
        try:
            archive = zipfile.ZipFile(buffer)
        except Exception as err:  # a damaged directory is still bad input
            raise SkeletonError(f"{label}: not a readable zip archive ({_why(err)})") from None
        for info in archive.infolist():
            if not info.is_dir():
                members.append((info.filename, info.file_size, partial(archive.read, info)))
    else:
        buffer.seek(0)
        try:
            tar = tarfile.open(fileobj=buffer, mode="r:*")
        except tarfile.TarError:
            raise SkeletonError(f"{label}: not a zip or tar archive") from None
        except Exception as err:  # a compressed stream cut short or damaged
            raise SkeletonError(f"{label}: not a readable tar archive ({_why(err)})") from None
        try:
            tar_members = tar.getmembers()
        except Exception as err:  # truncated or damaged: still bad input
            raise SkeletonError(f"{label}: not a readable tar archive ({_why(err)})") from None
        for member in tar_members:
            if member.isdir():
                continue
            if not member.isfile():
                raise SkeletonError(f"{label}: {member.name!r} is a link or device; only files are accepted")
            members.append((member.name, member.size, partial(_tar_read, tar, member)))
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise SkeletonError(f"{label}: {len(members)} files, at most {MAX_ARCHIVE_MEMBERS}")
    if sum(size for _, size, _ in members) > max_bytes:
        raise SkeletonError(f"{label}: unpacks to more than {max_bytes} bytes")
    for name, _size, read in members:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not parts or parts[0] == "/" or ".." in parts or re.match(r"^[A-Za-z]:", parts[0]):
            raise SkeletonError(f"{label}: member {name!r} has an absolute or parent path")
        try:
            content = read()
        except Exception as err:  # corrupt, encrypted or compressed in an unsupported way
            raise SkeletonError(f"{label}: member {name!r} cannot be read ({_why(err)})") from None
        target = dest.joinpath(*(safe_name(p) for p in parts))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        except OSError as err:
            if err.errno not in BAD_MEMBER_ERRNOS:
                raise
            raise SkeletonError(f"{label}: member {name!r} cannot be unpacked ({err.strerror})") from None
    return len(members)


def _why(err: Exception) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _tar_read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""
