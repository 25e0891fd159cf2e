"""Decompression bombs and oversized bodies against the real server (a subprocess): each case is
answered 4xx and the server's peak RSS (``VmHWM``) grows by less than 100 MB per case.

The cases, generated here: an ``.npz`` whose ``joints`` member is bzip2-compressed zeros of header
shape (1, 4, 10000, 25, 3) (120 MB, 0.8 KB packed); the same as deflate; an ``.npz`` whose header
claims more than its member declares; a zlib ``.mat`` whose ``d_skel`` has 300,000 frames (144 MB); a
``.mat`` with an extra 160 MB variable; a rebuild archive (zip) declaring 1,000 bytes for a 256 MiB
member; a zip with a bzip2 member; a ``.tar.gz`` of 1 MB holding one 500 MiB member; and a 42 MB
JSON body without a key (401 on the headers, the body never read).
"""

from __future__ import annotations

import io
import socket
import struct
import tarfile
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import scipy.io

from tests.server.conftest import ServerProcess, ServiceFiles

ADMIN_KEY = "adm-bombs-6c1e9f42d07b"
READER_KEY = "read-bombs-3a8f5d21c9e4"
GROWTH_MB = 100
ZEROS = bytes(1 << 20)


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _npz_bomb(method: int, shape: tuple[int, ...] = (1, 4, 10000, 25, 3)) -> bytes:
    """An .npz with one ``joints`` member of zeros, streamed through the compressor."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method, compresslevel=1) as archive:
        with archive.open("joints.npy", "w") as member:
            member.write(_npy_header(shape))
            left = int(np.prod(shape)) * 4
            while left > 0:
                member.write(ZEROS[: min(left, len(ZEROS))])
                left -= len(ZEROS)
    return buffer.getvalue()


def _npz_lying() -> bytes:
    """A stored member whose .npy header claims 120 MB and that holds 100 bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("joints.npy", _npy_header((1, 4, 10000, 25, 3)) + bytes(100))
    return buffer.getvalue()


def _mat(variables: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables, do_compression=True)
    return buffer.getvalue()


def _deflate_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    parts = [packer.compress(ZEROS) for _ in range(size // len(ZEROS))]
    return b"".join(parts) + packer.flush()


def _zip_lying(size: int = 256 << 20, declared: int = 1000) -> bytes:
    """A zip whose one deflate member holds ``size`` zero bytes and declares ``declared``."""
    packed = _deflate_zeros(size)
    name = b"clips/a.npz"
    crc = zlib.crc32(bytes(declared))
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(packed), declared, len(name), 0)
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(packed),
        declared,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + name + packed
    directory = central + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


def _zip_bzip2() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("clips/a.npz", bytes(1 << 20))
    return buffer.getvalue()


def _tar_gz_bomb(size: int = 500 << 20) -> bytes:
    """A .tar.gz of one ``size``-byte member of zeros (gzip framing around a raw deflate stream)."""
    info = tarfile.TarInfo("clips/big.npz")
    info.size = size
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    head = info.tobuf()
    parts = [packer.compress(head)]
    crc = zlib.crc32(head)
    for _ in range(size // len(ZEROS)):
        parts.append(packer.compress(ZEROS))
        crc = zlib.crc32(ZEROS, crc)
    end = bytes(1024)  # two empty blocks close the archive
    parts.append(packer.compress(end))
    crc = zlib.crc32(end, crc)
    parts.append(packer.flush())
    total = len(head) + size + len(end)
    header = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x00\xff"
    return header + b"".join(parts) + struct.pack("<II", crc, total & 0xFFFFFFFF)


@pytest.fixture(scope="module")
def server(service_files: ServiceFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    import shutil

    base = tmp_path_factory.mktemp("bombs")
    shutil.copytree(service_files.index, base / "index")
    env = {
        "VCL_ALLOW_MUTATION": "true",
        "VCL_ADMIN_KEY": ADMIN_KEY,
        "VCL_API_KEY": READER_KEY,
        "VCL_READ_OPEN": "false",
    }
    process = ServerProcess(service_files.model, base / "index", service_files.root, env, key=ADMIN_KEY)
    try:
        yield process
    finally:
        process.stop()


def _multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _upload(server: ServerProcess, path: str, field: str, filename: str, data: bytes) -> tuple[int, object]:
    body, content_type = _multipart(field, filename, data)
    return server.call("POST", path, data=body, headers={"Content-Type": content_type}, timeout=120)


def _no_key_big_json(server: ServerProcess) -> tuple[int, object]:
    """42 MB of JSON announced, 1 MB sent, no key: the 401 comes on the headers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 42000000\r\n\r\n" + b'{"clips": [' + b"1," * 500_000
        )
        answer = sock.recv(65536).decode()
    return int(answer.split()[1]), answer.rsplit("\r\n\r\n", 1)[-1]


CASES: dict[str, tuple[Callable[[], bytes] | None, str, str, str]] = {
    # name: (build, endpoint, multipart field, file name)
    "npz-bzip2": (lambda: _npz_bomb(zipfile.ZIP_BZIP2), "/v1/classify/files", "files", "bomb.npz"),
    "npz-deflate": (lambda: _npz_bomb(zipfile.ZIP_DEFLATED), "/v1/embed/files", "files", "bomb.npz"),
    "npz-lying-header": (_npz_lying, "/v1/classify/files", "files", "lie.npz"),
    "mat-frames": (
        lambda: _mat({"d_skel": np.zeros((20, 3, 300_000))}),
        "/v1/classify/files",
        "files",
        "a1_s1_t1_skeleton.mat",
    ),
    "mat-extra-variable": (
        lambda: _mat({"d_skel": np.zeros((20, 3, 10)), "junk": np.zeros((20_000_000,))}),
        "/v1/classify/files",
        "files",
        "a1_s1_t1_skeleton.mat",
    ),
    "zip-lying-size": (_zip_lying, "/v1/index/rebuild/archive", "archive", "lie.zip"),
    "zip-bzip2": (_zip_bzip2, "/v1/index/rebuild/archive", "archive", "b.zip"),
    "tar-gz-500MiB": (_tar_gz_bomb, "/v1/index/rebuild/archive", "archive", "big.tar.gz"),
    "json-42MB-no-key": (None, "/v1/classify", "", ""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bomb_is_refused_within_bounded_memory(server: ServerProcess, case: str) -> None:
    build, endpoint, field, filename = CASES[case]
    data = build() if build is not None else b""
    peak = server.memory_mb("VmHWM")
    started = time.monotonic()
    if build is None:
        status, detail = _no_key_big_json(server)
        assert status == 401, detail
    else:
        status, detail = _upload(server, endpoint, field, filename, data)
        assert 400 <= status < 500, (status, detail)
    growth = server.memory_mb("VmHWM") - peak
    took = time.monotonic() - started
    print(f"{case}: {len(data)} bytes -> {status} in {took:.2f} s, peak RSS +{growth:.1f} MB")
    assert growth < GROWTH_MB, f"{case}: peak RSS grew by {growth:.0f} MB"
    assert server.call("GET", "/livez")[0] == 200
    assert "/tmp/" not in str(detail), detail  # no server paths in errors
