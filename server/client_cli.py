"""``vcl client classify|search|info|add|remove|rebuild|job``: drive a running server over HTTP.

One line per result by default, the server's full JSON with ``--json``. An error answer prints
``vcl: error: HTTP <status>: <detail>`` and exits 2. Standard library only (``server.client``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.client import DEFAULT_URL, ApiError, VclClient

Command = Callable[[VclClient, argparse.Namespace], int]


def add_client_commands(subparsers: argparse._SubParsersAction) -> None:
    client = subparsers.add_parser("client", help="talk to a running `vcl serve` over HTTP")
    client.add_argument(
        "--url",
        default=os.environ.get("VCL_URL", DEFAULT_URL),
        help=f"server URL (env VCL_URL, {DEFAULT_URL})",
    )
    client.add_argument(
        "--key", help="API key (default: env VCL_API_KEY; the environment keeps it out of ps)"
    )
    client.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    sub = client.add_subparsers(dest="client_command", required=True)
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print the server's full JSON answer")

    classify = sub.add_parser("classify", parents=[out], help="label clip files (every clip in each file)")
    classify.add_argument("files", type=Path, nargs="+")
    classify.add_argument("--top-k", type=int, default=3, help="labels per clip (default 3)")
    classify.add_argument("--per-person", action="store_true", help="one result per person (track)")
    classify.set_defaults(func=_run(_classify))

    search = sub.add_parser("search", parents=[out], help="indexed clips most like one clip file")
    search.add_argument("file", type=Path)
    search.add_argument("--k", type=int, default=10)
    search.add_argument("--label", help="only neighbours with this label")
    search.add_argument("--uncertainty-aware", action="store_true", help="re-rank by mutual likelihood (MLS)")
    search.set_defaults(func=_run(_search))

    info = sub.add_parser("info", parents=[out], help="the served model and index")
    info.set_defaults(func=_run(_info))

    add = sub.add_parser("add", parents=[out], help="add clip files to the index (admin key)")
    add.add_argument("files", type=Path, nargs="+")
    add.add_argument("--label", help="label stored with every added clip")
    add.set_defaults(func=_run(_add))

    remove = sub.add_parser("remove", parents=[out], help="remove an item from the index (admin key)")
    remove.add_argument("id", type=int)
    remove.set_defaults(func=_run(_remove))

    rebuild = sub.add_parser("rebuild", parents=[out], help="rebuild the index (admin key)")
    source = rebuild.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", help="clip files or a prepared dataset under the server's data root")
    source.add_argument("--archive", type=Path, help="a local .zip or .tar[.gz] of clip files to upload")
    rebuild.add_argument("--wait", action="store_true", help="wait until the job has finished")
    rebuild.add_argument("--wait-timeout", type=float, default=600.0, help="seconds to wait (default 600)")
    rebuild.set_defaults(func=_run(_rebuild))

    job = sub.add_parser("job", parents=[out], help="status of an index job (admin key)")
    job.add_argument("job_id")
    job.set_defaults(func=_run(_job))


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        key = args.key if args.key is not None else os.environ.get("VCL_API_KEY")
        try:
            client = VclClient(args.url, api_key=key or None, timeout=args.timeout)
            return command(client, args)
        except (ApiError, ValueError) as err:
            print(f"vcl: error: {err}", file=sys.stderr)
            return 2

    return run


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


# ---------------------------------------------------------------------------- one line per result
def classify_line(result: dict[str, Any]) -> str:
    """``name: label  p=0.91  uncertainty=-3.20 [unknown]  next: b 0.05, c 0.02``."""
    line = f"{result['name']}: {result['label']}  p={result['probability']:.2f}"
    uncertainty = result.get("uncertainty") or {}
    if uncertainty.get("score") is not None:
        line += f"  uncertainty={uncertainty['score']:.2f}"
    elif uncertainty.get("softmax_entropy") is not None:
        line += f"  entropy={uncertainty['softmax_entropy']:.2f}"
    if result.get("unknown"):
        line += " [unknown]"
    if result.get("span") is not None:
        line += f"  frames {result['span'][0]}-{result['span'][1]}"
    if result.get("mapped_from"):
        line += f"  (mapped from {result['mapped_from']})"
    rest = (result.get("top_k") or [])[1:]
    if rest:
        line += "  next: " + ", ".join(f"{t['label']} {t['probability']:.2f}" for t in rest)
    return line


def neighbour_line(rank: int, hit: dict[str, Any]) -> str:
    """``1. id 12  score=0.998  mls=-40.1  wave  synthetic_s9_000012``."""
    meta = hit.get("metadata") or {}
    name = (meta.get("user") or {}).get("name") or meta.get("source") or ""
    line = f"{rank}. id {hit['id']}  score={hit['score']:.3f}"
    if hit.get("mls") is not None:
        line += f"  mls={hit['mls']:.1f}"
    return f"{line}  {hit.get('label') or '-'}  {name}".rstrip()


def job_line(job: dict[str, Any]) -> str:
    line = f"job {job['id']}: {job['status']}"
    if job["status"] == "succeeded":
        result = job.get("result") or {}
        return f"{line}, index {result.get('version')} with {result.get('count')} clips"
    if job["status"] == "failed":
        return f"{line}: {job.get('error')}"
    return f"{line} (stage {job.get('stage')})"


# ---------------------------------------------------------------------------- commands
def _classify(client: VclClient, args: argparse.Namespace) -> int:
    answer = client.classify(files=args.files, top_k=args.top_k, per_person=args.per_person)
    if args.json:
        _print_json(answer)
    else:
        for result in answer["results"]:
            print(classify_line(result))
    return 0


def _search(client: VclClient, args: argparse.Namespace) -> int:
    answer = client.search(
        file=args.file, k=args.k, label=args.label, uncertainty_aware=args.uncertainty_aware
    )
    if args.json:
        _print_json(answer)
    else:
        for rank, hit in enumerate(answer["neighbours"], start=1):
            print(neighbour_line(rank, hit))
        if not answer["neighbours"]:
            print(f"no neighbours (index {answer['version']})")
    return 0


def _info(client: VclClient, args: argparse.Namespace) -> int:
    model = client.model()
    try:
        index: dict[str, Any] | None = client.index()
        missing = ""
    except ApiError as err:
        if err.status != 404:
            raise
        index, missing = None, err.detail
    if args.json:
        _print_json({"model": model, "index": index})
        return 0
    classes = (
        f"{model['num_classes']} classes" if model.get("num_classes") else "no classifier (pretraining only)"
    )
    streams = ", ".join(model["streams"])
    print(
        f"model: {model.get('method')} on {model['layout']}, streams {streams}, {classes}, "
        f"embedding dim {model['embedding_dim']}, sha256 {str(model.get('model_sha256'))[:12]}, "
        f"providers {', '.join(model.get('providers') or [])}"
    )
    if index is None:
        print(f"index: none ({missing})")
    else:
        print(f"index: {index['version']}, {index['count']} clips, dim {index['dim']}, {index['kind']}")
    return 0


def _add(client: VclClient, args: argparse.Namespace) -> int:
    answer = client.add_items(files=args.files, label=args.label)
    if args.json:
        _print_json(answer)
    else:
        print(f"added ids {', '.join(map(str, answer['ids']))} (index {answer['version']})")
    return 0


def _remove(client: VclClient, args: argparse.Namespace) -> int:
    answer = client.remove_item(args.id)
    if args.json:
        _print_json(answer)
    else:
        print(f"removed {answer['removed']} (index {answer['version']})")
    return 0


def _rebuild(client: VclClient, args: argparse.Namespace) -> int:
    started = client.rebuild(folder=args.folder, archive=args.archive)
    job = started["job"]
    if args.wait:
        job = client.wait_job(job["id"], timeout=args.wait_timeout)
    if args.json:
        _print_json(job if args.wait else started)
    else:
        print(job_line(job))
    if job["status"] == "failed":
        print(f"vcl: error: rebuild job {job['id']} failed: {job.get('error')}", file=sys.stderr)
        return 2
    return 0


def _job(client: VclClient, args: argparse.Namespace) -> int:
    job = client.job(args.job_id)
    if args.json:
        _print_json(job)
    else:
        print(job_line(job))
    return 0


__all__ = ["add_client_commands", "classify_line", "job_line", "neighbour_line"]
