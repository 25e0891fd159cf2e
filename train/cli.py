"""``vcl train``, ``vcl import-official``, ``vcl eval`` and ``vcl report``. torch is imported only when
they run."""

from __future__ import annotations

import argparse
import os
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


def add_eval_commands(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser("eval", help="evaluate a checkpoint: linear, knn, semi, finetune, uncertainty")
    ev.add_argument("protocol", choices=["linear", "knn", "semi", "finetune", "uncertainty"])
    ev.add_argument("--model", type=Path, help="checkpoint directory (not needed with --from-scratch)")
    ev.add_argument("--data", type=Path, required=True, help="prepared dataset directory")
    ev.add_argument("--split", default="xsub", help="protocol of the dataset (train part -> test part)")
    ev.add_argument("--streams", nargs="+", default=[], choices=["joint", "bone", "motion"])
    ev.add_argument(
        "--fusion", nargs=3, type=float, default=[0.6, 0.6, 0.4], metavar=("JOINT", "BONE", "MOTION")
    )
    ev.add_argument("--seeds", nargs="+", type=int, default=[0])
    ev.add_argument(
        "--recipe", choices=["frozen", "official"], default="frozen", help="linear protocol recipe"
    )
    ev.add_argument("--epochs", type=int, default=100)
    ev.add_argument("--lr", type=float, default=0.0, help="0: the protocol's default")
    ev.add_argument("--batch-size", type=int, default=0, help="0: the protocol's default")
    ev.add_argument("--milestones", nargs="*", type=int, default=[80])
    ev.add_argument("--weight-decay", type=float, default=0.0)
    ev.add_argument("--k", type=int, default=20, help="kNN neighbours")
    ev.add_argument("--knn-on", choices=["feature", "mu"], default="feature")
    ev.add_argument("--label-fraction", type=float, default=0.1, help="semi: fraction of labels (0.01, 0.1)")
    ev.add_argument("--sampling", choices=["proportion", "count"], default="proportion")
    ev.add_argument(
        "--per-class",
        type=int,
        default=0,
        help="semi, linear: labelled clips per class (0: semi the fraction, linear all)",
    )
    ev.add_argument("--from-scratch", action="store_true", help="random initialisation (supervised baseline)")
    ev.add_argument("--no-standardize", action="store_true", help="linear: raw features (SkeletonCLR as is)")
    ev.add_argument("--threads", type=int, default=0)
    ev.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd", help="network training")
    ev.add_argument("--schedule", choices=["step", "cosine"], default="step", help="step: x0.1 at milestones")
    ev.add_argument("--shear", type=float, default=0.0, help="network training: shear augmentation amplitude")
    ev.add_argument(
        "--crop", type=int, default=0, help="network training: temporal crop padding ratio (0: off)"
    )
    ev.add_argument("--dropout", type=float, default=-1.0, help="encoder dropout rate (-1: keep)")
    ev.add_argument("--persons", type=int, default=0, help="keep the first P person slots (0: all)")
    unc = ev.add_argument_group("uncertainty (train.uncertainty_study; --seeds draw the held-out classes)")
    unc.add_argument("--open-set-classes", type=int, default=0, help="classes held out (0: a quarter)")
    unc.add_argument("--validation", choices=["subject", "hash"], default="subject")
    unc.add_argument("--validation-fraction", type=float, default=0.2)
    unc.add_argument(
        "--flag-rate", type=float, default=0.05, help="share of validation clips flagged unknown"
    )
    unc.add_argument(
        "--classifier-out", type=Path, help="save the closed-set probes as a classifier checkpoint"
    )
    ev.add_argument("--out", type=Path, help="result JSON (default runs/eval/<protocol>-<time>.json)")
    ev.add_argument("--quiet", action="store_true")
    ev.set_defaults(func=_eval)

    rep = subparsers.add_parser("report", help="tables and plots from evaluation results")
    rep.add_argument("runs", type=Path, nargs="+", help="result JSON files or folders of them")
    rep.add_argument("--out", type=Path, default=Path("docs/results"))
    rep.set_defaults(func=_report)


def _eval(args: argparse.Namespace) -> int:
    tune_malloc()
    import time

    from train.evaluate import EvalConfig, Evaluation, write_result

    if args.protocol == "uncertainty":
        return _eval_uncertainty(args)
    config = EvalConfig(
        protocol=args.protocol,
        data=str(args.data),
        model=str(args.model or ""),
        split=args.split,
        streams=tuple(args.streams),
        fusion=tuple(args.fusion),
        seeds=tuple(args.seeds),
        recipe=args.recipe,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        milestones=tuple(args.milestones),
        weight_decay=args.weight_decay,
        k=args.k,
        knn_on=args.knn_on,
        label_fraction=args.label_fraction,
        sampling=args.sampling,
        from_scratch=args.from_scratch,
        standardize=not args.no_standardize,
        threads=args.threads,
        optimizer=args.optimizer,
        schedule=args.schedule,
        shear=args.shear,
        crop_padding_ratio=args.crop,
        dropout=args.dropout,
        persons=args.persons,
        per_class=args.per_class,
    )
    result = Evaluation(config, progress=not args.quiet).run()
    out = args.out or Path("runs/eval") / f"{args.protocol}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_result(result, out)
    for name, values in result["metrics"]["summary"].items():
        print(
            f"{name:7s} top-1 {100 * values['top1_mean']:5.1f} ± {100 * values['top1_std']:.1f}   "
            f"top-5 {100 * values['top5_mean']:5.1f} ± {100 * values['top5_std']:.1f}"
        )
    if "uncertainty" in result:
        u = result["uncertainty"]
        print(f"misclassification AUROC: sigma {u['auroc_sigma']:.3f}, softmax {u['auroc_softmax']:.3f}")
    print(f"result in {out}")
    return 0


def _eval_uncertainty(args: argparse.Namespace) -> int:
    import json
    import time

    from train.uncertainty_study import UncertaintyConfig, UncertaintyStudy

    config = UncertaintyConfig(
        data=str(args.data),
        model=str(args.model or ""),
        split=args.split,
        open_set_classes=args.open_set_classes,
        seeds=tuple(args.seeds),
        validation=args.validation,
        validation_fraction=args.validation_fraction,
        flag_rate=args.flag_rate,
        probe_epochs=args.epochs,
        fusion=tuple(args.fusion),
        threads=args.threads,
    )
    study = UncertaintyStudy(config)
    result = study.run()
    out = args.out or Path("runs/eval") / f"uncertainty-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    closed, summary = result["closed_set"], result["open_set"]["summary"]
    print(f"error rate {closed['error_rate']:.1%}; AUROC for a wrong prediction / an unseen action:")
    for score in ("sigma", "softmax", "entropy", "wrong_probability", "sigma+softmax"):
        unseen = summary["auroc_unseen"][score]
        print(
            f"  {score:17s} {closed['auroc_wrong'][score]:.3f} / {unseen['mean']:.3f} ± {unseen['std']:.3f}"
        )
    if args.classifier_out:
        print(f"classifier checkpoint in {study.save_classifier(args.classifier_out)}")
    print(f"result in {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from train.report import write_report

    path = write_report(args.runs, args.out)
    print(f"report in {path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    tune_malloc()
    from train.config import load_config
    from train.trainer import train

    config = load_config(args.config, args.overrides)
    out = train(config, resume=args.resume, progress=not args.quiet)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return 0
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
