"""ST-GCN shapes, torch streams vs numpy, augmentations, the momentum-contrast wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skeleton.graph import spatial_partition
from skeleton.layouts import LAYOUTS, NTU, Layout, get_layout
from skeleton.streams import derive_streams
from train.augment import augment, jitter, mirror_index, rotate, rotation_matrices, shear, temporal_crop
from train.config import LossConfig
from train.losses import KeyQueue
from train.moco import MomentumContrast
from train.model import MultiStreamModel, StreamEncoder
from train.stgcn import STGCN, Dropout, GraphConv, keep_mask, set_aggregate_first
from train.streams import derive_stream


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=list(LAYOUTS))
def test_stgcn_shapes_for_every_layout(layout: Layout) -> None:
    model = STGCN(spatial_partition(layout)).eval()
    x = torch.randn(3, 3, 50, layout.num_joints, 2)
    assert model(x).shape == (3, 256)
    assert model.forward_maps(x).shape == (6, 256, 13, layout.num_joints)  # T: 50 -> 25 -> 13


def test_graph_conv_orders_agree_in_value_and_gradients() -> None:
    # sum_k (W_k x + b_k) A_k computed conv-first and aggregate-first: same output, same gradients
    torch.manual_seed(0)
    conv = GraphConv(5, 7, 3)
    torch.nn.init.uniform_(conv.conv.bias, -1.0, 1.0)  # type: ignore[arg-type]  # the colsum(A_k) term
    x = torch.randn(2, 5, 6, 25)
    adjacency = torch.as_tensor(spatial_partition(NTU)) * torch.rand(3, 25, 25)
    outputs, grads = [], []
    for first in (False, True):
        conv.aggregate_first = first
        a = adjacency.clone().requires_grad_(True)
        out = conv(x, a)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outputs.append(out.detach())
        grads.append([a.grad, conv.conv.weight.grad.clone(), conv.conv.bias.grad.clone()])  # type: ignore[union-attr]
        conv.zero_grad()
    assert outputs[0].shape == (2, 7, 6, 25)
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    for g1, g0 in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(g1, g0, atol=1e-4, rtol=1e-4)
    model = STGCN(spatial_partition(NTU))
    set_aggregate_first(model, False)
    assert not any(m.aggregate_first for m in model.modules() if isinstance(m, GraphConv))


def test_stgcn_parameter_layout_matches_the_official_keys() -> None:
    keys = set(STGCN(spatial_partition(NTU)).state_dict())
    assert {
        "A",
        "data_bn.running_var",
        "edge_importance.9",
        "st_gcn_networks.0.gcn.conv.weight",
        "st_gcn_networks.9.tcn.2.weight",
        "st_gcn_networks.4.residual.1.running_mean",
    } <= keys
    assert not any(k.startswith("st_gcn_networks.0.residual") for k in keys)  # block 0: no residual
    assert not any(k.startswith("st_gcn_networks.5.residual") for k in keys)  # identity residual


def test_zero_person_counts_in_the_person_mean() -> None:
    model = STGCN(spatial_partition(NTU)).eval()
    x = torch.randn(1, 3, 50, 25, 2)
    x[..., 1] = 0
    alone = model(x[..., :1])
    assert not torch.allclose(model(x), alone)  # the zero person moves the mean (official behaviour)
    zero_feature = model(torch.zeros(1, 3, 50, 25, 1))
    torch.testing.assert_close(model(x), (alone + zero_feature) / 2, rtol=1e-5, atol=1e-6)


def test_torch_streams_equal_numpy() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 10, 25, 2)).astype(np.float32)
    reference = derive_streams(x, NTU)
    for stream, values in reference.items():
        ours = derive_stream(torch.from_numpy(x), NTU.parents, stream).numpy()
        np.testing.assert_array_equal(ours, values)
    with pytest.raises(ValueError, match="unknown stream"):
        derive_stream(torch.from_numpy(x), NTU.parents, "velocity")


def test_score_channel_streams_by_hand_and_equal_numpy() -> None:
    coco = get_layout("coco17")
    x = np.random.default_rng(1).uniform(size=(2, 3, 6, 17, 1)).astype(np.float32)  # x, y, score
    for stream, values in derive_streams(x, coco, score=True).items():
        ours = derive_stream(torch.from_numpy(x), coco.parents, stream, score=True).numpy()
        np.testing.assert_allclose(ours, values, rtol=0, atol=1e-7)
    v, p = 9, coco.parents[9]  # left wrist and its parent, the left elbow
    bone = derive_stream(torch.from_numpy(x), coco.parents, "bone", score=True).numpy()
    np.testing.assert_allclose(bone[0, :2, 3, v, 0], x[0, :2, 3, v, 0] - x[0, :2, 3, p, 0], atol=1e-7)
    assert bone[0, 2, 3, v, 0] == pytest.approx((x[0, 2, 3, v, 0] + x[0, 2, 3, p, 0]) / 2)
    motion = derive_stream(torch.from_numpy(x), coco.parents, "motion", score=True).numpy()
    assert motion[1, 2, 2, 4, 0] == pytest.approx((x[1, 2, 2, 4, 0] + x[1, 2, 3, 4, 0]) / 2)
    assert motion[1, 0, 2, 4, 0] == pytest.approx(x[1, 0, 3, 4, 0] - x[1, 0, 2, 4, 0])
    assert not motion[:, :, -1].any()  # last frame zero, score included


def test_mirror_index() -> None:
    assert mirror_index(5, 2).tolist() == [2, 1, 0, 1, 2, 3, 4, 3, 2]
    assert mirror_index(1, 2).tolist() == [0, 0, 0, 0, 0]


def test_temporal_crop_is_a_window_of_the_mirrored_clip() -> None:
    t = 12
    x = torch.arange(t, dtype=torch.float32).view(1, 1, t, 1, 1).repeat(4, 3, 1, 2, 2)
    out = temporal_crop(x, padding_ratio=6, generator=torch.Generator().manual_seed(0))
    padded = mirror_index(t, 2).float()
    for n in range(4):
        frames = out[n, 0, :, 0, 0]
        offsets = [o for o in range(5) if torch.equal(padded[o : o + t], frames)]
        assert len(offsets) == 1
    assert len({tuple(out[n, 0, :, 0, 0].tolist()) for n in range(4)}) > 1  # drawn per sample


def test_shear_matrix() -> None:
    x = torch.zeros(2, 3, 1, 1, 1)
    x[:, 0] = 1.0  # the unit x vector
    out = shear(x, amplitude=0.5, generator=torch.Generator().manual_seed(0))
    assert out[:, 0].flatten().tolist() == [1.0, 1.0]  # diagonal stays 1
    assert (out[:, 1:].abs() <= 0.5).all() and not torch.equal(out[0], out[1])
    assert torch.equal(shear(torch.zeros(1, 3, 4, 5, 2), 0.5), torch.zeros(1, 3, 4, 5, 2))


def test_rotation_matrices_closed_form() -> None:
    quarter = torch.tensor([[0.0, 0.0, torch.pi / 2]])  # 90 degrees about z: x -> y
    assert torch.allclose(
        rotation_matrices(quarter)[0] @ torch.tensor([1.0, 0.0, 0.0]),
        torch.tensor([0.0, 1.0, 0.0]),
        atol=1e-6,
    )
    about_y = torch.tensor([[0.0, torch.pi / 2, 0.0]])  # 90 degrees about y: z -> x
    assert torch.allclose(
        rotation_matrices(about_y)[0] @ torch.tensor([0.0, 0.0, 1.0]),
        torch.tensor([1.0, 0.0, 0.0]),
        atol=1e-6,
    )
    r = rotation_matrices(torch.rand(16, 3) * 6 - 3)
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand(16, 3, 3), atol=1e-6)
    assert torch.allclose(torch.linalg.det(r), torch.ones(16), atol=1e-5)  # proper: no mirror
    plane = rotation_matrices(torch.tensor([[torch.pi / 2]]))[0]
    assert torch.allclose(plane @ torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), atol=1e-6)


def test_rotate_keeps_lengths_zeros_and_the_score() -> None:
    x = torch.randn(8, 4, 6, 5, 2)
    x[:, :, :, 2] = 0  # an absent joint
    out = rotate(x, 30.0, torch.Generator().manual_seed(0), coords=3)
    assert torch.allclose(out[:, :3].norm(dim=1), x[:, :3].norm(dim=1), atol=1e-5)
    assert torch.equal(out[:, 3], x[:, 3]) and not out[:, :, :, 2].any()
    # the largest angle is respected: R_x keeps the unit x vector, R_y(b) then R_z(c) leave it an
    # x component of cos(b) cos(c) >= cos(30 deg)^2
    single = torch.zeros(64, 3, 1, 1, 1)
    single[:, 0] = 1.0
    moved = rotate(single, 30.0, torch.Generator().manual_seed(1))
    assert (moved[:, 0].flatten() >= torch.cos(torch.tensor(torch.pi / 6)) ** 2 - 1e-6).all()
    assert len({round(float(v), 4) for v in moved[:, 1].flatten()}) == 64  # drawn per sample
    assert torch.equal(rotate(x, 0.0), x)


def test_jitter_moves_present_joints_only() -> None:
    x = torch.ones(64, 3, 20, 5, 1)
    x[:, :, :, 4] = 0
    out = jitter(x, 0.1, torch.Generator().manual_seed(0), coords=2)
    assert not out[:, :, :, 4].any() and torch.equal(out[:, 2], x[:, 2])
    assert float((out[:, :2, :, :4] - 1).std()) == pytest.approx(0.1, rel=0.05)
    # with both off, one view is exactly SkeletonCLR's: crop then shear, same random draws
    x = torch.randn(4, 3, 12, 5, 1)
    view = augment(x, 6, 0.5, torch.Generator().manual_seed(0), 3, rotation=0.0, noise=0.0)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(view, shear(temporal_crop(x, 6, g), 0.5, g, 3))


def test_keep_mask_rate_and_independence() -> None:
    torch.manual_seed(0)
    n = 400_000
    for p in (0.1, 0.5, 0.75):
        keep = keep_mask(torch.Size((n // 1000, 1000)), p).flatten().float()
        assert float(keep.mean()) == pytest.approx(1 - p, abs=4 / n**0.5)  # 4 binomial sigmas
        # the four entries cut from one 64-bit draw are independent: neighbours uncorrelated
        lanes = keep.view(-1, 4)
        corr = torch.corrcoef(lanes.T)
        assert (corr - torch.eye(4)).abs().max() < 0.02
    assert keep_mask(torch.Size((3, 5)), 0.0).all() and not keep_mask(torch.Size((3, 5)), 1.0).any()
    assert keep_mask(torch.Size((2, 3, 5)), 0.5).shape == (2, 3, 5)  # odd counts cut from whole words
    drop = Dropout(0.5).train()
    out = drop(torch.ones(1000, 100))
    assert set(out.unique().tolist()) == {0.0, 2.0} and float(out.mean()) == pytest.approx(1.0, abs=0.02)
    assert torch.equal(drop.eval()(torch.ones(3, 3)), torch.ones(3, 3))


def _encoders(head: str) -> dict[str, StreamEncoder]:
    a = torch.as_tensor(spatial_partition(NTU))
    return {
        s: StreamEncoder(a, head=head, widths=(8, 8, 16, 16), strides=(1, 1, 2, 1), dropout=0.0)
        for s in ("joint", "motion")
    }


def test_momentum_update_is_an_ema() -> None:
    method = MomentumContrast(_encoders("gaussian"), NTU.parents, LossConfig(queue_size=8, momentum=0.75))
    q = next(method.query.parameters())
    k = next(method.key.parameters())
    assert torch.equal(q, k) and not k.requires_grad
    with torch.no_grad():
        q.add_(1.0)
    before = k.clone()
    method.momentum_update()
    torch.testing.assert_close(k, 0.75 * before + 0.25 * q.detach())


@pytest.mark.parametrize("head", ["gaussian", "projection"])
def test_contrast_step(head: str) -> None:
    torch.manual_seed(0)
    method = MomentumContrast(_encoders(head), NTU.parents, LossConfig(queue_size=8))
    x = torch.randn(4, 3, 12, 25, 2)
    queues = {s: q for s, q in method.queues.items() if isinstance(q, KeyQueue)}
    pointer = {s: int(q.pointer) for s, q in queues.items()}
    results = method(x, x + 0.01 * torch.randn_like(x), kl_weight=0.5)
    assert set(results) == {"joint", "motion"}
    for stream, stats in results.items():
        assert int(queues[stream].pointer) == (pointer[stream] + 4) % 8  # keys enqueued
        if head == "gaussian":
            torch.testing.assert_close(stats["loss"], stats["info_nce"] + 0.5 * stats["kl"])
            assert stats["mean_sigma"] > 0
        else:
            assert "kl" not in stats and torch.equal(stats["loss"], stats["info_nce"])
    sum(r["loss"] for r in results.values()).backward()
    grads = [p.grad for p in method.query.parameters()]
    assert all(g is not None for g in grads)
    assert all(p.grad is None for p in method.key.parameters())


def test_multi_stream_fusion_is_the_weighted_sum() -> None:
    torch.manual_seed(0)
    encoders = {
        s: StreamEncoder(torch.as_tensor(spatial_partition(NTU)), head="none")
        for s in ("motion", "joint", "bone")
    }
    classifiers = {s: torch.nn.Linear(256, 5) for s in encoders}
    model = MultiStreamModel(encoders, NTU.parents, classifiers).eval()
    assert model.streams == ["joint", "bone", "motion"]
    out = model(torch.randn(2, 3, 20, 25, 2))
    fused = 0.6 * out["joint"]["logits"] + 0.6 * out["bone"]["logits"] + 0.4 * out["motion"]["logits"]
    torch.testing.assert_close(out["fused_logits"], fused)
