"""``EvalConfig``: one evaluation's options (protocol, data, recipe, seeds, label budget), frozen,
with the protocols, optimizers and schedules it accepts and each recipe's default learning rate.
What each protocol does is in ``train.evaluate``; the classifier training in ``train.fitting``."""

from __future__ import annotations

from dataclasses import dataclass

from skeleton.streams import STREAMS

PROTOCOLS = ("linear", "knn", "semi", "finetune")
DEFAULT_LR = {"frozen": 3.0, "official": 6.0, "full": 0.1, "adamw": 0.002}
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("step", "cosine")


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation (the protocols: ``train.evaluate``); ``lr``/``batch_size`` of 0: the default.

    Network training (``semi``, ``finetune``, ``linear`` with ``recipe=official``): ``optimizer``
    ``sgd`` (momentum 0.9) or ``adamw``; ``schedule`` ``step`` (x0.1 at each of ``milestones``,
    in epochs) or ``cosine`` (per step, to 0); ``shear``/``crop_padding_ratio`` augment every
    batch as the pretext views do (``train.augment``; 0 = off); ``dropout`` >= 0 replaces the
    encoder's dropout rate. ``persons`` > 0 keeps only the first that many person slots of every
    clip (1 on single-person data halves the cost; the default keeps the data's M). ``semi`` and
    ``linear`` with ``per_class`` > 0 label that many clips of every class (``semi`` otherwise
    ``label_fraction``; ``linear`` otherwise all).
    """

    protocol: str
    data: str
    model: str = ""
    split: str = "xsub"
    streams: tuple[str, ...] = ()
    fusion: tuple[float, ...] = (0.6, 0.6, 0.4)
    seeds: tuple[int, ...] = (0,)
    recipe: str = "frozen"
    epochs: int = 100
    lr: float = 0.0
    batch_size: int = 0
    milestones: tuple[int, ...] = (80,)
    weight_decay: float = 0.0
    k: int = 20
    knn_on: str = "feature"
    label_fraction: float = 0.1
    sampling: str = "proportion"
    from_scratch: bool = False
    standardize: bool = True
    threads: int = 0
    optimizer: str = "sgd"
    schedule: str = "step"
    shear: float = 0.0
    crop_padding_ratio: int = 0
    dropout: float = -1.0
    persons: int = 0
    per_class: int = 0

    def fusion_weights(self) -> dict[str, float]:
        return dict(zip(STREAMS, self.fusion, strict=True))
