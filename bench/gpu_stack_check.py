"""Check that the `gpu` extra's wheels and the Docker base image agree on one CUDA major.

Downloads (never installs) the wheels that pyproject.toml's `gpu` extra asks for, built for CPython
3.11 on Linux x86_64, opens each as a zip and reads the dynamic section (DT_NEEDED) of every shared
library inside with a small ELF reader (pure Python, so it runs on any machine, GPU or not). From the
CUDA libraries a wheel links (libcudart.so.N, libcublas.so.N, libcudnn.so.N, ...), the CUDA wheels
its metadata requires (Requires-Dist: nvidia-cuda-runtime-cu12, ...) and, for ONNX Runtime, the
CUDA version it records it was built with, it names the CUDA and cuDNN majors of each wheel, then
compares them with each other and with the final base image of the Dockerfile
(FROM nvidia/cuda:X.Y.Z-[cudnn-]runtime-...). Any disagreement is printed, one line each, and the
exit status is 1: a CUDA 13 onnxruntime-gpu beside CUDA 12 FAISS and a CUDA 12 image, which would
start and quietly serve on the CPU, cannot come back unnoticed.

Usage:
    python bench/gpu_stack_check.py [--cache DIR] [--json] [--resolve]
    python bench/gpu_stack_check.py --requirement onnxruntime-gpu==1.22.0 --no-dockerfile   # try a pin
    python bench/gpu_stack_check.py --wheel dist/x.whl ...                      # offline, local wheels
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]

# --- ELF: the dynamic section of a shared library --------------------------------------------

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
MAX_PHDRS = 4096  # bounds on every read: a corrupt header must not make us read gigabytes
MAX_DYNAMIC = 1 << 20
MAX_STRTAB = 16 << 20


class ElfError(ValueError):
    """The bytes are not a well-formed ELF shared library (the message names what is wrong)."""


@dataclass(frozen=True)
class DynamicInfo:
    """What the dynamic linker reads: the libraries asked for, the own name, the search path."""

    needed: list[str]
    soname: str | None = None
    runpath: list[str] = field(default_factory=list)


def read_dynamic(stream: IO[bytes]) -> DynamicInfo:
    """DT_NEEDED, DT_SONAME and DT_RPATH/DT_RUNPATH of the ELF file in ``stream`` (ELF32 or ELF64,
    either byte order). Only the header, program headers, dynamic segment and string table are read.

    ``stream`` must be seekable; a zip member is (a backward seek decompresses again from the start).
    """
    ident = _read_at(stream, 0, 16)
    if ident[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (no \\x7fELF magic)")
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise ElfError(f"unknown ELF class {ident[4]} or byte order {ident[5]}")
    wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
    # e_phoff, e_phentsize, e_phnum: offsets differ between ELF32 and ELF64
    header = _read_at(stream, 0, 64 if wide else 52)
    if wide:
        (phoff,) = struct.unpack_from(order + "Q", header, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
        phdr_fmt, dyn_fmt = order + "IIQQQQQQ", order + "qQ"
    else:
        (phoff,) = struct.unpack_from(order + "I", header, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", header, 42)
        phdr_fmt, dyn_fmt = order + "IIIIIIII", order + "iI"
    if phnum > MAX_PHDRS or phentsize < struct.calcsize(phdr_fmt):
        raise ElfError(f"implausible program headers: {phnum} of {phentsize} bytes")
    table = _read_at(stream, phoff, phnum * phentsize)
    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    dynamic: tuple[int, int] | None = None  # (offset, filesz)
    for i in range(phnum):
        fields = struct.unpack_from(phdr_fmt, table, i * phentsize)
        if wide:
            p_type, _, p_offset, p_vaddr, _, p_filesz = fields[:6]
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = fields[:5]
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_filesz, p_offset))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return DynamicInfo(needed=[])  # statically linked: nothing to load
    if dynamic[1] > MAX_DYNAMIC:
        raise ElfError(f"dynamic segment of {dynamic[1]} bytes exceeds {MAX_DYNAMIC}")
    raw = _read_at(stream, dynamic[0], dynamic[1])
    entries: list[tuple[int, int]] = []
    for tag, value in struct.iter_unpack(dyn_fmt, raw[: len(raw) - len(raw) % struct.calcsize(dyn_fmt)]):
        if tag == DT_NULL:
            break
        entries.append((tag, value))
    values = dict(entries)
    if DT_STRTAB not in values or DT_STRSZ not in values:
        raise ElfError("dynamic section without DT_STRTAB/DT_STRSZ")
    if values[DT_STRSZ] > MAX_STRTAB:
        raise ElfError(f"string table of {values[DT_STRSZ]} bytes exceeds {MAX_STRTAB}")
    strtab_offset = _file_offset(values[DT_STRTAB], loads)
    strings = _read_at(stream, strtab_offset, values[DT_STRSZ])

    def name(offset: int) -> str:
        if offset >= len(strings):
            raise ElfError(f"string offset {offset} outside the {len(strings)}-byte string table")
        end = strings.find(b"\0", offset)
        return strings[offset : end if end >= 0 else len(strings)].decode("utf-8", "replace")

    runpath = [p for tag, v in entries if tag in (DT_RPATH, DT_RUNPATH) for p in name(v).split(":") if p]
    return DynamicInfo(
        needed=[name(v) for tag, v in entries if tag == DT_NEEDED],
        soname=name(values[DT_SONAME]) if DT_SONAME in values else None,
        runpath=runpath,
    )


def _file_offset(vaddr: int, loads: list[tuple[int, int, int]]) -> int:
    for start, size, offset in loads:
        if start <= vaddr < start + size:
            return vaddr - start + offset
    raise ElfError(f"address {vaddr:#x} lies in no loadable segment")


def _read_at(stream: IO[bytes], offset: int, size: int) -> bytes:
    stream.seek(offset)
    data = stream.read(size)
    if len(data) != size:
        raise ElfError(f"truncated: wanted {size} bytes at offset {offset}, got {len(data)}")
    return data


# --- CUDA libraries and CUDA wheels ----------------------------------------------------------

# Libraries whose soname major is the CUDA toolkit major (libcudart.so.12 ships with CUDA 12.x).
# cuFFT, cuRAND, cuSPARSE, cuSOLVER and cuDNN number their own majors (CUDA 12 has libcufft.so.11),
# so they are reported but do not vote on the CUDA major.
TOOLKIT_LIBS = {"cudart", "cublas", "cublasLt", "nvrtc", "nvJitLink"}
CUDA_LIB = re.compile(
    r"^lib(?P<lib>cudart|cublasLt|cublas|nvrtc|nvJitLink|cudnn|cufft|curand|cusparse|cusolver|nccl|nvinfer)"
    r"(?:-[0-9a-f]{8})?\.so(?:\.(?P<major>\d+))?"  # auditwheel renames vendored copies lib-<hash>.so.N
)
NVIDIA_WHEEL = re.compile(r"^nvidia-(?P<part>[a-z0-9-]+?)(?:-cu(?P<cuda>\d+))?$")
TOOLKIT_WHEELS = {"cuda-runtime", "cublas", "cuda-nvrtc", "nvjitlink"}  # unsuffixed: version = CUDA


def cuda_link(soname: str) -> tuple[str, int | None] | None:
    """``libcudart.so.12`` -> ("cudart", 12); None for a library that is not part of CUDA."""
    m = CUDA_LIB.match(soname)
    if m is None:
        return None
    return m["lib"], int(m["major"]) if m["major"] else None


def wheel_cuda_major(name: str, specifier: str) -> tuple[int | None, int | None]:
    """(CUDA major, cuDNN major) an nvidia-* wheel requirement brings, None where it says nothing.

    ``nvidia-cuda-runtime-cu12`` names CUDA 12 in its name; from CUDA 13 on NVIDIA drops the suffix
    and the version says it (``nvidia-cuda-runtime~=13.0``). ``nvidia-cudnn-cu12==9.*`` is cuDNN 9.
    """
    m = NVIDIA_WHEEL.match(canonicalize_name(name))
    if m is None:
        return None, None
    first = re.search(r"\d+", specifier)
    version_major = int(first[0]) if first else None
    if m["cuda"]:
        cuda: int | None = int(m["cuda"])
    else:
        cuda = version_major if m["part"] in TOOLKIT_WHEELS else None
    return cuda, version_major if m["part"] == "cudnn" else None


# --- one wheel -------------------------------------------------------------------------------


@dataclass
class WheelReport:
    """The CUDA a wheel needs: what its libraries link, what its metadata requires."""

    name: str
    version: str
    file: str
    links: dict[str, list[str]] = field(default_factory=dict)  # library in the wheel -> CUDA sonames
    runpath: dict[str, list[str]] = field(default_factory=dict)  # library -> DT_RUNPATH/DT_RPATH
    bundled: list[str] = field(default_factory=list)  # CUDA libraries shipped inside the wheel
    requires: list[dict[str, object]] = field(default_factory=list)  # nvidia-* Requires-Dist
    build_cuda: str | None = None  # the CUDA version the wheel records it was built with
    cuda_majors: list[int] = field(default_factory=list)
    cudnn_majors: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # .so members the ELF reader refused, with why

    @property
    def uses_cuda(self) -> bool:
        return bool(self.cuda_majors or self.cudnn_majors)


def inspect_wheel(path: Path, extras: Iterable[str] = ()) -> WheelReport:
    """Read every shared library and the METADATA of the wheel at ``path``.

    ``extras`` are the wheel's extras the requirement asks for (``onnxruntime-gpu[cuda]``): their
    Requires-Dist count as installed, the others are listed as optional.
    """
    name, version, _, _ = parse_wheel_filename(path.name)
    report = WheelReport(name=str(name), version=str(version), file=path.name)
    cuda: set[int] = set()
    cudnn: set[int] = set()
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            base = member.filename.rsplit("/", 1)[-1]
            if member.filename.endswith("build_and_package_info.py"):
                text = archive.read(member).decode("utf-8", "replace")
                found = re.search(r"^cuda_version\s*=\s*['\"]([\d.]+)['\"]", text, re.M)
                if found:
                    report.build_cuda = found[1]
                    cuda.add(int(found[1].split(".")[0]))
            if not re.search(r"\.so(\.\d+)*$", base) or member.is_dir():
                continue
            if cuda_link(base) is not None:
                report.bundled.append(member.filename)
            with archive.open(member) as stream:
                try:
                    info = read_dynamic(stream)
                except ElfError as err:
                    report.skipped.append(f"{member.filename}: {err}")
                    continue
            linked = [n for n in info.needed if cuda_link(n) is not None]
            if linked:
                report.links[member.filename] = linked
                report.runpath[member.filename] = info.runpath
            for soname in linked:
                lib, major = cuda_link(soname) or ("", None)
                if major is not None and lib in TOOLKIT_LIBS:
                    cuda.add(major)
                elif major is not None and lib == "cudnn":
                    cudnn.add(major)
        metadata = next((m for m in archive.namelist() if m.endswith(".dist-info/METADATA")), None)
        lines = archive.read(metadata).decode("utf-8", "replace").splitlines() if metadata else []
    wanted = {canonicalize_name(e) for e in extras}
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        major, cudnn_major = wheel_cuda_major(req.name, str(req.specifier))
        if major is None and cudnn_major is None:
            continue
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", str(req.marker or ""))
        active = extra is None or canonicalize_name(extra[1]) in wanted
        report.requires.append(
            {
                "requirement": f"{req.name}{req.specifier}",
                "extra": extra[1] if extra else None,
                "installed": active,
                "cuda_major": major,
            }
        )
        if active and major is not None:
            cuda.add(major)
        if active and cudnn_major is not None:
            cudnn.add(cudnn_major)
    report.cuda_majors, report.cudnn_majors = sorted(cuda), sorted(cudnn)
    return report


# --- the base image --------------------------------------------------------------------------


@dataclass
class BaseImage:
    image: str
    cuda_version: str | None  # "12.8.1"; None when the image is not nvidia/cuda
    cudnn_major: int | None  # None: no cuDNN in the image
    has_cudnn: bool

    @property
    def cuda_major(self) -> int | None:
        return int(self.cuda_version.split(".")[0]) if self.cuda_version else None


def read_base_image(dockerfile: Path) -> BaseImage:
    """The final stage's FROM of ``dockerfile``, with ARG defaults substituted.

    NVIDIA's tags: ``12.8.1-cudnn-runtime-ubuntu22.04`` (cuDNN 9: the unnumbered ``cudnn`` tags
    came with cuDNN 9), ``12.2.2-cudnn8-runtime-ubuntu22.04`` (cuDNN 8), ``12.8.1-runtime-...``.
    """
    args: dict[str, str] = {}
    image = None
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].upper() == "ARG" and "=" in words[1]:
            key, value = words[1].split("=", 1)
            args.setdefault(key, value.strip("\"'"))
        elif len(words) >= 2 and words[0].upper() == "FROM":
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), words[1])
    if image is None:
        raise ValueError(f"{dockerfile}: no FROM line")
    m = re.search(r"(?:^|/)nvidia/cuda:(\d+\.\d+(?:\.\d+)?)-(.*)$", image)
    if m is None:
        return BaseImage(image=image, cuda_version=None, cudnn_major=None, has_cudnn=False)
    cudnn = re.search(r"(?:^|-)cudnn(\d*)(?:-|$)", m[2])
    cudnn_major = (int(cudnn[1]) if cudnn[1] else 9) if cudnn else None
    return BaseImage(image=image, cuda_version=m[1], cudnn_major=cudnn_major, has_cudnn=cudnn is not None)


# --- the verdict -----------------------------------------------------------------------------


def find_problems(wheels: list[WheelReport], base: BaseImage | None) -> list[str]:
    """One readable line per disagreement; empty when the stack loads on one CUDA major."""
    problems = []
    gpu = [w for w in wheels if w.uses_cuda]
    for w in gpu:
        if len(w.cuda_majors) > 1:
            problems.append(f"{w.name} {w.version} mixes CUDA majors {w.cuda_majors} ({_evidence(w)})")
    if len({tuple(w.cuda_majors) for w in gpu if w.cuda_majors}) > 1:
        each = "; ".join(f"{w.name} {w.version}: CUDA {'/'.join(map(str, w.cuda_majors))}" for w in gpu)
        problems.append(f"the GPU wheels disagree on the CUDA major ({each})")
    if base is None:
        return problems
    if base.cuda_major is None:
        if gpu:
            problems.append(f"base image {base.image} is not nvidia/cuda: no CUDA version to compare")
        return problems
    for w in gpu:
        wrong = [m for m in w.cuda_majors if m != base.cuda_major]
        if wrong:
            problems.append(
                f"{w.name} {w.version} needs CUDA {'/'.join(map(str, wrong))} but the base image "
                f"{base.image} is CUDA {base.cuda_version} ({_evidence(w)})"
            )
        if not wrong and w.build_cuda and _older(str(base.cuda_version), w.build_cuda):
            problems.append(
                f"{w.name} {w.version} was built with CUDA {w.build_cuda}, newer than the base "
                f"image's CUDA {base.cuda_version}: its libraries may need symbols the image lacks"
            )
        brings_cudnn = any(
            r["installed"] and "cudnn" in str(r["requirement"]) for r in w.requires
        )  # an installed nvidia-cudnn-cuN wheel supplies it instead of the image
        for major in w.cudnn_majors:
            if brings_cudnn:
                continue
            if not base.has_cudnn:
                problems.append(
                    f"{w.name} {w.version} links cuDNN {major} but the base image {base.image} has no cuDNN"
                )
            elif base.cudnn_major != major:
                problems.append(
                    f"{w.name} {w.version} links cuDNN {major} but the base image {base.image} has "
                    f"cuDNN {base.cudnn_major}"
                )
    return problems


def _evidence(w: WheelReport) -> str:
    parts = sorted(
        {s for links in w.links.values() for s in links if (cuda_link(s) or ("",))[0] in TOOLKIT_LIBS}
    )
    parts += [str(r["requirement"]) for r in w.requires if r["installed"] and r["cuda_major"] is not None]
    if w.build_cuda:
        parts.append(f"built with CUDA {w.build_cuda}")
    return ", ".join(parts) or "no CUDA evidence"


def _older(have: str, need: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v.split(".")[:2])

    return key(have) < key(need)


# --- pip: download the wheels, resolve the extra ---------------------------------------------


def gpu_requirements(pyproject: Path, extra: str) -> list[str]:
    data = tomllib.loads(pyproject.read_text())
    extras = data.get("project", {}).get("optional-dependencies", {})
    if extra not in extras:
        raise ValueError(f"{pyproject}: no optional-dependencies extra {extra!r} (have {sorted(extras)})")
    return list(extras[extra])


def platform_flags(python: str, glibc: str, arch: str) -> list[str]:
    """pip flags selecting CPython ``python`` wheels for a Linux with glibc ``glibc`` on ``arch``.

    pip does not widen ``manylinux_2_28`` to the older tags itself, so every one is listed.
    """
    major, minor = (int(x) for x in glibc.split("."))
    flags = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    flags += ["--abi", "cp" + python.replace(".", ""), "--abi", "abi3", "--abi", "none"]
    for m in range(minor, 16, -1):
        flags += ["--platform", f"manylinux_{major}_{m}_{arch}"]
    return flags + ["--platform", f"manylinux2014_{arch}"]


def download(requirement: str, dest: Path, flags: list[str]) -> Path:
    """The wheel pip picks for ``requirement`` (no dependencies), downloaded into ``dest``."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-d",
        str(dest),
    ]
    done = subprocess.run([*cmd, *flags, requirement], capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(line for line in done.stderr.splitlines() if "is ignored" not in line)[-2000:]
        raise RuntimeError(f"pip download {requirement} failed:\n{tail}")
    req = Requirement(requirement)
    candidates = []
    for path in dest.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(path.name)
        if name == canonicalize_name(req.name) and req.specifier.contains(version, prereleases=True):
            candidates.append((version, path))
    if not candidates:
        raise RuntimeError(f"pip download {requirement}: no matching wheel appeared in {dest}")
    return max(candidates)[1]


def resolve(requirements: list[str], flags: list[str]) -> list[dict[str, object]]:
    """What pip installs for ``requirements`` with their dependencies (a dry run on the target
    platform): the nvidia-* packages among them with the CUDA major each names."""
    with tempfile.TemporaryDirectory() as target:
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        cmd += ["--disable-pip-version-check", "--report", "-", "--target", target, *flags, *requirements]
        done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(line for line in done.stderr.splitlines() if "is ignored" not in line)[-2000:]
        raise RuntimeError(f"pip cannot resolve {' '.join(requirements)}:\n{tail}")
    picked = []
    for item in json.loads(done.stdout)["install"]:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        major, _ = wheel_cuda_major(name, version)
        picked.append({"name": name, "version": version, "cuda_major": major})
    return picked


# --- the command -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=REPO / "pyproject.toml")
    parser.add_argument("--extra", default="gpu", help="the optional-dependencies extra to check")
    parser.add_argument(
        "--requirement", action="append", default=[], help="check this instead of the extra (repeatable)"
    )
    parser.add_argument("--wheel", action="append", type=Path, default=[], help="local wheel, no download")
    parser.add_argument("--dockerfile", type=Path, default=REPO / "Dockerfile")
    parser.add_argument("--no-dockerfile", action="store_true", help="compare the wheels only")
    parser.add_argument("--cache", type=Path, help="keep downloaded wheels here (default: a temp dir)")
    parser.add_argument("--python-version", default="3.11")
    parser.add_argument("--glibc", default="2.35", help="the image's glibc (Ubuntu 22.04: 2.35)")
    parser.add_argument("--arch", default="x86_64")
    parser.add_argument("--resolve", action="store_true", help="also resolve the extra with dependencies")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    flags = platform_flags(args.python_version, args.glibc, args.arch)
    requirements = args.requirement or ([] if args.wheel else gpu_requirements(args.pyproject, args.extra))
    wheels: list[WheelReport] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dest = args.cache or Path(tmp)
            dest.mkdir(parents=True, exist_ok=True)
            for path in args.wheel:
                say(f"reading {path.name}")
                wheels.append(inspect_wheel(path))
            for requirement in requirements:
                say(f"downloading {requirement} (CPython {args.python_version}, {args.arch}) into {dest}")
                path = download(requirement, dest, flags)
                say(f"reading {path.name} ({path.stat().st_size / 1e6:.0f} MB)")
                wheels.append(inspect_wheel(path, Requirement(requirement).extras))
        resolved = None
        if args.resolve and requirements:
            say(f"resolving {' '.join(requirements)} with dependencies (pip install --dry-run)")
            resolved = resolve(requirements, flags)
    except (RuntimeError, ValueError, zipfile.BadZipFile, OSError) as err:
        print(f"gpu_stack_check: {err}", file=sys.stderr)
        return 2
    base = None if args.no_dockerfile else read_base_image(args.dockerfile)
    problems = find_problems(wheels, base)
    if resolved is not None:
        chosen = sorted({m for w in wheels for m in w.cuda_majors})
        stray = [p for p in resolved if p["cuda_major"] is not None and p["cuda_major"] not in chosen]
        for p in stray:
            problems.append(
                f"pip resolves {p['name']} {p['version']} (CUDA {p['cuda_major']}) beside CUDA "
                f"{'/'.join(map(str, chosen))} wheels"
            )
    if args.json:
        out = {
            "wheels": [asdict(w) for w in wheels],
            "base_image": None if base is None else {**asdict(base), "cuda_major": base.cuda_major},
            "resolved": resolved,
            "problems": problems,
            "ok": not problems,
        }
        print(json.dumps(out, indent=2))
    else:
        print(render(wheels, base, resolved, problems))
    return 1 if problems else 0


def render(
    wheels: list[WheelReport], base: BaseImage | None, resolved: list[dict] | None, problems: list[str]
) -> str:
    lines = []
    for w in wheels:
        cuda = f"CUDA {'/'.join(map(str, w.cuda_majors))}" if w.cuda_majors else "no CUDA"
        cudnn = f", cuDNN {'/'.join(map(str, w.cudnn_majors))}" if w.cudnn_majors else ""
        built = f", built with CUDA {w.build_cuda}" if w.build_cuda else ""
        lines.append(f"{w.name} {w.version}: {cuda}{cudnn}{built}   [{w.file}]")
        for lib, linked in w.links.items():
            path = f"  (runpath {':'.join(w.runpath[lib])})" if w.runpath.get(lib) else ""
            lines.append(f"    {lib}: {' '.join(linked)}{path}")
        for r in w.requires:
            note = "" if r["installed"] else f"  (only with [{r['extra']}], not asked for)"
            lines.append(f"    requires {r['requirement']}{note}")
        lines += [f"    bundles {b}" for b in w.bundled]
        lines += [f"    unreadable {s}" for s in w.skipped]
    if base is not None:
        if base.cuda_version:
            cudnn = f"cuDNN {base.cudnn_major}" if base.has_cudnn else "no cuDNN"
            lines.append(f"base image {base.image}: CUDA {base.cuda_version}, {cudnn}")
        else:
            lines.append(f"base image {base.image}: not an nvidia/cuda image")
    if resolved is not None:
        cuda_pkgs = [f"{p['name']}=={p['version']}" for p in resolved if p["cuda_major"] is not None]
        lines.append(f"pip resolves {len(resolved)} packages; CUDA ones: {' '.join(cuda_pkgs) or 'none'}")
    if problems:
        lines += [f"MISMATCH: {p}" for p in problems]
    else:
        majors = sorted({m for w in wheels for m in w.cuda_majors})
        where = " and the base image" if base is not None else ""
        lines.append(f"OK: the GPU wheels{where} agree on CUDA {'/'.join(map(str, majors)) or '(none)'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
