"""Spare eager PyTorch on CPU the glibc page-fault trap.

glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and
returns it with ``munmap`` on free, so each large activation of a training step is page-faulted in
again, every step. At batch 128 an ST-GCN step spends about a third of its time there.
``tune_malloc`` tells glibc to serve large blocks from the heap and to keep freed memory
(``M_MMAP_MAX = 0``, ``M_TRIM_THRESHOLD = 1 GiB``), so the blocks are reused. It is applied by
the ``vcl`` commands that run torch, before torch is imported; ``VCL_MALLOC_TUNING=0`` turns it
off. ``bench/train_throughput.py`` measures the difference.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 1 << 30


def tune_malloc() -> bool:
    """Apply the settings; False when disabled or when the C library is not glibc."""
    if os.environ.get("VCL_MALLOC_TUNING", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
