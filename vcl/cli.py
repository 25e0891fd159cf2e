"""The ``vcl`` command line. Subcommands live beside the code they drive; errors become one line."""

from __future__ import annotations

import argparse
import sys

from common.errors import VclError
from export.cli import add_export_commands, add_predict_command
from index.cli import add_index_commands
from server.cli import add_serve_command
from server.client_cli import add_client_commands
from skeleton.cli import add_data_commands
from train.allocator import tune_malloc
from train.cli import add_eval_commands, add_train_commands
from vcl.demo import add_demo_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcl",
        description="Variational contrastive learning for skeleton action recognition and motion retrieval",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_data_commands(sub)
    add_train_commands(sub)
    add_predict_command(sub)
    add_eval_commands(sub)
    add_export_commands(sub)
    add_index_commands(sub)
    add_serve_command(sub)
    add_client_commands(sub)
    add_demo_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    tune_malloc()  # before any command imports torch (train.allocator; VCL_MALLOC_TUNING=0: off)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (VclError, OSError) as err:
        print(f"vcl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vcl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
