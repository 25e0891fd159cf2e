"""``vcl index build|merge|add|remove|search|info``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from runtime.model import AUTO, OnnxModel


def add_index_commands(subparsers: argparse._SubParsersAction) -> None:
    idx = subparsers.add_parser("index", help="nearest-neighbour action index")
    sub = idx.add_subparsers(dest="index_command", required=True)
    build = sub.add_parser("build", help="build an index from a prepared dataset or clip files")
    build.add_argument("--model", type=Path, required=True, help="exported model directory")
    build.add_argument(
        "--data",
        type=Path,
        nargs="+",
        required=True,
        help="a prepared dataset directory, or clip files and folders",
    )
    build.add_argument("--out", type=Path, required=True, help="index directory (with --shard: shard folder)")
    build.add_argument(
        "--kind",
        choices=["auto", "flat", "ivf", "hnsw"],
        default="auto",
        help="auto: exact below 100k clips, IVF above (with --shard: chosen at `index merge`)",
    )
    build.add_argument(
        "--no-previews", action="store_true", help="do not store skeleton previews (about 7 KB per NTU clip)"
    )
    build.add_argument(
        "--shard",
        metavar="I/N",
        help="embed only shard I (0-based) of N into a shard file in --out; join them with `index merge`",
    )
    build.set_defaults(func=_build)
    merge = sub.add_parser("merge", help="join the shard files of a sharded build into one index version")
    merge.add_argument("shards", type=Path, nargs="+", help="shard files, or folders of them")
    merge.add_argument("--out", type=Path, required=True, help="index directory")
    merge.add_argument("--kind", choices=["auto", "flat", "ivf", "hnsw"], default="auto")
    merge.set_defaults(func=_merge)
    add = sub.add_parser("add", help="add clip files")
    add.add_argument("--index", type=Path, required=True)
    add.add_argument("--model", type=Path, required=True)
    add.add_argument("files", type=Path, nargs="+")
    add.set_defaults(func=_add)
    rm = sub.add_parser("remove", help="remove items by id")
    rm.add_argument("--index", type=Path, required=True)
    rm.add_argument("ids", type=int, nargs="+")
    rm.set_defaults(func=_remove)
    search = sub.add_parser("search", help="neighbours of a clip file")
    search.add_argument("--index", type=Path, required=True)
    search.add_argument("--model", type=Path, required=True)
    search.add_argument("file", type=Path)
    search.add_argument("--k", type=int, default=10)
    search.add_argument("--label", help="only neighbours with this label")
    search.add_argument("--uncertainty-aware", action="store_true", help="re-rank by mutual likelihood (MLS)")
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=_search)
    for command in (build, add, search):  # the graph that embeds: by default the one vcl serve runs
        command.add_argument(
            "--precision",
            default=AUTO,
            choices=[AUTO, "fp32", "fp16", "int8"],
            help="the model's graph that embeds the clips: fp32, a variant (int8, fp16), or auto (the "
            "default: int8 on a CPU where its export guard passed, as vcl serve runs it, else fp32)",
        )
    info = sub.add_parser("info", help="version, count, model of an index")
    info.add_argument("--index", type=Path, required=True)
    info.set_defaults(func=_info)


def _model(path: Path, precision: str) -> OnnxModel:
    return OnnxModel(path, precision=precision)


def _build(args: argparse.Namespace) -> int:
    from index.action_index import ActionIndex
    from index.build import from_files, from_prepared

    model = _model(args.model, args.precision)
    if args.shard is not None:
        from index.shards import ShardSpec, build_shard

        spec = ShardSpec.parse(args.shard)
        path, count = build_shard(model, args.data, spec, args.out, previews=not args.no_previews)
        print(f"embedded shard {spec}: {count} clips -> {path}")
        return 0
    if len(args.data) == 1 and (args.data[0] / "manifest.json").is_file():
        emb, items = from_prepared(model, args.data[0], previews=not args.no_previews)
    else:
        emb, items = from_files(model, args.data, first_id=0, previews=not args.no_previews)
    index = ActionIndex.create(
        args.out, emb.embedding, items, emb.sigma, model.manifest.model_sha256, args.kind
    )
    print(f"built {args.out} {index.version}: {len(items)} clips, dim {emb.embedding.shape[1]}, {args.kind}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from index.shards import merge

    index, count = merge(args.shards, args.out, args.kind)
    print(f"merged {count} clips into {args.out} {index.version} ({args.kind})")
    return 0


def _add(args: argparse.Namespace) -> int:
    from index.action_index import ActionIndex
    from index.build import from_files

    model = _model(args.model, args.precision)
    index = ActionIndex(args.index, model.manifest.model_sha256, model.manifest.embedding_dim)
    emb, items = from_files(model, args.files)
    version = index.add(emb.embedding, items, emb.sigma)
    print(f"added {len(items)} clips (ids {', '.join(str(i.id) for i in items)}) -> {version}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from index.action_index import ActionIndex

    version = ActionIndex(args.index).remove(args.ids)
    print(f"removed {len(args.ids)} ids -> {version}")
    return 0


def _search(args: argparse.Namespace) -> int:
    from index.action_index import ActionIndex
    from index.build import from_files

    model = _model(args.model, args.precision)
    index = ActionIndex(args.index, model.manifest.model_sha256, model.manifest.embedding_dim)
    for message in index.messages:
        print(f"warning: {message}")
    emb, items = from_files(model, [args.file], previews=False)
    sigmas = emb.sigma if args.uncertainty_aware else None
    hits = index.search(emb.embedding, args.k, args.label, sigmas)
    if args.json:
        print(
            json.dumps(
                [
                    {"query": item.user["name"], "neighbours": [h.to_json() for h in row]}
                    for item, row in zip(items, hits, strict=True)
                ],
                indent=1,
            )
        )
        return 0
    for item, row in zip(items, hits, strict=True):
        print(f"{item.user['name']} (index {index.version}):")
        for h in row:
            extra = "" if h.mls is None else f"  mls {h.mls:.2f}"
            name = h.metadata["user"].get("name", h.metadata["source"])
            print(f"  {h.id:6d}  {h.score:.3f}{extra}  {h.label}  {name}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from index.action_index import ActionIndex

    print(json.dumps(ActionIndex(args.index).info(), indent=1))
    return 0
