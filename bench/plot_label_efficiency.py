"""The label-efficiency and pretraining learning-curve plots of docs/RESULTS.md from the result
JSONs kept under docs/results/raw/issue16/: test top-1 against labelled clips per class, one panel
per dataset, one line per method (mean over the seeds present, bars = min..max), for
semi-supervised fine-tuning (``label_m099/`` from bench/label_efficiency.sh on the momentum-0.99
encoders, the from-scratch lines from ``label/``) and for the three-stream linear probe
(``label_linear/``, bench/linear_per_class.sh, pooled with ``label_linear_s1/``, the encoders of a
second pretraining seed; the ridge floor on the same K clips, bench/ridge_floor.py --per-class);
and the fused linear probe of every kept
pretraining checkpoint against the ridge floor (``ssl/``: the first study, key-encoder momentum
0.999, dashed; ``ssl_m099/``: momentum 0.99, solid; bench/ssl_study.sh; ``pool/``: momentum 0.99
pretrained with the other dataset's clips too, dash-dotted; bench/pool_study.sh; ``init/`` and
``init_frozen/``, ``init_allfrozen/``: VCL (and SkeletonCLR in the last) continued from the
authors' NTU-60 encoders, ``INIT=... bash bench/ssl_study.sh``, each starting at its own ``random``
arm, dotted).
Usage: python bench/plot_label_efficiency.py [--out docs/results] [--table]"""

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
LINEAR = {
    "vcl": "VCL",
    "skeletonclr": "SkeletonCLR",
    "random": "untrained encoder",
    "ridge": "ridge on raw coordinates",
}
COLORS = {
    "vcl": "tab:blue",
    "skeletonclr": "tab:orange",
    "supervised": "tab:green",
    "random": "tab:gray",
    "ridge": "black",
}
STUDIES = {
    "ssl": ("momentum 0.999", "--"),
    "ssl_m099": ("momentum 0.99", "-"),
    "pool": ("0.99, + the other dataset's clips", "-."),
    "init": ("from the authors' NTU-60 encoders", (0, (1, 1))),
    "init_frozen": ("NTU-60 encoders, input BN frozen", (0, (5, 1, 1, 1, 1, 1))),
    "init_allfrozen": ("NTU-60 encoders, every BN frozen", (0, (3, 1))),
}


def semi_files(name: str, method: str, k: str) -> list[Path]:
    """Semi-supervised results of one cell: the momentum-0.99 encoders' when present."""
    pattern = f"{name}_{method}_joint_{k}_s*.json"
    new = sorted((RAW / "label_m099").glob(pattern)) if method != "supervised" else []
    return new or sorted((RAW / "label").glob(pattern))


SHOTS = (1, 2, 5, 10)
LINEAR_STUDIES = ("label_linear", "label_linear_s1")  # pretraining seeds 0 and 1 (ridge: seed 0 only)


def linear_values(name: str, method: str, k: str) -> tuple[list[float], int]:
    """Fused top-1 (%) of every labelled draw of one linear-probe cell, pooled over the pretraining
    seeds present, and how many pretraining seeds that is."""
    values, studies = [], 0
    for study in LINEAR_STUDIES:
        path = RAW / study / f"{name}_{method}_{k}.json"
        if path.is_file():
            values += [100 * r["fused"]["top1"] for r in json.loads(path.read_text())["metrics"]["seeds"]]
            studies += 1
    return values, studies


def top1(path: Path, stream: str) -> float:
    return 100 * json.loads(path.read_text())["metrics"]["summary"][stream]["top1_mean"]


def label_panel(ax: plt.Axes, name: str, title: str, all_shots: float, linear: bool = False) -> None:
    xs = [*SHOTS, all_shots]
    for method, label in (LINEAR if linear else METHODS).items():
        points, pretrained = [], 0
        for k in [*(f"k{s}" for s in SHOTS), "all"]:
            if linear:
                values, studies = linear_values(name, method, k)
                points.append(values)
                pretrained = max(pretrained, studies)
            else:
                points.append([top1(f, "joint") for f in semi_files(name, method, k)])
        if not any(points):
            continue
        kept = [(x, p) for x, p in zip(xs, points, strict=True) if p]
        mean = [float(np.mean(p)) for _, p in kept]
        low = [m - min(p) for m, (_, p) in zip(mean, kept, strict=True)]
        high = [max(p) - m for m, (_, p) in zip(mean, kept, strict=True)]
        seeds = max(len(p) for p in points)
        count = (
            "seed(s)"
            if not linear
            else "draws"
            if method == "ridge"
            else f"draws, {pretrained} pretraining seeds"
        )
        ax.errorbar(
            [x for x, _ in kept],
            mean,
            yerr=[low, high],
            fmt="o-",
            capsize=3,
            color=COLORS[method],
            label=f"{label} ({seeds} {count})",
        )
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([*(str(k) for k in SHOTS), "all"])
    ylabel = "fused linear probe top-1 (%)" if linear else "test top-1 (%), joint stream"
    ax.set(xlabel="labelled clips per class", ylabel=ylabel, title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)


def curve_panel(ax: plt.Axes, name: str, title: str, floor: float) -> None:
    for study, (what, style) in STUDIES.items():
        for method in ("vcl", "skeletonclr"):
            files = sorted((RAW / study).glob(f"{name}_{method}_linear_epoch_*.json"))
            if not files:
                continue
            epochs = [int(re.search(r"epoch_(\d+)", f.name).group(1)) for f in files]  # type: ignore[union-attr]
            values = [top1(f, "fused") for f in files]
            # epoch 0: the encoder the study starts from (its own `random` arm: the untrained
            # encoder, or the init with this data's BatchNorm statistics)
            start = RAW / study / f"{name}_random_linear_last.json"
            if not start.is_file():
                start = RAW / "ssl" / f"{name}_random_linear_last.json"
            if start.is_file():
                epochs, values = [0, *epochs], [top1(start, "fused"), *values]
            label = f"{METHODS[method].split()[0]}, {what}"
            ax.plot(epochs, values, "o", ls=style, color=COLORS[method], label=label)
    ax.axhline(floor, color="k", ls=":", lw=1, label="ridge floor (raw coordinates)")
    ax.annotate(f"{floor}", (0, floor), xytext=(2, 2), textcoords="offset points", fontsize=7)
    ax.set(xlabel="pretraining epoch", ylabel="fused linear probe top-1 (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)


def print_table() -> None:
    """The label-efficiency tables as markdown: mean (and min..max with several seeds) per cell."""
    print("| dataset | method | " + " | ".join([*(str(k) for k in SHOTS), "all"]) + " |")
    print("| --- | --- |" + " --- |" * (len(SHOTS) + 1))
    for name, (title, _, _) in DATASETS.items():
        for method, label in METHODS.items():
            cells = []
            for k in [*(f"k{s}" for s in SHOTS), "all"]:
                values = [top1(f, "joint") for f in semi_files(name, method, k)]
                spread = f" ({min(values):.1f}-{max(values):.1f})" if len(values) > 1 else ""
                cells.append(f"{np.mean(values):.1f}{spread}" if values else "—")
            print(f"| {title} | {label} | " + " | ".join(cells) + " |")
    print()
    print("| dataset | encoder | " + " | ".join([*(str(k) for k in SHOTS), "all"]) + " |")
    print("| --- | --- |" + " --- |" * (len(SHOTS) + 1))
    for name, (title, _, _) in DATASETS.items():
        for method, label in LINEAR.items():
            cells = []
            for k in [*(f"k{s}" for s in SHOTS), "all"]:
                values, _ = linear_values(name, method, k)
                cells.append(
                    f"{np.mean(values):.1f} ({min(values):.1f}-{max(values):.1f})" if values else "—"
                )
            print(f"| {title} | {label} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--table", action="store_true", help="also print the label-efficiency table")
    args = parser.parse_args()
    if args.table:
        print_table()
    plots = {
        "label": "label_efficiency.png",
        "linear": "label_efficiency_linear.png",
        "curve": "ssl_learning_curve.png",
    }
    titles = {
        "label": "Semi-supervised fine-tuning, cross-subject",
        "linear": "Linear probe on frozen encoders (three streams fused), cross-subject",
        "curve": "CPU-scale pretraining",
    }
    for plot, file in plots.items():
        fig, axes = plt.subplots(1, len(DATASETS), figsize=(9, 3.6))
        for ax, (name, (title, all_shots, floor)) in zip(axes, DATASETS.items(), strict=True):
            if plot == "curve":
                curve_panel(ax, name, title, floor)
            else:
                label_panel(ax, name, title, all_shots, linear=plot == "linear")
        fig.suptitle(titles[plot], fontsize=9)
        fig.tight_layout()
        if plot == "curve":  # one legend under both panels: inside, it would hide the curves
            fig.set_figheight(4.3)
            fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7)
            fig.tight_layout(rect=(0, 0.13, 1, 1))
        fig.savefig(args.out / file, dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    main()
