"""The momentum (key) encoders of a MoCo run written as a checkpoint of their own, to probe them.

MoCo's key encoder is an exponential average of the query encoder; in some self-supervised methods
the averaged network is the better one to evaluate. This writes it (from the run's ``last``
checkpoint's ``state.pt``, the same architecture and meta) so ``vcl eval linear`` can compare the
two (docs/RESULTS.md, issue 16).
Usage: python bench/key_encoder.py RUN/checkpoints/last OUT_CHECKPOINT_DIR
"""

from __future__ import annotations

from pathlib import Path

from harness import bench_parser


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("checkpoint", type=Path, help="a run's last checkpoint (it holds state.pt)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    import torch

    from train.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    if not (args.checkpoint / "state.pt").is_file():
        raise SystemExit(
            f"{args.checkpoint}: no state.pt (only a run's checkpoints/last keeps the key encoders)"
        )
    # our own run's state (optimizer, queues, RNG): not client data
    state = torch.load(args.checkpoint / "state.pt", map_location="cpu", weights_only=False)["method"]
    for stream in model.streams:
        prefix = f"key.{stream}."
        weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not weights:
            raise SystemExit(f"{args.checkpoint}: state.pt holds no key encoder for stream {stream!r}")
        model.encoders[stream].load_state_dict(weights)
    written = ("format", "format_version", "streams", "fusion_weights", "weights_sha256")
    kept = {k: v for k, v in meta.items() if k not in written}
    save_checkpoint(args.out, model, kept, (args.checkpoint / "config.yaml").read_text())
    print(f"wrote the key encoders of {args.checkpoint} to {args.out}")


if __name__ == "__main__":
    main()
