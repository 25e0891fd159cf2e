"""Training runs: exact resume, checkpoints, logs, warnings, and the CLI around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from skeleton.prepare import prepare_dataset
from skeleton.prepared import PreparedDataset
from train.checkpoint import CheckpointError, init_encoders, load_checkpoint
from train.config import ConfigError, load_config
from train.model import StreamEncoder
from train.run_log import momentum_warning
from train.trainer import Trainer, TrainingError, train
from vcl.cli import main

TINY = [
    "model.widths=[8, 8, 16]",
    "model.strides=[1, 2, 1]",
    "model.hidden_dim=32",
    "model.projection_dim=16",
    "model.latent_dim=8",
    "optim.batch_size=8",
    "loss.queue_size=16",
    "run.deterministic=true",
    "run.monitor_every=2",
    "run.checkpoint_every=2",
    "run.log_every=1",
    "data.streams=[joint, motion]",
]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "syn"
    prepare_dataset("synthetic", None, out, num_samples=44, seed=1, progress=False, workers=1)
    return out


def _config(data: Path, out: Path, *extra: str):
    return load_config(None, [*TINY, f"data.path={data}", f"run.out_dir={out}", *extra])


def _weights(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / "last" / "state.pt", weights_only=False)
    return state["method"]


def test_two_plus_two_epochs_equal_four(tiny_data: Path, tmp_path: Path) -> None:
    train(_config(tiny_data, tmp_path / "straight", "optim.epochs=4"), progress=False)
    train(_config(tiny_data, tmp_path / "resumed", "optim.epochs=2"), progress=False)
    train(_config(tiny_data, tmp_path / "resumed", "optim.epochs=4"), resume=True, progress=False)
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key  # parameters, BN statistics, queues, pointers
    epochs = [
        [
            json.loads(line)
            for line in (tmp_path / run / "log.jsonl").read_text().splitlines()
            if '"kind": "epoch"' in line
        ]
        for run in ("straight", "resumed")
    ]
    assert [e["loss"] for e in epochs[0]] == [e["loss"] for e in epochs[1]]


def test_checkpoints_hold_exact_batchnorm_statistics(tiny_data: Path, tmp_path: Path) -> None:
    """After 2 epochs of a few steps the running averages would still carry their start
    (variance 1); the saved encoders hold the statistics of the training clips (train.batchnorm)."""
    out = train(_config(tiny_data, tmp_path / "run", "optim.epochs=2"), progress=False)
    model, _ = load_checkpoint(out / "checkpoints" / "last")
    dataset = PreparedDataset(tiny_data)
    x = torch.from_numpy(dataset.joints[dataset.split("xsub", "train")])
    channels = x.permute(0, 4, 3, 1, 2).reshape(len(x) * x.shape[-1], -1, x.shape[2])  # (N * M, V * C, T)
    encoder = model.encoders["joint"]
    assert isinstance(encoder, StreamEncoder)
    bn = encoder.backbone.data_bn
    torch.testing.assert_close(bn.running_mean, channels.mean(dim=(0, 2)), rtol=1e-3, atol=1e-5)


def test_run_directory_contents(tiny_data: Path, tmp_path: Path) -> None:
    out = train(_config(tiny_data, tmp_path / "run", "optim.epochs=2"), progress=False)
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["best", "epoch_0002", "last"]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    step = next(r for r in records if r["kind"] == "step")
    for key in (
        "loss",
        "lr",
        "kl_weight",
        "clips_per_s",
        "joint/info_nce",
        "joint/kl",
        "joint/mean_sigma",
        "joint/pos_top1",
        "motion/loss",
    ):
        assert key in step
    epoch = [r for r in records if r["kind"] == "epoch"][-1]
    assert 0 <= epoch["knn_top1"] <= 1 and "joint/knn_top1" in epoch
    assert any((out / "tb").iterdir())
    model, meta = load_checkpoint(out / "checkpoints" / "best")
    assert meta["method"] == "vcl" and meta["head"] == "gaussian" and meta["streams"] == ["joint", "motion"]
    assert load_config(out / "checkpoints" / "last" / "config.yaml").optim.epochs == 2
    out_mu = model(torch.zeros(1, 3, 50, 25, 2))["joint"]["mu"]
    assert out_mu.shape == (1, 8)


def test_skeletonclr_baseline_has_no_kl(tiny_data: Path, tmp_path: Path) -> None:
    out = train(
        _config(tiny_data, tmp_path / "clr", "optim.epochs=1", "model.method=skeletonclr"), progress=False
    )
    step = next(
        r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if r["kind"] == "step"
    )
    assert "joint/kl" not in step and step["joint/loss"] == step["joint/info_nce"]
    _, meta = load_checkpoint(out / "checkpoints" / "last")
    assert meta["head"] == "projection"


def test_collapse_and_blowup_warnings(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = train(
        _config(
            tiny_data, tmp_path / "warn", "optim.epochs=1", "run.sigma_collapse=100.0", "run.kl_blowup=0.0"
        ),
        progress=False,
    )
    warnings = [
        json.loads(line)
        for line in (out / "log.jsonl").read_text().splitlines()
        if '"kind": "warning"' in line
    ]
    messages = " | ".join(w["message"] for w in warnings)
    assert "mean sigma" in messages and "collapsing" in messages and "KL term is blowing up" in messages
    assert "warning: joint: mean sigma" in capsys.readouterr().out
    assert "loss.momentum 0.999 averages the key encoder over ~1000 steps" in messages  # a 1-epoch run


def test_momentum_warning_compares_the_key_average_with_the_run() -> None:
    # 1 / (1 - m) steps against a quarter of the run
    assert momentum_warning(0.999, 94_000) is None  # NTU-60 at batch 128, 300 epochs
    assert momentum_warning(0.99, 780) is None  # 100 <= 195
    message = momentum_warning(0.999, 780)  # UTD-MHAD, 60 epochs at batch 32: 1000 > 195
    assert message is not None and "~1000 steps" in message and "780 steps" in message
    assert "loss.momentum <= 0.949" in message  # 1 - 40 / 780
    assert (momentum_warning(0.99, 100) or "").endswith("loss.momentum <= 0.9")  # floored at 0.9
    assert momentum_warning(0.9, 27) is None  # 10 > 27 / 4, but already at the floor


def test_run_directory_guards(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(_config(tiny_data, tmp_path / "none", "optim.epochs=1"), resume=True, progress=False)
    train(_config(tiny_data, tmp_path / "once", "optim.epochs=1"), progress=False)
    with pytest.raises(TrainingError, match="already holds a run; pass --resume"):
        train(_config(tiny_data, tmp_path / "once", "optim.epochs=1"), progress=False)
    with pytest.raises(
        ConfigError, match=r"optim.lr changed from 0.002 to 0.01 \(only optim.epochs may change\)"
    ):
        train(
            _config(tiny_data, tmp_path / "once", "optim.epochs=2", "optim.lr=0.01"),
            resume=True,
            progress=False,
        )


def test_cli_train_and_errors(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "train",
        "--quiet",
        "--set",
        f"data.path={tiny_data}",
        "--set",
        f"run.out_dir={tmp_path / 'cli'}",
        "--set",
        "optim.epochs=1",
    ]
    for item in TINY:
        args += ["--set", item]
    assert main(args) == 0
    assert "trained vcl (joint, motion) for 1 epochs" in capsys.readouterr().out
    assert main(["train", "--set", "optim.epochs=zero"]) == 2
    assert "optim.epochs: expected an integer, got 'zero'" in capsys.readouterr().err
    assert main(["train", "--set", f"data.path={tmp_path / 'nowhere'}"]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err


def test_allocator_tuning_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    from train.allocator import tune_malloc

    monkeypatch.setenv("VCL_MALLOC_TUNING", "0")
    assert tune_malloc() is False
    monkeypatch.setenv("VCL_MALLOC_TUNING", "1")
    assert tune_malloc() is True  # glibc here; mallopt accepted both settings


def test_cuda_requested_without_a_gpu(tiny_data: Path, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(TrainingError, match="run.device is 'cuda' but no CUDA device is available"):
        train(_config(tiny_data, tmp_path / "gpu", "run.device=cuda"), progress=False)


def _encoder(encoders: object, stream: str) -> StreamEncoder:
    encoder = encoders[stream]  # type: ignore[index]
    assert isinstance(encoder, StreamEncoder)
    return encoder


def _block_norm(backbone: object) -> torch.nn.BatchNorm2d:
    """The first BatchNorm of block 1's temporal unit."""
    norm = backbone.st_gcn_networks[1].tcn[0]  # type: ignore[attr-defined]
    assert isinstance(norm, torch.nn.BatchNorm2d)
    return norm


def _running(module: object) -> tuple[torch.Tensor, torch.Tensor]:
    """A BatchNorm's running mean and variance."""
    assert isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
    assert module.running_mean is not None and module.running_var is not None
    return module.running_mean, module.running_var


def test_model_init_starts_query_and_key_from_a_checkpoint(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = (
        train(_config(tiny_data, tmp_path / "first", "optim.epochs=2"), progress=False)
        / "checkpoints"
        / "last"
    )
    start, _ = load_checkpoint(first)
    trainer = Trainer(_config(tiny_data, tmp_path / "second", f"model.init={first}"), progress=False)
    assert trainer.init is not None and trainer.init["heads"] == {"joint": "kept", "motion": "kept"}
    for stream in ("joint", "motion"):
        given = _encoder(start.encoders, stream).state_dict()
        for encoders in (trainer.method.query, trainer.method.key):
            for key, value in _encoder(encoders, stream).state_dict().items():
                assert torch.equal(value, given[key]), (stream, key)
    # a SkeletonCLR checkpoint starts a VCL run's backbones; the Gaussian heads start fresh
    clr = train(
        _config(tiny_data, tmp_path / "clr", "optim.epochs=1", "model.method=skeletonclr"), progress=False
    )
    clr_start, _ = load_checkpoint(clr / "checkpoints" / "last")
    trainer = Trainer(
        _config(tiny_data, tmp_path / "third", f"model.init={clr / 'checkpoints' / 'last'}"), progress=False
    )
    assert trainer.init is not None and trainer.init["heads"] == {"joint": "new", "motion": "new"}
    joint, clr_joint = _encoder(trainer.method.query, "joint"), _encoder(clr_start.encoders, "joint")
    for key, value in clr_joint.backbone.state_dict().items():
        assert torch.equal(joint.backbone.state_dict()[key], value), key
    fresh = joint.projection.state_dict()
    assert not all(torch.equal(v, clr_joint.projection.state_dict()[k]) for k, v in fresh.items())
    # misfits are named: the layout, the shapes, through the CLI without a traceback
    with pytest.raises(
        CheckpointError,
        match="read the 'ntu' layout, the data is 'kinect_v1'; prepare the data with --map-to ntu",
    ):
        init_encoders({"joint": joint}, first, "kinect_v1")
    args = ["train", "--set", f"data.path={tiny_data}", "--set", f"run.out_dir={tmp_path / 'wide'}"]
    for item in [*TINY, "model.widths=[8, 8, 32]", f"model.init={first}"]:
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert (
        "joint backbone.st_gcn_networks.2.gcn.conv.weight: this run needs shape (96, 8, 1, 1), "
        "the checkpoint has (48, 8, 1, 1)" in err
    )
    assert "Traceback" not in err
    args[args.index("model.widths=[8, 8, 32]")] = "model.widths=[8, 16]"
    args[args.index("model.strides=[1, 2, 1]")] = "model.strides=[1, 2]"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "joint backbone.edge_importance.2: the checkpoint has weights this run lacks (22 in all" in err
    assert "Traceback" not in err


def test_frozen_batchnorms_keep_their_statistics(tiny_data: Path, tmp_path: Path) -> None:
    first = (
        train(_config(tiny_data, tmp_path / "first", "optim.epochs=2"), progress=False)
        / "checkpoints"
        / "last"
    )
    start, _ = load_checkpoint(first)
    extra = ("optim.epochs=2", "model.input_bn=frozen")
    tuned = train(_config(tiny_data, tmp_path / "tuned", f"model.init={first}", *extra), progress=False)
    scratch = train(_config(tiny_data, tmp_path / "scratch", *extra), progress=False)
    tuned_model, _ = load_checkpoint(tuned / "checkpoints" / "last")
    scratch_model, _ = load_checkpoint(scratch / "checkpoints" / "last")
    for stream in ("joint", "motion"):
        given = _encoder(start.encoders, stream).backbone
        kept = _encoder(tuned_model.encoders, stream).backbone
        for a, b in zip(_running(kept.data_bn), _running(given.data_bn), strict=True):
            assert torch.equal(a, b)
        assert not torch.equal(kept.data_bn.weight, given.data_bn.weight)  # its affine still learns
        # the hidden BatchNorms were recomputed on the training clips, as without freezing
        hidden = _running(kept.st_gcn_networks[1].tcn[0])[1]  # type: ignore[index]
        assert not torch.allclose(hidden, _running(given.st_gcn_networks[1].tcn[0])[1])  # type: ignore[index]
        mean, var = _running(_encoder(scratch_model.encoders, stream).backbone.data_bn)
        assert torch.equal(mean, torch.zeros_like(mean)) and torch.equal(var, torch.ones_like(var))
    # model.block_bn=frozen as well: every backbone BatchNorm keeps the init's statistics
    every = train(
        _config(tiny_data, tmp_path / "every", f"model.init={first}", *extra, "model.block_bn=frozen"),
        progress=False,
    )
    every_model, _ = load_checkpoint(every / "checkpoints" / "last")
    for stream in ("joint", "motion"):
        given = _encoder(start.encoders, stream).backbone
        kept = _encoder(every_model.encoders, stream).backbone
        norms = [m for m in kept.modules() if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d)]
        starts = [m for m in given.modules() if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d)]
        assert len(norms) == len(starts) == 9  # the input BatchNorm and 8 in the tiny blocks
        for norm, start_norm in zip(norms, starts, strict=True):
            for a, b in zip(_running(norm), _running(start_norm), strict=True):
                assert torch.equal(a, b)
        assert not torch.equal(_block_norm(kept).weight, _block_norm(given).weight)
    # in train mode the frozen BatchNorms normalise with their running statistics
    backbone = _encoder(start.encoders, "joint").backbone
    backbone.freeze_statistics(input=True)
    backbone.train()
    assert backbone.training and not backbone.data_bn.training
    assert _block_norm(backbone).training
    x = torch.randn(4, 75, 10)
    assert torch.equal(backbone.data_bn(x), backbone.eval().data_bn(x))
    backbone.freeze_statistics(blocks=True)
    backbone.train()
    assert backbone.data_bn.training and not _block_norm(backbone).training
