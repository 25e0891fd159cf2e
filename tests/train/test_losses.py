from __future__ import annotations

import math

import pytest
import torch

from train.heads import reparameterize
from train.losses import KeyQueue, info_nce, kl_standard_normal


def test_info_nce_by_hand() -> None:
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0]])
    negatives = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    loss, logits = info_nce(q, k, negatives, temperature=0.5)
    # logits = [1, 0, -1] / 0.5 = [2, 0, -2]
    assert logits.tolist() == [[2.0, 0.0, -2.0]]
    expected = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-2)))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_averages_over_the_batch() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # first positive orthogonal, second aligned
    negatives = torch.tensor([[1.0, 0.0]])
    loss, _ = info_nce(q, k, negatives, temperature=1.0)
    first = -math.log(math.exp(0) / (math.exp(0) + math.exp(1)))
    second = -math.log(math.exp(1) / (math.exp(1) + math.exp(0)))
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_kl_by_hand() -> None:
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    # 1/2 (mu^2 + sigma^2 - log sigma^2 - 1): 0.5 and 0.5 * (4 - log 4 - 1)
    per_dim = [0.5, 0.5 * (3 - math.log(4.0))]
    assert kl_standard_normal(mu, logvar, "mean").item() == pytest.approx(sum(per_dim) / 2, rel=1e-6)
    assert kl_standard_normal(mu, logvar, "sum").item() == pytest.approx(sum(per_dim), rel=1e-6)
    assert kl_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0


def test_free_bits_floor_each_dimension() -> None:
    mu = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    logvar = torch.zeros(2, 2)  # per-dim KL: 0.5 and 0
    assert kl_standard_normal(mu, logvar, "mean", free_bits=0.2).item() == pytest.approx((0.5 + 0.2) / 2)
    assert kl_standard_normal(mu, logvar, "sum", free_bits=0.2).item() == pytest.approx(0.7)


@pytest.mark.parametrize("free_bits", [0.0, 0.2])
def test_unknown_kl_reduction_is_refused_with_or_without_free_bits(free_bits: float) -> None:
    with pytest.raises(ValueError, match="KL reduction must be 'mean' or 'sum', got 'max'"):
        kl_standard_normal(torch.zeros(2, 2), torch.zeros(2, 2), "max", free_bits=free_bits)


def test_gradients_reach_mu_and_logvar_through_the_sample() -> None:
    mu = torch.tensor([[0.3, -0.2]], requires_grad=True)
    logvar = torch.tensor([[0.4, -1.0]], requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    eps = torch.randn(1, 2, generator=torch.Generator().manual_seed(0))
    z = reparameterize(mu, logvar, generator=gen)
    (z * torch.tensor([[2.0, 3.0]])).sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    assert mu.grad.tolist() == [[2.0, 3.0]]
    expected = torch.tensor([[2.0, 3.0]]) * 0.5 * torch.exp(0.5 * logvar.detach()) * eps
    torch.testing.assert_close(logvar.grad, expected)


def test_gradients_flow_through_info_nce_on_samples() -> None:
    torch.manual_seed(0)
    mu = torch.randn(4, 8, requires_grad=True)
    logvar = torch.randn(4, 8, requires_grad=True)
    z = torch.nn.functional.normalize(reparameterize(mu, logvar), dim=1)
    loss, _ = info_nce(z, z.detach().roll(1, 0), torch.nn.functional.normalize(torch.randn(16, 8), dim=1))
    loss.backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_queue_is_a_fifo_that_wraps() -> None:
    queue = KeyQueue(size=5, dim=2)
    batch = torch.arange(6.0).view(3, 2)
    queue.push(batch)
    assert int(queue.pointer) == 3 and queue.keys[:3].tolist() == batch.tolist()
    second = 10 + torch.arange(6.0).view(3, 2)
    queue.push(second)
    assert int(queue.pointer) == 1
    assert queue.keys[3:].tolist() == second[:2].tolist() and queue.keys[0].tolist() == second[2].tolist()
    assert queue.keys[1:3].tolist() == batch[1:].tolist()
    big = 100 + torch.arange(14.0).view(7, 2)
    queue.push(big)
    assert sorted(queue.keys[:, 0].tolist()) == big[2:, 0].tolist()  # only the last K survive
    with pytest.raises(ValueError, match="queue size must be positive"):
        KeyQueue(0, 2)


def test_queue_starts_normalised() -> None:
    queue = KeyQueue(7, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(7))
