"""``vcl export`` and ``vcl predict``. torch is imported only when a command needs it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train.allocator import tune_malloc


def add_predict_command(subparsers: argparse._SubParsersAction) -> None:
    pr = subparsers.add_parser("predict", help="classify raw clip files with a model")
    pr.add_argument(
        "--model", type=Path, required=True, help="checkpoint directory or exported model directory"
    )
    pr.add_argument("files", type=Path, nargs="+", help="clip files (.skeleton, .txt, .mat, .npz)")
    pr.add_argument("--json", action="store_true", help="machine-readable output with all logits")
    pr.add_argument("--top", type=int, default=5)
    pr.add_argument(
        "--explain",
        action="store_true",
        help="which joints mattered: per-frame, per-joint attribution of the predicted class "
        "(the model's class activation map; an exported model needs its 'cam' output)",
    )
    pr.add_argument("--explain-class", help="explain this class (a class name) instead of the predicted one")
    pr.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "fp16", "int8"],
        help="an exported model's graph: fp32, a variant, or auto (the default: int8 on a CPU where its "
        "export guard passed, as vcl serve runs it, else fp32)",
    )
    pr.set_defaults(func=_predict)


def add_export_commands(subparsers: argparse._SubParsersAction) -> None:
    ex = subparsers.add_parser("export", help="export a checkpoint to ONNX with a parity check")
    ex.add_argument("--checkpoint", type=Path, required=True)
    ex.add_argument("--out", type=Path, required=True, help="model directory to write")
    ex.add_argument(
        "--precision",
        nargs="*",
        choices=["fp16", "int8"],
        default=None,
        help="also write these variants (fp16 for GPUs, int8 for CPUs), with their accuracy delta; named "
        "here, a variant the guard refuses fails the export. Default: int8 where its guard passes (left "
        "out, with the reason in the manifest, where it does not), which vcl serve then runs on a CPU",
    )
    ex.add_argument(
        "--no-int8",
        dest="int8",
        action="store_false",
        help="write no int8 variant by default (fp32 only, unless --precision names variants)",
    )
    ex.add_argument(
        "--no-fold-bn",
        dest="fold_bn",
        action="store_false",
        help="export the model as trained, without folding BatchNorms into the convolutions",
    )
    ex.add_argument(
        "--no-skip-absent",
        dest="skip_absent",
        action="store_false",
        help="run every person slot through the backbones, all-zero ones too (by default an absent "
        "person's constant response is used: exact, about half the work on one-person clips)",
    )
    ex.add_argument(
        "--lossy-int8",
        action="store_true",
        help="keep an int8 variant that fails the guard (top-1 more than 1 point below fp32's on labelled "
        "held-out fixture clips, or under 90%% agreement without labels)",
    )
    ex.add_argument("--max-batch", type=int, default=64, help="largest batch checked for parity")
    ex.add_argument("--fixture", type=Path, help="prepared dataset whose clips are used for the parity check")
    ex.add_argument("--overwrite", action="store_true")
    ex.add_argument(
        "--reference",
        type=Path,
        help="prepared dataset whose validation clips (carved from --reference-split's train part) set the "
        "unknown threshold, the percentiles and the calibrated error probability in the manifest",
    )
    ex.add_argument(
        "--reference-split", default="xsub", help="protocol whose train part holds the validation clips"
    )
    ex.add_argument(
        "--validation", choices=["subject", "hash"], default="subject", help="how validation is carved"
    )
    ex.add_argument("--validation-fraction", type=float, default=0.2)
    ex.add_argument(
        "--unknown-score",
        choices=["sigma", "softmax", "wrong_probability"],
        default="softmax",
        help="the score the default unknown threshold applies to (docs/evaluation.md: softmax, measured)",
    )
    ex.add_argument("--flag-rate", type=float, default=0.05, help="share of validation clips flagged unknown")
    ex.add_argument(
        "--calibrate-on",
        nargs="+",
        choices=["sigma", "softmax"],
        default=["softmax"],
        help="scores the probability of a wrong label is fitted on (docs/evaluation.md: softmax, measured)",
    )
    ex.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    tune_malloc()
    from export.onnx_export import DEFAULT_PRECISIONS, export_checkpoint
    from export.reference import ReferenceSpec

    calibrate = (
        ReferenceSpec(
            args.reference,
            args.reference_split,
            args.validation,
            args.validation_fraction,
            args.unknown_score,
            args.flag_rate,
            tuple(args.calibrate_on),
        )
        if args.reference
        else None
    )
    named = args.precision is not None
    precisions = tuple(args.precision) if named else DEFAULT_PRECISIONS if args.int8 else ()
    manifest = export_checkpoint(
        args.checkpoint,
        args.out,
        precisions,
        args.max_batch,
        args.fixture,
        overwrite=args.overwrite,
        fold_bn=args.fold_bn,
        skip_absent=args.skip_absent,
        lossy_int8=args.lossy_int8,
        calibrate=calibrate,
        int8_if_guarded=not named,
    )
    parity = manifest["parity"]
    worst = max(e for b in parity["batches"].values() for e in b["max_abs_error"].values())
    print(
        f"exported {args.checkpoint} to {args.out / 'model.onnx'} (opset {manifest['opset']}, outputs "
        f"{', '.join(manifest['outputs'])})"
    )
    print(
        f"parity with PyTorch at batches {', '.join(parity['batches'])}: max abs error {worst:.2e}, argmax "
        f"and top-10 neighbours identical"
    )
    if "uncertainty" in manifest:
        u = manifest["uncertainty"]
        print(
            f"uncertainty from {u['reference']}: error rate {u['error_rate']:.1%}, unknown when "
            f"{u['unknown']['score']} > {u['unknown']['threshold']:.4f} "
            f"({u['unknown']['flag_rate']:.0%} of them)"
        )
    for name, variant in manifest["variants"].items():
        delta = variant["accuracy_delta_vs_fp32"]
        agreement = delta.get("fused_argmax_agreement")
        print(
            f"{name}: {variant['file']}, fused argmax agreement with fp32 "
            f"{'n/a' if agreement is None else f'{agreement:.1%}'}, embedding cosine >= "
            f"{delta['embedding_min_cosine']:.4f}"
        )
    for name, reason in manifest.get("variants_left_out", {}).items():
        print(f"{name}: not written ({reason}); the model is served in fp32")
    return 0


def _predict(args: argparse.Namespace) -> int:
    tune_malloc()
    from export.predict import predict_files

    results = predict_files(
        args.model,
        args.files,
        top=args.top,
        explain=args.explain,
        explain_class=args.explain_class,
        precision=args.precision,
    )
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for r in results:
        top = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in r["top"])
        print(f"{r['name']}: {r['label']} (class {r['class_index']}); top-{args.top}: {top}")
        if "explanation" in r:
            e = r["explanation"]
            joints = ", ".join(f"{j['joint']} {j['share']:+.0%}" for j in e["top_joints"])
            print(f"  why {e['label']}: {joints or 'no joint speaks for it'}")
    return 0
