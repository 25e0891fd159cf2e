"""``vcl data prepare`` and ``vcl data info``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from skeleton.datasets import DATASETS
from skeleton.errors import SkeletonError
from skeleton.layouts import LAYOUTS
from skeleton.merge import merge_datasets, parse_source
from skeleton.pipelines import PIPELINES
from skeleton.prepare import prepare_dataset
from skeleton.prepared import PreparedDataset


def add_data_commands(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="prepare and inspect datasets")
    sub = data.add_subparsers(dest="data_command", required=True)

    prep = sub.add_parser("prepare", help="raw captures -> prepared dataset directory")
    prep.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    prep.add_argument("--root", type=Path, help="raw data folder or file (not needed for synthetic)")
    prep.add_argument("--out", type=Path, required=True, help="output directory")
    prep.add_argument(
        "--protocol",
        action="append",
        dest="protocols",
        help="protocol to split by (repeatable; default: all of the dataset's)",
    )
    prep.add_argument("--pipeline", default="vcl-official", choices=sorted(PIPELINES))
    prep.add_argument(
        "--pipeline-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a pipeline option (repeatable; VALUE as JSON, else a string), e.g. keep_score=false",
    )
    prep.add_argument("--map-to", choices=sorted(LAYOUTS), help="map every clip to this layout first")
    prep.add_argument(
        "--project-2d",
        action="store_true",
        help="see 3D captures through a pinhole camera (x, y pixels, score 1) for a 2D pipeline",
    )
    prep.add_argument("--skip-list", type=Path, help="file of sample names to skip")
    prep.add_argument("--num-samples", type=int, default=2000, help="synthetic: number of clips")
    prep.add_argument("--seed", type=int, default=0, help="synthetic: seed")
    prep.add_argument("--synthetic-layout", default="ntu", choices=sorted(LAYOUTS), help="synthetic: layout")
    prep.add_argument(
        "--synthetic-channels",
        default="xyz",
        choices=["xyz", "xys", "xy"],
        help="synthetic: xyz metres, or xys / xy pixels through a camera",
    )
    prep.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    prep.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(func=_prepare)

    merge = sub.add_parser("merge", help="several prepared datasets of one layout -> one")
    merge.add_argument(
        "sources",
        nargs="+",
        metavar="DIR[:PART]",
        help="prepared datasets; PART: split (keep train/test, the default), train (its training "
        "clips only) or all (every clip as training data, e.g. for pretraining)",
    )
    merge.add_argument("--out", type=Path, required=True, help="output directory")
    merge.add_argument("--protocol", default="xsub", help="the protocol whose parts are kept (default xsub)")
    merge.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    merge.add_argument("--quiet", action="store_true", help="no progress bar")
    merge.set_defaults(func=_merge)

    info = sub.add_parser("info", help="summary of a prepared dataset")
    info.add_argument("directory", type=Path)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--verify", action="store_true", help="recompute the content hash")
    info.set_defaults(func=_info)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["keep_score=false", "channels=xys"]`` -> ``{"keep_score": False, "channels": "xys"}``."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SkeletonError(f"--pipeline-option {pair!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _prepare(args: argparse.Namespace) -> int:
    manifest = prepare_dataset(
        args.dataset,
        args.root,
        args.out,
        protocols=args.protocols,
        pipeline=args.pipeline,
        pipeline_options=parse_options(args.pipeline_option),
        map_to=args.map_to,
        project_2d=args.project_2d,
        skip_list=args.skip_list,
        num_samples=args.num_samples,
        seed=args.seed,
        synthetic_layout=args.synthetic_layout,
        synthetic_channels=args.synthetic_channels,
        workers=args.workers,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    counts = manifest["counts"]
    print(
        f"prepared {counts['clips']} clips from {counts['inputs']} inputs into {args.out} "
        f"({manifest['dataset']}, layout {manifest['layout']}, channels {manifest['channels']}, "
        f"pipeline {manifest['pipeline']['name']} "
        f"v{manifest['pipeline']['version']}, shape {tuple(manifest['shape'])})"
    )
    if manifest["mapping"]:
        synthesised = ", ".join(manifest["mapping"]["synthesised"]) or "none"
        print(f"  mapped from {manifest['mapping']['from']}; synthesised joints: {synthesised}")
    for protocol, parts in manifest["splits"].items():
        print(f"  {protocol}: train {parts['train']}, test {parts['test']}")
    if counts["skipped"]:
        print(f"skipped {counts['skipped']} bad input(s); reasons in {args.out / 'skipped.json'}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    manifest = merge_datasets(
        [parse_source(s) for s in args.sources],
        args.out,
        protocol=args.protocol,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    parts = manifest["splits"][args.protocol]
    print(
        f"merged {manifest['num_samples']} clips from {len(args.sources)} datasets into {args.out} "
        f"(layout {manifest['layout']}, {manifest['num_classes']} classes); "
        f"{args.protocol}: train {parts['train']}, test {parts['test']}"
    )
    for source in manifest["source"]["merged"]:
        print(f"  {source['path']} ({source['part']}): {source['clips']} clips, {source['train']} to train")
    return 0


def _info(args: argparse.Namespace) -> int:
    dataset = PreparedDataset(args.directory)
    if args.verify:
        dataset.verify()
    summary = dataset.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    for key, value in summary.items():
        if key == "splits":
            for protocol, parts in value.items():
                print(f"split {protocol}: train {parts['train']}, test {parts['test']}")
        else:
            print(f"{key}: {value}")
    if args.verify:
        print("content hash verified")
    return 0
