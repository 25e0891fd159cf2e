"""``vcl report``: Markdown tables and PNG plots from ``vcl eval`` results.

Writes ``report.md`` and, when the inputs allow:
- ``label_fraction.png``: fused top-1 against the fraction of labels (semi-supervised runs, and
  fine-tuning as 100%), one line per method (VCL, SkeletonCLR, supervised);
- ``embedding_tsne.png``: t-SNE of the fused mu embedding of the test clips, coloured by class;
- ``uncertainty_hist.png``: the sigma score of correctly and wrongly classified clips;
- ``risk_coverage.png``: error rate among the most certain clips, sigma score vs softmax.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import VclError
from train.uncertainty import risk_coverage


class ReportError(VclError):
    """The inputs of a report are unreadable or hold no ``vcl eval`` result."""


def load_results(paths: list[Path]) -> list[dict[str, Any]]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    results = []
    for file in files:
        try:
            data = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ReportError(f"{file}: not a readable result ({err})") from None
        if isinstance(data, dict) and "protocol" in data and "metrics" in data:
            data["_file"] = file
            results.append(data)
    if not results:
        raise ReportError(f"no vcl eval results among {', '.join(map(str, paths))}")
    return results


def describe(result: dict[str, Any]) -> str:
    c = result["config"]
    if result["protocol"] == "semi":
        return f"semi {100 * c['label_fraction']:g}% ({c['sampling']})"
    if result["protocol"] == "linear":
        return f"linear ({c['recipe']})"
    if result["protocol"] == "knn":
        return f"kNN k={c['k']} ({c['knn_on']})"
    if result["protocol"] == "ridge":
        return "ridge on raw coordinates"
    return "finetune" + (" from scratch" if c["from_scratch"] else "")


def _cell(summary: dict[str, Any], name: str, metric: str = "top1") -> str:
    if name not in summary or f"{metric}_mean" not in summary[name]:
        return "–"
    mean, std = 100 * summary[name][f"{metric}_mean"], 100 * summary[name][f"{metric}_std"]
    return f"{mean:.1f} ± {std:.1f}" if std > 0 else f"{mean:.1f}"


def accuracy_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | method | protocol | seeds | joint | bone | motion | fused top-1 | fused top-5 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(results, key=lambda r: (r["dataset"]["dataset"], r["method"], describe(r))):
        s = r["metrics"]["summary"]
        lines.append(
            f"| {r['dataset']['dataset']} | {r['method']} | {describe(r)} | {len(r['metrics']['seeds'])} | "
            f"{_cell(s, 'joint')} | {_cell(s, 'bone')} | {_cell(s, 'motion')} | {_cell(s, 'fused')} | "
            f"{_cell(s, 'fused', 'top5')} |"
        )
    return "\n".join(lines)


def uncertainty_table(results: list[dict[str, Any]]) -> str:
    rows = [r for r in results if "uncertainty" in r]
    if not rows:
        return ""
    lines = [
        "| dataset | method | errors | AUROC sigma | AUROC softmax | score clean | noise | drop | trunc. |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        u = r["uncertainty"]
        c = u["score_corrupted"]
        lines.append(
            f"| {r['dataset']['dataset']} | {r['method']} | {100 * u['error_rate']:.1f}% | "
            f"{u['auroc_sigma']:.3f} | {u['auroc_softmax']:.3f} | {u['score_clean']:.3f} | "
            f"{c['noise']:.3f} | {c['drop']:.3f} | {c['truncate']:.3f} |"
        )
    return "\n".join(lines)


def write_report(paths: list[Path], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = load_results(paths)
    out.mkdir(parents=True, exist_ok=True)
    sections = [
        "# Evaluation report",
        "",
        "Top-1 / top-5 in %, mean ± std over seeds.",
        "",
        accuracy_table(results),
    ]
    table = uncertainty_table(results)
    if table:
        sections += [
            "",
            "## Uncertainty",
            "",
            "Score: mean log sigma² over latent dimensions and streams. AUROC: how well it ranks the "
            "fused linear prediction's errors above its correct answers (0.5 = chance); softmax is "
            "1 − max probability. Corrupted columns: the mean score on the same test clips with 5 cm "
            "joint noise, 30% of joints dropped, or only 40% of the frames kept.",
            "",
            table,
        ]

    curves: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in results:
        if r["protocol"] in ("semi", "finetune"):
            fraction = r["config"]["label_fraction"] if r["protocol"] == "semi" else 1.0
            method = "supervised" if r["config"]["from_scratch"] else r["method"]
            key = (r["dataset"]["dataset"], method)
            curves.setdefault(key, []).append((fraction, 100 * r["metrics"]["summary"]["fused"]["top1_mean"]))
    if any(len({f for f, _ in points}) > 1 for points in curves.values()):  # a curve needs two fractions
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for (dataset, method), points in sorted(curves.items()):
            points.sort()
            ax.plot(
                [100 * p[0] for p in points], [p[1] for p in points], marker="o", label=f"{dataset} {method}"
            )
        ax.set_xscale("log")
        ax.set_xlabel("labelled fraction of the training set (%)")
        ax.set_ylabel("fused top-1 (%)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "label_fraction.png", dpi=100)
        plt.close(fig)
        sections += ["", "## Accuracy against labelled fraction", "", "![](label_fraction.png)"]

    with_arrays = [r for r in results if "arrays" in r]
    for r in with_arrays[:1]:
        arrays = np.load(Path(r["_file"]).with_suffix(".npz"))
        tag = f"{r['dataset']['dataset']} {r['method']}"
        from sklearn.manifold import TSNE

        points = TSNE(
            n_components=2, init="pca", random_state=0, perplexity=min(30.0, (len(arrays["labels"]) - 1) / 3)
        ).fit_transform(arrays["embedding"])
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(points[:, 0], points[:, 1], c=arrays["labels"], cmap="tab20", s=6)
        ax.set_title(f"t-SNE of the fused mu embedding, test clips ({tag})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(out / "embedding_tsne.png", dpi=100)
        plt.close(fig)

        errors = arrays["errors"].astype(bool)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        bins = np.linspace(arrays["score"].min(), arrays["score"].max(), 30).tolist()
        ax.hist(arrays["score"][~errors], bins=bins, alpha=0.6, label="correct")
        ax.hist(arrays["score"][errors], bins=bins, alpha=0.6, label="wrong")
        ax.set_xlabel("uncertainty score (mean log sigma²)")
        ax.set_ylabel("test clips")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "uncertainty_hist.png", dpi=100)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for name, score in (
            ("sigma score", arrays["score"]),
            ("softmax 1 - max p", arrays["softmax_uncertainty"]),
        ):
            coverage, risk = risk_coverage(score, errors)
            ax.plot(100 * coverage, 100 * risk, label=name)
        ax.set_xlabel("coverage (%), most certain first")
        ax.set_ylabel("error rate among kept clips (%)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "risk_coverage.png", dpi=100)
        plt.close(fig)
        sections += [
            "",
            f"## Embedding and uncertainty ({tag})",
            "",
            "![](embedding_tsne.png)",
            "![](uncertainty_hist.png)",
            "![](risk_coverage.png)",
        ]

    sections += ["", "Sources: " + ", ".join(f"`{Path(r['_file']).name}`" for r in results)]
    path = out / "report.md"
    path.write_text("\n".join(sections) + "\n")
    return path
