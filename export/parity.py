"""The parity check of an export: ONNX Runtime against PyTorch (eval mode) on fixture clips.

At every batch size asked for (``PARITY_BATCHES`` and the maximum): the largest absolute error of
every output, identical argmax of every logit output and their softmax probabilities within
``PROB_TOLERANCE``; class activation maps (``cam``, ``<stream>_cam``) within the tolerance or
the error of the logits they sum to, and ONNX Runtime's own ``cam`` summing to its fused logits
minus the fused bias (``sum_identity_error``, recorded); then identical top-10 neighbours of every
fixture clip among the others by the retrieval embedding (a swap between clips whose similarities
tie within the measured float32 rounding, at least 1e-5 and at most ``MAX_TIE``, is tolerated and
recorded). The record goes into
the manifest; ``export.onnx_export`` refuses the export when it does not pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from export.graph import ExportGraph
from runtime.model import OnnxModel
from runtime.scores import softmax

PARITY_BATCHES = (1, 2, 7)
PROB_TOLERANCE = 5e-3  # a broken export is off by 0.1 or more; float32 rounding by < 1e-3
# The centred embedding amplifies the rounding of mu (~1e-6) by ||mu|| / ||mu - c||: the demo model's
# embeddings differ by up to 4.7e-4 with identical neighbours; the neighbour check is what matters.
EMBEDDING_TOLERANCE = 5e-3
MAX_TIE = 1e-2  # similarity differences beyond this are not rounding


def _neighbours(embedding: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Top-k neighbour sets (sorted ids) of every clip among the others, and the similarities."""
    sims = embedding @ embedding.T
    np.fill_diagonal(sims, -np.inf)
    return np.sort(np.argsort(-sims, axis=1, kind="stable")[:, :k], axis=1), sims


def same_neighbours(
    ours: np.ndarray, reference: np.ndarray, k: int = 10, tie: float = 1e-5
) -> tuple[bool, bool]:
    """(identical, identical up to ties): a swap only counts when both clips' reference similarities
    to the query differ from the k-th by more than ``tie`` or than the largest difference between
    the two similarity matrices (the float32 rounding actually measured, at most ``MAX_TIE``)."""
    got, ours_sims = _neighbours(ours, k)
    want, sims = _neighbours(reference, k)
    finite = np.isfinite(sims)
    measured = float(np.abs(ours_sims[finite] - sims[finite]).max()) if finite.any() else 0.0
    tie = max(tie, min(measured, MAX_TIE))
    identical = bool((got == want).all())
    equivalent = True
    for q in np.flatnonzero((got != want).any(axis=1)):
        kth = np.sort(sims[q])[::-1][k - 1]
        swapped = np.setxor1d(got[q], want[q])
        equivalent &= bool((np.abs(sims[q, swapped] - kth) <= tie).all())
    return identical, equivalent


def _cam_check(name: str, got: dict[str, np.ndarray], errors: dict[str, float], bound: float) -> bool:
    """A class activation map passes within ``bound`` (tolerance x scale) or within the max error
    of the logits it sums to: its entries add up to them, so rounding that the logits' own check
    accepts may show in each entry (a broken map is off by the size of its entries)."""
    logits = "fused_logits" if name == "cam" else name.replace("_cam", "_logits")
    return errors[name] <= max(bound, errors[logits]) and bool(np.isfinite(got[name]).all())


def check_parity(
    graph: ExportGraph, runtime: OnnxModel, joints: np.ndarray, batches: tuple[int, ...], tolerance: float
) -> dict[str, Any]:
    """Compare ONNX Runtime with PyTorch; returns the record (``passed`` says whether it holds).

    Features, mu and sigma pass when their max abs error is within ``tolerance * max(1, max
    |output|)``; the centred embedding within ``EMBEDDING_TOLERANCE`` and by its neighbours
    (below). Logits pass when their argmax is identical and their softmax probabilities are within
    ``PROB_TOLERANCE``: a linear probe fitted on standardised features multiplies the features'
    float32 rounding by 1/std (the demo model's logits are up to 3.4e-3 apart, their probabilities
    up to 5.2e-4); the logits' own error is recorded."""
    names = graph.all_names
    record: dict[str, Any] = {"tolerance": tolerance, "batches": {}, "passed": True}
    for b in batches:
        x = joints[np.arange(b) % len(joints)]
        with torch.no_grad():
            expected = [t.numpy() for t in graph(torch.from_numpy(x))]
        got = runtime.run(x, outputs=names)
        errors = {n: float(np.abs(got[n] - e).max()) for n, e in zip(names, expected, strict=True)}
        scales = {n: max(1.0, float(np.abs(e).max())) for n, e in zip(names, expected, strict=True)}
        probs = {
            n: float(np.abs(softmax(got[n]) - softmax(e)).max())
            for n, e in zip(names, expected, strict=True)
            if n.endswith("logits")
        }
        argmax = {
            n: bool((got[n].argmax(1) == e.argmax(1)).all())
            for n, e in zip(names, expected, strict=True)
            if n.endswith("logits")
        }
        cams: dict[str, bool | float] = {
            n: _cam_check(n, got, errors, scales[n] * tolerance) for n in graph.explain_names
        }
        if cams:
            bias = graph.fused_bias().numpy()
            identity = got["cam"].sum(axis=(2, 3)) + bias - got["fused_logits"]
            cams["sum_identity_error"] = float(np.abs(identity).max())
        ok = (
            all(
                v <= tolerance * scales[n]
                for n, v in errors.items()
                if n not in probs and n != "embedding" and n not in cams
            )
            and all(cams.get(n, True) for n in graph.explain_names)
            and errors["embedding"] <= max(tolerance, EMBEDDING_TOLERANCE)
            and all(v <= PROB_TOLERANCE for v in probs.values())
            and all(argmax.values())
        )
        record["batches"][str(b)] = {
            "max_abs_error": errors,
            "scale": scales,
            "max_prob_error": probs,
            "argmax_identical": argmax,
            "cam_within": cams,
            "passed": ok,
        }
        record["passed"] &= ok
    with torch.no_grad():
        reference = graph(torch.from_numpy(joints))[names.index("embedding")].numpy()
    identical, equivalent = same_neighbours(runtime.run(joints)["embedding"], reference)
    record["top10_neighbours_identical"] = identical
    record["top10_neighbours_identical_up_to_ties"] = equivalent
    record["gallery_size"] = len(joints)
    record["passed"] &= equivalent
    return record
