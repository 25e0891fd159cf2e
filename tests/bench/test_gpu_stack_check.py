"""bench/gpu_stack_check.py offline: the ELF reader on crafted and compiled libraries, the CUDA
majors read from a wheel, the verdict on mismatched stacks, and the command's exit status."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from gpu_stack_check import (
    BaseImage,
    ElfError,
    WheelReport,
    cuda_link,
    find_problems,
    gpu_requirements,
    inspect_wheel,
    main,
    platform_flags,
    read_base_image,
    read_dynamic,
    wheel_cuda_major,
)

REPO = Path(__file__).resolve().parents[2]


def make_elf(
    needed: list[str],
    soname: str | None = None,
    runpath: str | None = None,
    wide: bool = True,
    little: bool = True,
) -> bytes:
    """A minimal ELF shared object: header, PT_LOAD over the whole file, PT_DYNAMIC, strings."""
    o = "<" if little else ">"
    strings = b"\0"
    offsets = {}
    for name in [*needed, *(x for x in (soname, runpath) if x)]:
        offsets[name] = len(strings)
        strings += name.encode() + b"\0"
    ehsize, phentsize = (64, 56) if wide else (52, 32)
    strtab_at = ehsize + 2 * phentsize
    dynamic_at = strtab_at + len(strings) + (-len(strings)) % 8
    vaddr = 0x400000
    entries = [(1, offsets[n]) for n in needed]
    if soname:
        entries.append((14, offsets[soname]))
    if runpath:
        entries.append((29, offsets[runpath]))
    entries += [(5, vaddr + strtab_at), (10, len(strings)), (0, 0)]
    dyn = b"".join(struct.pack(o + ("qQ" if wide else "iI"), t, v) for t, v in entries)
    size = dynamic_at + len(dyn)
    ident = b"\x7fELF" + bytes([2 if wide else 1, 1 if little else 2, 1]) + bytes(9)
    if wide:
        header = ident + struct.pack(
            o + "HHIQQQIHHHHHH", 3, 62, 1, 0, ehsize, 0, 0, ehsize, phentsize, 2, 0, 0, 0
        )
        load = struct.pack(o + "IIQQQQQQ", 1, 5, 0, vaddr, vaddr, size, size, 0x1000)
        dynamic = struct.pack(o + "IIQQQQQQ", 2, 6, dynamic_at, vaddr + dynamic_at, 0, len(dyn), len(dyn), 8)
    else:
        header = ident + struct.pack(
            o + "HHIIIIIHHHHHH", 3, 3, 1, 0, ehsize, 0, 0, ehsize, phentsize, 2, 0, 0, 0
        )
        load = struct.pack(o + "IIIIIIII", 1, 0, vaddr, vaddr, size, size, 5, 0x1000)
        dynamic = struct.pack(o + "IIIIIIII", 2, dynamic_at, vaddr + dynamic_at, 0, len(dyn), len(dyn), 6, 4)
    body = header + load + dynamic + strings
    return body + bytes(dynamic_at - len(body)) + dyn


@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("little", [True, False])
def test_read_dynamic_crafted(wide: bool, little: bool) -> None:
    data = make_elf(["libcudart.so.13", "libc.so.6"], "libx.so.1", "$ORIGIN:/opt/lib", wide, little)
    info = read_dynamic(io.BytesIO(data))
    assert info.needed == ["libcudart.so.13", "libc.so.6"]
    assert info.soname == "libx.so.1"
    assert info.runpath == ["$ORIGIN", "/opt/lib"]


def test_read_dynamic_refuses_non_elf_and_truncated() -> None:
    with pytest.raises(ElfError, match="not an ELF"):
        read_dynamic(io.BytesIO(b"#!/bin/sh\n" + bytes(64)))
    with pytest.raises(ElfError, match="truncated"):
        read_dynamic(io.BytesIO(make_elf(["libcudart.so.12"])[:-8]))


def test_read_dynamic_of_a_compiled_library(tmp_path: Path) -> None:
    """A real linker's output: a library linking a stub named libcudart.so.13 and libcudnn.so.9."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    for name in ("libcudart.so.13", "libcudnn.so.9"):
        (tmp_path / "stub.c").write_text("int stub(void) { return 0; }\n")
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                f"-Wl,-soname,{name}",
                "-o",
                str(tmp_path / name),
                str(tmp_path / "stub.c"),
            ],
            check=True,
        )
    (tmp_path / "user.c").write_text("int use(void) { return 1; }\n")
    lib = tmp_path / "libuser.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-o",
            str(lib),
            str(tmp_path / "user.c"),
            f"-L{tmp_path}",
            "-Wl,--no-as-needed",
        ]
        + ["-l:libcudart.so.13", "-l:libcudnn.so.9", "-Wl,-rpath,$ORIGIN", "-Wl,-soname,libuser.so"],
        check=True,
    )
    with lib.open("rb") as stream:
        info = read_dynamic(stream)
    assert {"libcudart.so.13", "libcudnn.so.9"} <= set(info.needed)
    assert info.soname == "libuser.so" and info.runpath == ["$ORIGIN"]
    if shutil.which("readelf"):  # the same answer as binutils
        dump = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
        assert [
            line.split("[")[1].rstrip("]") for line in dump.splitlines() if "(NEEDED)" in line
        ] == info.needed


@pytest.mark.parametrize(
    ("soname", "expected"),
    [
        ("libcudart.so.12", ("cudart", 12)),
        ("libcublasLt.so.13", ("cublasLt", 13)),
        ("libcudart.so.11.0", ("cudart", 11)),
        ("libcudart-d0da41ae.so.11.0", ("cudart", 11)),  # vendored by auditwheel
        ("libcudnn.so.9", ("cudnn", 9)),
        ("libcufft.so.11", ("cufft", 11)),
        ("libcuda.so.1", None),  # the driver, not the toolkit
        ("libc.so.6", None),
    ],
)
def test_cuda_link(soname: str, expected: tuple[str, int] | None) -> None:
    assert cuda_link(soname) == expected


@pytest.mark.parametrize(
    ("name", "spec", "expected"),
    [
        ("nvidia-cuda-runtime-cu12", "<13,>=12.6", (12, None)),
        ("nvidia_curand_cu12", ">=10.3.7", (12, None)),
        ("nvidia-cuda-runtime", "~=13.0", (13, None)),  # CUDA 13 wheels drop the suffix
        ("nvidia-cufft", "~=12.0", (None, None)),  # cuFFT's own major, not CUDA's
        ("nvidia-cudnn-cu13", "~=9.0", (13, 9)),
        ("numpy", ">=1.25", (None, None)),
    ],
)
def test_wheel_cuda_major(name: str, spec: str, expected: tuple[int | None, int | None]) -> None:
    assert wheel_cuda_major(name, spec) == expected


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    libs: dict[str, list[str]],
    requires: list[str],
    build_cuda: str = "",
) -> Path:
    path = directory / f"{name.replace('-', '_')}-{version}-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, needed in libs.items():
            archive.writestr(member, make_elf(needed))
        archive.writestr("pkg/__init__.py", "")
        if build_cuda:
            archive.writestr("pkg/capi/build_and_package_info.py", f"cuda_version = '{build_cuda}'\n")
        metadata = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
        archive.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", "\n".join(metadata) + "\n")
    return path


def test_inspect_wheel_reads_links_metadata_and_build(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "onnxruntime-gpu",
        "1.31.1",
        {"pkg/capi/libprov.so": ["libcublas.so.13", "libcudart.so.13", "libcurand.so.10", "libc.so.6"]},
        [
            "numpy>=1.21",
            'nvidia-cuda-runtime~=13.0; extra == "cuda"',
            'nvidia-cudnn-cu13~=9.0; extra == "cudnn"',
        ],
        build_cuda="13.0",
    )
    report = inspect_wheel(wheel)
    assert (report.name, report.version) == ("onnxruntime-gpu", "1.31.1")
    assert report.links == {"pkg/capi/libprov.so": ["libcublas.so.13", "libcudart.so.13", "libcurand.so.10"]}
    assert report.cuda_majors == [13] and report.cudnn_majors == [] and report.build_cuda == "13.0"
    assert [r["installed"] for r in report.requires] == [False, False]  # extras not asked for
    with_extra = inspect_wheel(wheel, extras=["cudnn"])
    assert with_extra.cudnn_majors == [9]


def gpu_wheel(
    name: str, cuda: list[int], cudnn: list[int] | None = None, build: str | None = None
) -> WheelReport:
    return WheelReport(
        name=name,
        version="1",
        file=f"{name}.whl",
        cuda_majors=cuda,
        cudnn_majors=cudnn or [],
        build_cuda=build,
    )


IMAGE_12 = BaseImage("nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04", "12.8.1", 9, True)


def test_agreeing_stack_has_no_problems() -> None:
    wheels = [gpu_wheel("onnxruntime-gpu", [12], [9], "12.8"), gpu_wheel("faiss-gpu", [12])]
    assert find_problems(wheels, IMAGE_12) == []
    assert find_problems([*wheels, WheelReport("numpy", "2", "numpy.whl")], None) == []


def test_the_broken_stack_of_the_issue_is_named() -> None:
    """onnxruntime-gpu 1.31.1 (CUDA 13) beside faiss-gpu (CUDA 12) on a CUDA 12.4 image."""
    wheels = [gpu_wheel("onnxruntime-gpu", [13], [9], "13.0"), gpu_wheel("faiss-gpu", [12])]
    image = BaseImage("nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04", "12.4.1", 9, True)
    problems = find_problems(wheels, image)
    assert any("disagree on the CUDA major" in p for p in problems)
    assert any(p.startswith("onnxruntime-gpu 1 needs CUDA 13") and "12.4.1" in p for p in problems)
    assert not any(p.startswith("faiss-gpu") for p in problems)


@pytest.mark.parametrize(
    ("wheel", "image", "fragment"),
    [
        (
            gpu_wheel("ort", [12], [9]),
            BaseImage("nvidia/cuda:12.2.2-cudnn8-runtime", "12.2.2", 8, True),
            "cuDNN 8",
        ),
        (
            gpu_wheel("ort", [12], [9]),
            BaseImage("nvidia/cuda:12.8.1-runtime", "12.8.1", None, False),
            "no cuDNN",
        ),
        (
            gpu_wheel("ort", [12], [], "12.8"),
            BaseImage("nvidia/cuda:12.4.1-runtime", "12.4.1", None, False),
            "newer",
        ),
        (gpu_wheel("ort", [12, 13]), None, "mixes CUDA majors"),
        (gpu_wheel("ort", [12]), BaseImage("python:3.11-slim", None, None, False), "not nvidia/cuda"),
    ],
)
def test_each_mismatch_is_reported(wheel: WheelReport, image: BaseImage | None, fragment: str) -> None:
    problems = find_problems([wheel], image)
    assert len(problems) == 1 and fragment in problems[0]


def test_read_base_image(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG CUDA=12.2.2\nFROM python:3.11 AS build\nRUN true\n"
        'FROM nvidia/cuda:${CUDA}-cudnn8-runtime-ubuntu22.04\nCMD ["x"]\n'
    )
    image = read_base_image(dockerfile)
    assert (image.cuda_version, image.cuda_major, image.cudnn_major) == ("12.2.2", 12, 8)
    dockerfile.write_text("FROM nvcr.io/nvidia/cuda:13.0.1-runtime-ubuntu24.04\n")
    image = read_base_image(dockerfile)
    assert (image.cuda_major, image.has_cudnn) == (13, False)
    dockerfile.write_text("FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04\n")
    assert read_base_image(dockerfile).cudnn_major == 9  # unnumbered cudnn tags carry cuDNN 9


def test_command_exits_nonzero_on_a_mismatch_and_zero_when_aligned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ort13 = make_wheel(tmp_path, "onnxruntime-gpu", "1.31.1", {"o/libp.so": ["libcudart.so.13"]}, [])
    ort12 = make_wheel(
        tmp_path, "onnxruntime-gpu", "1.26.0", {"o/libp.so": ["libcudart.so.12", "libcudnn.so.9"]}, []
    )
    faiss = make_wheel(
        tmp_path,
        "faiss-gpu",
        "1.15.1",
        {"faiss/libfaiss.so": ["libcublas.so.12"]},
        ["nvidia-cuda-runtime-cu12>=12.6"],
    )
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04\n")
    common = ["--dockerfile", str(dockerfile), "--wheel", str(faiss), "--wheel"]
    assert main([*common, str(ort13)]) == 1
    assert "MISMATCH: the GPU wheels disagree on the CUDA major" in capsys.readouterr().out
    assert main([*common, str(ort12), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["base_image"]["cuda_major"] == 12
    assert {w["name"]: w["cuda_majors"] for w in report["wheels"]} == {
        "faiss-gpu": [12],
        "onnxruntime-gpu": [12],
    }


def test_the_repository_pins_one_cuda_major() -> None:
    """The gpu extra pins exact versions (a range drifts to a new CUDA major) and the image is CUDA 12."""
    requirements = gpu_requirements(REPO / "pyproject.toml", "gpu")
    assert requirements and all("==" in r for r in requirements)
    image = read_base_image(REPO / "Dockerfile")
    assert image.cuda_major == 12 and image.cudnn_major == 9
    flags = platform_flags("3.11", "2.35", "x86_64")
    assert {"manylinux_2_35_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64"} <= set(flags)
