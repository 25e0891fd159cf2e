"""``vcl demo``: the whole pipeline on the built-in synthetic dataset, ready to serve.

1. generate and prepare the synthetic dataset (vcl-official pipeline);
2. fit a ridge classifier on raw preprocessed coordinates: the floor learned encoders must beat;
3. pretrain a small three-stream VCL model on CPU (skipped when the run already exists);
4. linear probes on its frozen pooled features, per stream and fused 0.6/0.6/0.4; the probes
   become the model's classifiers (``vcl/classifier`` checkpoint);
5. draw one clip per class and the accuracies;
6. export the classifier model to ONNX (``model/``), index every clip (``index/``) and write one
   held-out clip file per class (``samples/``, the server's data root).

Every step reuses what an earlier run left. ``make demo`` then runs ``vcl serve`` on it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from skeleton.layouts import get_layout
from skeleton.prepare import prepare_dataset
from skeleton.prepared import PreparedDataset

# The demo's training budget (configs/synthetic.yaml with fewer epochs): ~4 minutes on 2 cores.
DEMO_TRAINING = [
    "optim.epochs=3",
    "optim.batch_size=64",
    "loss.queue_size=512",
    "loss.momentum=0.9",  # 27 steps in all (train.run_log.momentum_warning); 0.999: same within noise
    "loss.kl_anneal_epochs=20",
    "model.logvar_bias=-4.0",
    "run.monitor_every=3",
    "run.checkpoint_every=3",
]


def add_demo_command(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="run the pipeline on the built-in synthetic dataset")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--num-samples", type=int, default=1200)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--epochs", type=int, default=3, help="pretraining epochs")
    demo.set_defaults(func=run_demo)


def ridge_accuracy(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    alpha: float = 1.0,
) -> float:
    """Top-1 accuracy of a ridge classifier (one-hot least squares) on flattened features (N, D)."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mean) / std, (x_test - mean) / std
    targets = np.eye(num_classes)[y_train]
    weights = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ targets)
    return float(((b @ weights).argmax(1) == y_test).mean())


def run_demo(args: argparse.Namespace) -> int:
    from train.allocator import tune_malloc

    tune_malloc()
    out: Path = args.out
    data_dir = out / "synthetic"
    if (data_dir / "manifest.json").is_file():
        print(f"using the prepared synthetic dataset in {data_dir}")
    else:
        print(f"generating {args.num_samples} synthetic clips and preparing them into {data_dir}")
        prepare_dataset("synthetic", None, data_dir, num_samples=args.num_samples, seed=args.seed)
    dataset = PreparedDataset(data_dir)
    print(json.dumps(dataset.summary(), indent=1))

    train_idx, test_idx = dataset.split("xsub", "train"), dataset.split("xsub", "test")
    labels = dataset.labels
    num_classes = dataset.manifest["num_classes"]
    feats = np.asarray(dataset.joints[:, :, ::2, :, 0]).reshape(len(dataset), -1)
    floor = ridge_accuracy(
        feats[train_idx], labels[train_idx], feats[test_idx], labels[test_idx], num_classes
    )
    print(
        f"ridge classifier on raw coordinates, cross-subject: top-1 {floor:.1%} "
        f"(chance {1 / num_classes:.1%})"
    )

    accuracies = pretrain_and_probe(data_dir, out / "vcl", args.epochs, args.seed)
    accuracies = {"ridge floor": floor, **accuracies}
    (out / "results.json").write_text(json.dumps(accuracies, indent=1) + "\n")
    figure = draw(dataset, accuracies, out / "demo.png")
    print(f"one clip per class and the accuracies drawn in {figure}; numbers in {out / 'results.json'}")
    export_index_and_samples(out, data_dir, args.seed)
    print(
        f"ready to serve: vcl serve --model {out / 'model'} --index {out / 'index'} "
        f"--data-root {out / 'samples'}"
    )
    return 0


def export_index_and_samples(out: Path, data_dir: Path, seed: int) -> None:
    """Export the classifier checkpoint, index the prepared clips, write one sample file per class."""
    from export.onnx_export import DEFAULT_PRECISIONS, export_checkpoint
    from index.action_index import ActionIndex
    from index.build import from_prepared
    from runtime.model import OnnxModel
    from skeleton.readers.npz import write_npz
    from skeleton.synthetic import SYNTHETIC_CLASSES, synthetic_clip

    model_dir, index_dir, samples = out / "model", out / "index", out / "samples"
    if (model_dir / "manifest.json").is_file():
        print(f"using the exported model in {model_dir}")
    else:
        print(f"exporting to ONNX in {model_dir}")
        export_checkpoint(out / "vcl" / "classifier", model_dir, DEFAULT_PRECISIONS, int8_if_guarded=True)
    model = OnnxModel(model_dir, precision="auto")  # the graph vcl serve runs: the index matches it
    if (index_dir / "CURRENT").is_file():
        print(f"using the index in {index_dir}")
    else:
        emb, items = from_prepared(model, data_dir)
        index = ActionIndex.create(index_dir, emb.embedding, items, emb.sigma, model.manifest.model_sha256)
        print(f"indexed {len(items)} clips into {index_dir} ({index.version})")
    samples.mkdir(parents=True, exist_ok=True)
    classes = len(SYNTHETIC_CLASSES)
    for c, name in enumerate(SYNTHETIC_CLASSES):
        path = samples / f"{c:02d}_{name.replace(' ', '_')}.npz"
        if not path.is_file():  # a clip stream the training set never saw (seed + 1000)
            write_npz(path, [synthetic_clip(c + classes, seed=seed + 1000)], list(SYNTHETIC_CLASSES))
    print(f"{classes} held-out sample clips in {samples}")


def pretrain_and_probe(data_dir: Path, run_dir: Path, epochs: int, seed: int) -> dict[str, float]:
    """Pretrain VCL (unless already done), fit linear probes on the cross-subject training split,
    save them as the classifiers of ``run_dir/classifier`` and return top-1 per stream and fused."""
    import torch

    from train.checkpoint import load_checkpoint, save_checkpoint
    from train.config import load_config
    from train.model import DEFAULT_FUSION
    from train.probe import extract_features, linear_probe_layer
    from train.trainer import train

    last = run_dir / "checkpoints" / "last"
    if (last / "meta.json").is_file():
        print(f"using the pretrained model in {last}")
    else:
        print(f"pretraining a three-stream VCL model for {epochs} epochs on CPU into {run_dir}")
        config = load_config(
            None,
            [
                *DEMO_TRAINING,
                f"optim.epochs={epochs}",
                f"data.path={data_dir}",
                f"run.out_dir={run_dir}",
                f"run.seed={seed}",
            ],
        )
        train(config)
    model, meta = load_checkpoint(last)
    dataset = PreparedDataset(data_dir)
    layout = get_layout(meta["layout"])
    train_idx, test_idx = dataset.split("xsub", "train"), dataset.split("xsub", "test")
    labels = torch.from_numpy(dataset.labels)
    num_classes = dataset.manifest["num_classes"]
    gallery = extract_features(model.encoders, dataset.joints[train_idx], layout.parents)
    queries = extract_features(model.encoders, dataset.joints[test_idx], layout.parents)
    accuracies: dict[str, float] = {}
    fused = torch.zeros(len(test_idx), num_classes)
    for stream in model.streams:
        layer = linear_probe_layer(gallery[stream], labels[train_idx], num_classes)
        model.classifiers[stream] = layer
        with torch.no_grad():
            logits = layer(queries[stream])
        accuracies[f"VCL {stream}"] = float((logits.argmax(1) == labels[test_idx]).float().mean())
        fused += DEFAULT_FUSION[stream] * logits
        print(f"linear probe on frozen VCL {stream} features: top-1 {accuracies[f'VCL {stream}']:.1%}")
    accuracies["VCL fused"] = float((fused.argmax(1) == labels[test_idx]).float().mean())
    print(f"three-stream fusion 0.6/0.6/0.4: top-1 {accuracies['VCL fused']:.1%}")
    probe_meta = {
        **meta,
        "num_classes": num_classes,
        "class_names": dataset.class_names,
        "classifier": "linear probe on frozen features (xsub train split)",
    }
    save_checkpoint(run_dir / "classifier", model, probe_meta)
    return accuracies


def draw(dataset: PreparedDataset, accuracies: dict[str, float], path: Path) -> Path:
    """One clip per class (front view, several frames overlaid) and a bar chart of the accuracies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layout = get_layout(dataset.manifest["layout"])
    names = dataset.class_names
    cols = 6
    rows = -(-(len(names) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.8 * rows), squeeze=False)
    for c, name in enumerate(names):
        ax = axes[c // cols][c % cols]
        clip = np.asarray(dataset.joints[int(np.flatnonzero(dataset.labels == c)[0])])  # (3, T, V, M)
        for k, t in enumerate(np.linspace(0, clip.shape[1] - 1, 5).astype(int)):
            for m in range(clip.shape[3]):
                pose = clip[:, t, :, m]
                if pose.any():
                    for a, b in layout.edges:
                        ax.plot(pose[0, [a, b]] + 0.9 * m, pose[2, [a, b]], color=plt.cm.viridis(k / 4), lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
        ax.axis("off")
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    ax = axes[-1][-1]
    ax.axis("on")
    ax.barh(list(accuracies), [100 * v for v in accuracies.values()], color="tab:blue")
    ax.set_xlim(0, 100)
    ax.set_xlabel("cross-subject top-1 (%)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.suptitle("synthetic actions (5 frames each, dark = early) and linear-probe accuracy")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
