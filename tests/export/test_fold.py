"""export.fold: the folded, reordered backbone computes what the trained one computes in eval mode."""

from __future__ import annotations

import pytest
import torch

from export.fold import FoldedSTGCN, fold_model
from skeleton.graph import spatial_partition
from skeleton.layouts import NTU
from train.model import MultiStreamModel, build_encoders
from train.stgcn import STGCN


def _randomised(backbone: STGCN) -> STGCN:
    """Non-trivial BatchNorm statistics and affine parameters, edge importances and biases."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in backbone.modules():
            if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean = torch.randn(n, generator=generator) * 0.3
                module.running_var = torch.rand(n, generator=generator) + 0.5
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.2)
        for importance in backbone.edge_importance:
            importance.mul_(torch.rand(importance.shape, generator=generator) + 0.5)
    return backbone.eval()


def test_folded_backbone_matches_eval_mode() -> None:
    torch.manual_seed(0)
    backbone = _randomised(
        STGCN(torch.as_tensor(spatial_partition(NTU)), widths=(8, 16, 16), strides=(1, 2, 1))
    )
    x = torch.randn(3, 3, 20, 25, 2)
    with torch.no_grad():
        expected, got = backbone(x), FoldedSTGCN(backbone)(x)
    assert got.shape == expected.shape == (3, 16)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_channels_last_blocks_compute_the_same_maps() -> None:
    torch.manual_seed(0)
    # identity, strided conv and plain conv residuals all among the channels-last blocks
    backbone = _randomised(
        STGCN(torch.as_tensor(spatial_partition(NTU)), widths=(8, 8, 16, 16), strides=(1, 1, 2, 1))
    )
    x = torch.randn(3, 3, 20, 25, 2)
    with torch.no_grad():
        expected = backbone.forward_maps(x)
        for blocks in (1, 3, 4):
            folded = FoldedSTGCN(backbone, channels_last_blocks=blocks)
            assert [b.channels_last for b in folded.blocks] == [i >= 4 - blocks for i in range(4)]
            got = folded.forward_maps(x)
            assert got.shape == expected.shape == (6, 16, 10, 25)
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="channels_last_blocks 5: the backbone has 4 blocks"):
        FoldedSTGCN(backbone, channels_last_blocks=5)


def test_fold_model_leaves_the_original_alone() -> None:
    encoders = build_encoders(NTU, ["joint", "bone"], "gaussian")
    model = MultiStreamModel(encoders, NTU.parents).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_model(model)
    assert all(isinstance(e.backbone, FoldedSTGCN) for e in folded.encoders.values())
    assert all(isinstance(e.backbone, STGCN) for e in model.encoders.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    x = torch.randn(2, 3, 50, 25, 2)
    with torch.no_grad():
        torch.testing.assert_close(folded(x)["bone"]["mu"], model(x)["bone"]["mu"], atol=1e-5, rtol=1e-5)
