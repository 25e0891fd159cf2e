"""``vcl serve``: run the service under uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="serve classify/embed/search over HTTP")
    serve.add_argument("--model", type=Path, required=True, help="exported model directory")
    serve.add_argument("--index", type=Path, help="index directory (enables /v1/search)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.settings import Settings

    # the other settings (and the index, when --index is not given) come from VCL_* variables
    overrides: dict[str, Any] = {"model_dir": str(args.model)}
    if args.index:
        overrides["index_dir"] = str(args.index)
    settings = Settings(**overrides)
    uvicorn.run(create_app(settings), host=args.host, port=args.port)
    return 0
