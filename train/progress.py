"""What the pretraining progress bar shows.

The total loss InfoNCE + w * KL rises while the KL weight w ramps up (12.8 -> 21 in the demo),
which reads like divergence; the bar therefore shows its parts: InfoNCE, KL, the weight w and the
positive-pair accuracy (how often the positive key outranks every queued negative), each the mean
over streams.
"""

from __future__ import annotations


def _stream_mean(step_stats: dict[str, float], name: str) -> float | None:
    values = [v for k, v in step_stats.items() if k.endswith(f"/{name}")]
    return sum(values) / len(values) if values else None


def progress_postfix(step_stats: dict[str, float], kl_weight: float) -> dict[str, str]:
    """The bar's fields from one step's ``<stream>/<stat>`` values (``info_nce``, ``kl``,
    ``pos_top1``); ``kl`` and ``w`` only for a variational method (a ``kl`` stat present)."""
    fields = {"nce": f"{_stream_mean(step_stats, 'info_nce') or 0.0:.3f}"}
    kl = _stream_mean(step_stats, "kl")
    if kl is not None:
        fields["kl"] = f"{kl:.3f}"
        fields["w"] = f"{kl_weight:.2f}"
    pos = _stream_mean(step_stats, "pos_top1")
    if pos is not None:
        fields["pos"] = f"{pos:.0%}"
    return fields
