"""bfloat16 on the CPU: when to use it, decided at run time.

oneDNN runs bf16 convolutions and matmuls with native instructions only where the processor has
them (AVX-512 BF16, or AMX); elsewhere it emulates them, slower than float32. ``cpu_precision``
resolves ``run.precision`` (``auto``, ``bf16`` or ``fp32``) for a CPU run: ``auto`` picks bf16
exactly when the flags are there, ``bf16`` forces it (and says so when it will be emulated).
Under bf16 autocast the encoders compute in bfloat16 and their outputs are cast back to float32
before the loss (``train.moco``): InfoNCE against 32768 queued keys in bf16 would round its logits
to 3 significant digits. Measured and guarded in docs/training.md.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import torch

log = logging.getLogger("vcl.train")
PRECISIONS = ("auto", "bf16", "fp32")


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU flags include avx512_bf16 or amx_bf16 (Linux; False where unreadable)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_precision(name: str) -> torch.dtype | None:
    """The autocast dtype for a CPU run (None: float32)."""
    if name not in PRECISIONS:
        raise ValueError(f"run.precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    native = cpu_has_native_bf16()
    if name == "fp32" or (name == "auto" and not native):
        return None
    if not native:
        log.warning("run.precision bf16: this CPU has no native bf16 (avx512_bf16 / amx); it is emulated")
    return torch.bfloat16


def autocast(dtype: torch.dtype | None, device_type: str = "cpu") -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype``, or nothing when None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype)
