"""Data-parallel training on the gloo backend: two CPU processes, a tiny model, a few steps."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from skeleton.prepare import prepare_dataset
from skeleton.prepared import PreparedDataset
from tests.conftest import TINY_MODEL
from train import distributed
from train.config import load_config
from train.trainer import Trainer, TrainingError, train

WORLD = 2
QUEUE = 24  # the global batch of 8 moves the pointer 8, 16, 0, ...; a per-rank push would move it by 4
OVERRIDES = [
    *TINY_MODEL,
    "optim.batch_size=8",
    f"loss.queue_size={QUEUE}",
    "run.deterministic=true",
    "run.threads=1",
    "run.monitor_every=2",
    "run.checkpoint_every=2",
    "run.log_every=1",
    "run.shuffle_bn=true",
    "data.streams=[joint, motion]",
]


def _config(data: Path, out: Path, *extra: str) -> Any:
    return load_config(None, [*OVERRIDES, f"data.path={data}", f"run.out_dir={out}", *extra])


def _same_on_every_rank(tensor: torch.Tensor) -> bool:
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor)
    return all(torch.equal(parts[0], p) for p in parts[1:])


def _watch_steps(trainer: Trainer, pointers: list[int]) -> None:
    """After every optimizer step: parameters and queues equal across ranks; record the pointer."""

    def check(*_: Any) -> None:
        method = trainer.method
        params = torch.cat([p.detach().flatten() for p in method.parameters()])  # query and key
        queues = torch.cat(
            [b.flatten() for name, b in method.queues.named_buffers() if name.endswith("keys")]
        )
        assert _same_on_every_rank(params), f"parameters differ across ranks after step {len(pointers) + 1}"
        assert _same_on_every_rank(queues), f"queues differ across ranks after step {len(pointers) + 1}"
        pointers.append(int(method.queues.get_buffer("joint.pointer")))

    trainer.optimizer.register_step_post_hook(check)


def _worker(rank: int, port: int, data: Path, root: Path) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    context, _ = distributed.setup("cpu")
    try:
        assert context == distributed.Context(rank, WORLD, rank)
        pointers: list[int] = []
        trainer = Trainer(_config(data, root / "straight", "optim.epochs=2"), progress=False)
        _watch_steps(trainer, pointers)
        trainer.fit()
        with pytest.raises(TrainingError, match="already holds a run"):  # rank 0's refusal, on every rank
            Trainer(_config(data, root / "straight", "optim.epochs=2"), progress=False)
        train(_config(data, root / "resumed", "optim.epochs=1"), progress=False)
        train(_config(data, root / "resumed", "optim.epochs=2"), resume=True, progress=False)
        (root / f"rank{rank}.json").write_text(json.dumps({"pointers": pointers}))
    finally:
        distributed.teardown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ddp")
    data = root / "syn"
    prepare_dataset("synthetic", None, data, num_samples=44, seed=1, progress=False, workers=1)
    mp.spawn(_worker, args=(_free_port(), data, root), nprocs=WORLD, join=True)
    return root, data


def test_ranks_stay_identical_and_the_queue_advances_by_the_global_batch(runs: tuple[Path, Path]) -> None:
    root, data = runs
    clips = len(PreparedDataset(data).split("xsub", "train"))
    steps = 2 * (clips // 8)  # two epochs of global batches of 8
    assert steps >= 4
    expected = [8 * (s + 1) % QUEUE for s in range(steps)]
    for rank in range(WORLD):
        assert json.loads((root / f"rank{rank}.json").read_text())["pointers"] == expected


def test_rank_zero_alone_logs_and_checkpoints(runs: tuple[Path, Path]) -> None:
    root, _ = runs
    out = root / "straight"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best", "epoch_0002", "last"]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2]
    assert sum(r["kind"] == "initial" for r in records) == 1
    assert len(list((out / "tb").iterdir())) == 1
    state = torch.load(out / "checkpoints" / "last" / "state.pt", weights_only=False)
    assert state["world_size"] == WORLD and state["global_step"] > 0


def test_resume_continues_exactly(runs: tuple[Path, Path]) -> None:
    root, _ = runs
    straight, resumed = (
        torch.load(root / run / "checkpoints" / "last" / "state.pt", weights_only=False)["method"]
        for run in ("straight", "resumed")
    )
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


def test_resume_with_another_world_size_is_refused(runs: tuple[Path, Path]) -> None:
    root, data = runs
    with pytest.raises(TrainingError, match=r"trained by 2 process\(es\), this launch has 1"):
        train(_config(data, root / "resumed", "optim.epochs=3"), resume=True, progress=False)


def test_rank_batches_cover_each_global_batch() -> None:
    order = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    shares = [distributed.rank_batches(order, 8, distributed.Context(r, 2, r)) for r in range(2)]
    assert [len(s) for s in shares] == [2, 2]  # 20 // 8 global batches, the rest dropped
    for i in range(2):
        together = torch.cat([shares[0][i], shares[1][i]])
        assert sorted(together.tolist()) == sorted(order[i * 8 : (i + 1) * 8].tolist())
    single = distributed.rank_batches(order, 8, distributed.Context())
    assert [b.tolist() for b in single] == [order[:8].tolist(), order[8:16].tolist()]
    with pytest.raises(TrainingError, match="multiple of the world size 3"):
        distributed.rank_batches(order, 8, distributed.Context(0, 3, 0))


def test_sync_batchnorm_needs_cuda() -> None:
    encoders = torch.nn.ModuleDict({"joint": torch.nn.BatchNorm1d(4)})
    with pytest.raises(TrainingError, match="run.sync_batchnorm needs CUDA"):
        distributed.wrap_query(encoders, torch.device("cpu"), sync_batchnorm=True)


def test_sync_batchnorm_conversion_keeps_parameters_and_checkpoint_keys() -> None:
    from skeleton.layouts import get_layout
    from train.model import build_encoders

    arch = {"widths": [8, 16], "strides": [1, 2], "dropout": 0.0, "hidden_dim": 16}
    encoder = build_encoders(
        get_layout("ntu"), ["joint"], "gaussian", {**arch, "projection_dim": 8, "latent_dim": 4}
    )["joint"]
    before, keys = list(encoder.parameters()), list(encoder.state_dict())
    distributed.to_sync_batchnorm(encoder)
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    assert all(a is b for a, b in zip(before, encoder.parameters(), strict=True))  # the optimizer's own
    assert list(encoder.state_dict()) == keys  # checkpoints load into plain BatchNorm
