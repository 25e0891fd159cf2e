"""The pretraining progress bar: InfoNCE, KL, the KL weight and positive-pair accuracy apart."""

from __future__ import annotations

from train.progress import progress_postfix


def test_vcl_bar_shows_the_parts_of_the_loss_averaged_over_streams() -> None:
    stats = {
        "loss": 14.0,
        "joint/info_nce": 6.0,
        "bone/info_nce": 7.0,
        "joint/kl": 1.0,
        "bone/kl": 2.0,
        "joint/pos_top1": 0.25,
        "bone/pos_top1": 0.75,
    }
    assert progress_postfix(stats, 0.125) == {"nce": "6.500", "kl": "1.500", "w": "0.12", "pos": "50%"}


def test_skeletonclr_bar_has_no_kl() -> None:
    stats = {"loss": 6.0, "joint/info_nce": 6.0, "joint/pos_top1": 0.1}
    assert progress_postfix(stats, 1.0) == {"nce": "6.000", "pos": "10%"}
