"""The label-efficiency and pretraining learning-curve plots of docs/RESULTS.md from the result
JSONs kept under docs/results/raw/issue16/ (``label/`` from bench/label_efficiency.sh, ``ssl/`` from
bench/ssl_study.sh): test top-1 against labelled clips per class, one panel per dataset, one line
per method (mean over the seeds present, bars = min..max); and the fused linear probe of every
kept pretraining checkpoint against the ridge floor.
Usage: python bench/plot_label_efficiency.py [--out docs/results]"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

RAW = Path("docs/results/raw/issue16")
DATASETS = {"msr_action3d": ("MSR Action3D", 14.55, 53.5), "utd_mhad": ("UTD-MHAD", 16.0, 81.6)}
METHODS = {"vcl": "VCL pretrained", "skeletonclr": "SkeletonCLR pretrained", "supervised": "from scratch"}
COLORS = {"vcl": "tab:blue", "skeletonclr": "tab:orange", "supervised": "tab:green"}
SHOTS = (1, 2, 5, 10)


def top1(path: Path, stream: str) -> float:
    return 100 * json.loads(path.read_text())["metrics"]["summary"][stream]["top1_mean"]


def label_panel(ax: plt.Axes, name: str, title: str, all_shots: float) -> None:
    xs = [*SHOTS, all_shots]
    for method, label in METHODS.items():
        points = []
        for k in [*(str(s) for s in SHOTS), "all"]:
            files = sorted(
                (RAW / "label").glob(f"{name}_{method}_joint_{'k' + k if k != 'all' else k}_s*.json")
            )
            points.append([top1(f, "joint") for f in files])
        if not any(points):
            continue
        xs_m = [x for x, p in zip(xs, points, strict=True) if p]
        mean = [float(np.mean(p)) for p in points if p]
        low = [m - min(p) for m, p in zip(mean, [p for p in points if p], strict=True)]
        high = [max(p) - m for m, p in zip(mean, [p for p in points if p], strict=True)]
        seeds = max(len(p) for p in points)
        ax.errorbar(
            xs_m,
            mean,
            yerr=[low, high],
            fmt="o-",
            capsize=3,
            color=COLORS[method],
            label=f"{label} ({seeds} seed(s))",
        )
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([*(str(k) for k in SHOTS), "all"])
    ax.set(
        xlabel="labelled clips per class", ylabel="test top-1 (%), joint stream", title=title, ylim=(0, 100)
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)


def curve_panel(ax: plt.Axes, name: str, title: str, floor: float) -> None:
    for method in ("vcl", "skeletonclr"):
        files = sorted((RAW / "ssl").glob(f"{name}_{method}_linear_epoch_*.json"))
        if not files:
            continue
        epochs = [int(re.search(r"epoch_(\d+)", f.name).group(1)) for f in files]  # type: ignore[union-attr]
        values = [top1(f, "fused") for f in files]
        start = RAW / "ssl" / f"{name}_random_linear_last.json"  # the untrained encoder: epoch 0
        if start.is_file():
            epochs, values = [0, *epochs], [top1(start, "fused"), *values]
        ax.plot(epochs, values, "o-", color=COLORS[method], label=METHODS[method].split()[0])
    ax.axhline(floor, color="k", ls="--", lw=1, label=f"ridge floor {floor}")
    ax.set(xlabel="pretraining epoch", ylabel="fused linear probe top-1 (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)


def print_table() -> None:
    """The label-efficiency table as markdown: mean (and min..max with several seeds) per cell."""
    print("| dataset | method | " + " | ".join([*(str(k) for k in SHOTS), "all"]) + " |")
    print("| --- | --- |" + " --- |" * (len(SHOTS) + 1))
    for name, (title, _, _) in DATASETS.items():
        for method, label in METHODS.items():
            cells = []
            for k in [*(f"k{s}" for s in SHOTS), "all"]:
                values = [
                    top1(f, "joint")
                    for f in sorted((RAW / "label").glob(f"{name}_{method}_joint_{k}_s*.json"))
                ]
                spread = f" ({min(values):.1f}-{max(values):.1f})" if len(values) > 1 else ""
                cells.append(f"{np.mean(values):.1f}{spread}" if values else "—")
            print(f"| {title} | {label} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--table", action="store_true", help="also print the label-efficiency table")
    args = parser.parse_args()
    if args.table:
        print_table()
    for plot, file in (("label", "label_efficiency.png"), ("curve", "ssl_learning_curve.png")):
        fig, axes = plt.subplots(1, len(DATASETS), figsize=(9, 3.6))
        for ax, (name, (title, all_shots, floor)) in zip(axes, DATASETS.items(), strict=True):
            if plot == "label":
                label_panel(ax, name, title, all_shots)
            else:
                curve_panel(ax, name, title, floor)
        fig.suptitle(
            "Semi-supervised fine-tuning, cross-subject" if plot == "label" else "CPU-scale pretraining",
            fontsize=9,
        )
        fig.tight_layout()
        fig.savefig(args.out / file, dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    main()
