"""``vcl serve``: run the service under uvicorn."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="serve classify/embed/search over HTTP")
    serve.add_argument("--model", type=Path, required=True, help="exported model directory")
    serve.add_argument("--index", type=Path, help="index directory (enables /v1/search)")
    serve.add_argument(
        "--data-root", type=Path, help="the folder request paths may name (clips by path, rebuild folders)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from server.app import create_app
    from server.connections import uvicorn_config
    from server.settings import Settings
    from skeleton.errors import SkeletonError

    # the other settings (and the index, when --index is not given) come from VCL_* variables
    overrides: dict[str, Any] = {"model_dir": str(args.model)}
    if args.index:
        overrides["index_dir"] = str(args.index)
    if args.data_root:
        overrides["data_root"] = str(args.data_root)
    if "VCL_PUBLIC_URL" not in os.environ:
        overrides["public_url"] = f"http://{args.host}:{args.port}"
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        raise SkeletonError(f"invalid settings: {'; '.join(e['msg'] for e in err.errors())}") from None
    print(f"serving on http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
    uvicorn.Server(uvicorn_config(create_app(settings), settings, args.host, args.port)).run()
    return 0
