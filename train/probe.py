"""Quick evaluations of frozen encoders: feature extraction, cosine kNN, a linear probe.

Used by the training monitor and by tests; the full protocols (``vcl eval``) build on these.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from train.model import StreamEncoder
from train.streams import derive_stream


@torch.no_grad()
def extract_features(
    encoders: dict[str, StreamEncoder] | nn.ModuleDict,
    joints: np.ndarray | torch.Tensor,
    parents: tuple[int, ...],
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    key: str = "feature",
    score: bool = False,
) -> dict[str, torch.Tensor]:
    """Per-stream outputs (``feature``: (N, 256), or ``mu``) of joints (N, C, T, V, M), eval mode."""
    out: dict[str, list[torch.Tensor]] = {s: [] for s in encoders}
    modes = {s: e.training for s, e in encoders.items()}
    for e in encoders.values():
        e.eval()
    try:
        for start in range(0, len(joints), batch_size):
            x = torch.as_tensor(np.asarray(joints[start : start + batch_size]), dtype=torch.float32).to(
                device
            )
            for stream, encoder in encoders.items():
                out[stream].append(encoder(derive_stream(x, parents, stream, score))[key].float().cpu())
    finally:
        for s, e in encoders.items():
            e.train(modes[s])
    return {s: torch.cat(v) for s, v in out.items()}


def knn_votes(
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    queries: torch.Tensor,
    k: int = 20,
    num_classes: int | None = None,
    temperature: float = 0.1,
) -> torch.Tensor:
    """(Q, C) cosine-kNN votes, each neighbour weighted exp(sim / temperature), normalised to sum 1
    per query (so streams fuse like logits)."""
    num_classes = num_classes or int(gallery_labels.max()) + 1
    sims = F.normalize(queries, dim=1) @ F.normalize(gallery, dim=1).t()  # (Q, G)
    top, index = sims.topk(min(k, len(gallery)), dim=1)
    votes = torch.zeros(len(queries), num_classes)
    votes.scatter_add_(1, gallery_labels[index], torch.exp(top / temperature))
    return votes / votes.sum(dim=1, keepdim=True)


def knn_predict(
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    queries: torch.Tensor,
    k: int = 20,
    num_classes: int | None = None,
    temperature: float = 0.1,
) -> torch.Tensor:
    """(Q,) labels by cosine kNN with similarity-weighted votes."""
    return knn_votes(gallery, gallery_labels, queries, k, num_classes, temperature).argmax(dim=1)


def knn_accuracy(
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    k: int = 20,
) -> float:
    num_classes = int(max(gallery_labels.max(), query_labels.max())) + 1
    predicted = knn_predict(gallery, gallery_labels, queries, k, num_classes)
    return float((predicted == query_labels).float().mean())


def linear_probe_layer(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    num_classes: int,
    epochs: int = 300,
    lr: float = 0.05,
    seed: int = 0,
) -> nn.Linear:
    """A softmax classifier trained full-batch (Adam) on standardised frozen features (N, D),
    returned as one Linear on the raw features: the standardisation is folded into its weights
    (W' = W / std, b' = b - W' mean), so it can be exported as the model's classifier.

    Each feature's std is floored at the median std over features: a nearly dead channel (after
    ReLU and pooling; the authors' NTU-60 encoders have stds from 1e-4 to 0.08) is then not blown
    up to unit variance, where the classifier would lean on directions that rounding moves. With
    per-feature stds an int8 export lost 24 points of top-1 (authors' encoders + this probe on
    UTD-MHAD) while its features moved by 1-3%; floored, fp32 and int8 agree within a point and
    fp32 gains 1-2 points (docs/export.md)."""
    generator = torch.Generator().manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0)
    std = std.clamp_min(float(std.median().clamp_min(1e-12)))
    a = (train_x - mean) / std
    layer = nn.Linear(a.shape[1], num_classes)
    with torch.no_grad():
        layer.weight.normal_(0, 0.01, generator=generator)
        layer.bias.zero_()
    optimizer = torch.optim.Adam(layer.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(epochs):
        optimizer.zero_grad()
        F.cross_entropy(layer(a), train_y).backward()
        optimizer.step()
    folded = nn.Linear(a.shape[1], num_classes)
    with torch.no_grad():
        folded.weight.copy_(layer.weight / std)
        folded.bias.copy_(layer.bias - folded.weight @ mean)
    return folded


def linear_probe_logits(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    num_classes: int,
    epochs: int = 300,
    lr: float = 0.05,
    seed: int = 0,
) -> torch.Tensor:
    """Test logits (Q, num_classes) of ``linear_probe_layer`` trained on (train_x, train_y)."""
    layer = linear_probe_layer(train_x, train_y, num_classes, epochs, lr, seed)
    with torch.no_grad():
        return layer(test_x)


def linear_probe_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    epochs: int = 300,
    lr: float = 0.05,
    seed: int = 0,
) -> float:
    """Top-1 of ``linear_probe_logits`` on (test_x, test_y)."""
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    logits = linear_probe_logits(train_x, train_y, test_x, num_classes, epochs, lr, seed)
    return float((logits.argmax(1) == test_y).float().mean())


def save_probed_checkpoint(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    rows: np.ndarray | None = None,
    epochs: int = 100,
) -> Path:
    """A pretrained checkpoint with a linear probe per stream (``linear_probe_layer``, fitted on
    the clips of prepared dataset ``data`` at ``rows``, default all) as its classifiers, saved
    to ``out``; what ``vcl export`` needs to serve a pretrained encoder as a classifier."""
    from skeleton.layouts import get_layout
    from skeleton.pipelines import spec_score_channel
    from skeleton.prepared import PreparedDataset
    from train.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(checkpoint)
    dataset = PreparedDataset(data)
    rows = np.arange(len(dataset)) if rows is None else rows
    score = spec_score_channel(dataset.manifest["pipeline"])
    joints = np.asarray(dataset.joints[rows], dtype=np.float32)
    features = extract_features(model.encoders, joints, get_layout(meta["layout"]).parents, score=score)
    labels = torch.from_numpy(dataset.labels[rows])
    num_classes = int(dataset.manifest["num_classes"])
    for stream in model.streams:
        model.classifiers[stream] = linear_probe_layer(features[stream], labels, num_classes, epochs=epochs)
    meta = {**meta, "num_classes": num_classes, "class_names": dataset.class_names}
    return save_checkpoint(out, model, meta)
