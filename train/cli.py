"""``vcl train``, ``vcl import-official`` and ``vcl predict``. torch is imported only when they run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train.allocator import tune_malloc


def add_train_commands(subparsers: argparse._SubParsersAction) -> None:
    tr = subparsers.add_parser("train", help="pretrain VCL / SkeletonCLR encoders")
    tr.add_argument("--config", type=Path, help="YAML config (see configs/)")
    tr.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="SECTION.KEY=VALUE",
        help="override one config value (repeatable), e.g. --set optim.epochs=10",
    )
    tr.add_argument("--resume", action="store_true", help="continue the run in run.out_dir")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train)

    imp = subparsers.add_parser("import-official", help="convert the authors' NTU-60 linear checkpoints")
    imp.add_argument("--joint", type=Path, required=True)
    imp.add_argument("--bone", type=Path, required=True)
    imp.add_argument("--motion", type=Path, required=True)
    imp.add_argument("--out", type=Path, required=True)
    imp.set_defaults(func=_import_official)

    pr = subparsers.add_parser("predict", help="classify raw clip files with a model")
    pr.add_argument("--model", type=Path, required=True, help="checkpoint directory")
    pr.add_argument("files", type=Path, nargs="+", help="clip files (.skeleton, .txt, .mat, .npz)")
    pr.add_argument("--json", action="store_true", help="machine-readable output with all logits")
    pr.add_argument("--top", type=int, default=5)
    pr.set_defaults(func=_predict)


def _train(args: argparse.Namespace) -> int:
    tune_malloc()
    from train.config import load_config
    from train.trainer import train

    config = load_config(args.config, args.overrides)
    out = train(config, resume=args.resume, progress=not args.quiet)
    print(
        f"trained {config.model.method} ({', '.join(config.data.streams)}) for {config.optim.epochs} epochs; "
        f"checkpoints in {out / 'checkpoints'}, log in {out / 'log.jsonl'}"
    )
    return 0


def _import_official(args: argparse.Namespace) -> int:
    tune_malloc()
    from train.official import import_official

    out = import_official({"joint": args.joint, "bone": args.bone, "motion": args.motion}, args.out)
    print(f"imported the official NTU-60 joint/bone/motion checkpoints into {out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    tune_malloc()
    from train.predict import predict_files

    results = predict_files(args.model, args.files, top=args.top)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for r in results:
        top = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in r["top"])
        print(f"{r['name']}: {r['label']} (class {r['class_index']}); top-{args.top}: {top}")
    return 0
