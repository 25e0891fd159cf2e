"""The label-efficiency plot of docs/RESULTS.md from its result JSONs (docs/results/raw/issue16/):
test top-1 against labelled clips per class, one panel per dataset.
Usage: python bench/plot_label_efficiency.py [--out docs/results/label_efficiency.png]"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RAW = Path("docs/results/raw/issue16")
DATASETS = {"msr_action3d": ("MSR Action3D", 14.55), "utd_mhad": ("UTD-MHAD", 16.0)}  # all = mean per class
SHOTS = (1, 2, 5, 10)


def top1(path: Path, stream: str = "joint") -> float:
    return 100 * json.loads(path.read_text())["metrics"]["summary"][stream]["top1_mean"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/results/label_efficiency.png"))
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(DATASETS), figsize=(9, 3.5))
    for ax, (name, (title, all_shots)) in zip(axes, DATASETS.items(), strict=True):
        xs = [*SHOTS, all_shots]
        ys = [top1(RAW / f"{name}_supervised_joint_k{k}.json") for k in SHOTS]
        ys.append(top1(RAW / f"{name}_supervised_joint.json"))
        ax.plot(xs, ys, "o-", label="supervised from scratch (joint)")
        ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([*(str(k) for k in SHOTS), "all"])
        ax.set(xlabel="labelled clips per class", ylabel="test top-1 (%)", title=title, ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("Label efficiency, cross-subject, seed 0 (VCL / SkeletonCLR not yet measured)", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
