"""Loopback load on the HTTP service: direct runtime vs the server with and without batching, in one run.

Each phase runs at 1, 8 and 32 concurrent clients (threads), one clip per call:
1. direct: ``preprocess_clips`` + ``OnnxModel.run`` in this process, no HTTP (the server's own path);
2. batched: ``vcl serve`` as a subprocess on 127.0.0.1 with the default batching (VCL_MAX_BATCH 32,
   VCL_MAX_WAIT_MS 5, VCL_INFERENCE_WORKERS 2); each client a thread with its own keep-alive
   ``http.client`` connection posting ``/v1/embed`` (or ``/v1/classify``) with one clip of JSON
   joints [M][T][V][3];
3. unbatched: the same server with VCL_MAX_BATCH=1.
``--body npy`` posts the same clips as one ``.npy`` array each (float32, ``Content-Type:
application/x-npy``) to ``/v1/embed/npy`` (or ``/v1/classify/npy``), the binary fast path;
``--body json npy`` runs both side by side (phases ``batched``/``unbatched`` for JSON,
``batched-npy``/``unbatched-npy`` for .npy) and reports npy/json. ``--workers 1 4`` adds a
batched server for each VCL_INFERENCE_WORKERS given (phases ``batched-w1``, ``batched-npy-w4``, ...):
that many batches in flight at once (``server.sessions`` picks each one's intra-op threads).
Both servers start first; then for each concurrency the three phases run back to back, so load
that drifts on a shared machine hits both sides of each ratio alike; with ``--rounds R`` each
level is repeated R times and each phase keeps its fastest round (other load only slows a round).
Every level sends ``--requests`` per client after ``--warmup`` unmeasured ones, stopping early at
``--max-seconds``. Reported per level: clips/s, latency p50/p99 (successful calls), errors by
status; from ``/metrics`` (differenced around the level) the mean clips per ONNX Runtime call, the
mean ONNX Runtime time of a call and that time over wall time; CPU ms per request of the
server process and of this process (they share the machine); and how many CPUs other processes
kept busy meanwhile (the machine may be shared: a large figure there spoils the level). Then the
ratios batched/unbatched ("batching gain") and batched/direct, and first the runtime alone called
on 1, 8, 32 stacked clips: the most batching can win in the model itself on this machine.
Absolute times drift on a shared machine; compare the ratios.
Without --model a tiny randomly initialised three-stream VCL model is exported first, in a child
process, so this one stays torch-free like the server (timing does not depend on the weights).
This file is the command line and the report; the client threads and probes are
``load_generator.py``, the server subprocess ``server_process.py``, the direct path
``direct_runtime.py``.

Usage: python bench/server_load.py [--model DIR] [--endpoint embed] [--body json] [--clients 1 8 32]
       [--requests 40] [--warmup 2] [--max-seconds 30] [--rounds 1] [--threads 0] [--json OUT]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from direct_runtime import DirectClient, stacked_rates
from harness import bench_parser, random_checkpoint
from load_generator import OK, Client, HttpClient, Probe, cpu_seconds, local_probe, run_level
from server_process import REPO, scrape, serve


# ---------------------------------------------------------------------------- the default model
def build_tiny_model(out: Path) -> None:
    """Export a tiny three-stream VCL model (Gaussian head, classifier) with random weights to ``out``.

    The architecture of the tests' tiny model (tests/conftest.py ``TINY_MODEL``), without training.
    """
    from train.allocator import tune_malloc

    tune_malloc()
    import torch

    from export.onnx_export import export_checkpoint
    from skeleton.synthetic import SYNTHETIC_CLASSES

    torch.manual_seed(0)
    architecture = {
        "widths": [8, 8, 16],
        "strides": [1, 2, 1],
        "dropout": 0.5,
        "hidden_dim": 32,
        "projection_dim": 16,
        "latent_dim": 8,
    }
    checkpoint = random_checkpoint(out.parent / "ckpt", "gaussian", SYNTHETIC_CLASSES, architecture)
    export_checkpoint(checkpoint, out, max_batch=8)


# ---------------------------------------------------------------------------- report
LEGEND = (
    "batch: mean clips per ONNX Runtime call (vcl_batch_size_clips sum/count); ORT ms: mean time of a "
    "call (vcl_inference_duration_seconds, timed inside the worker thread); busy: that "
    "time / wall time; srv CPU, own CPU: CPU ms per request of the server process and of this process "
    "(direct: everything); other: CPUs kept busy by other processes during the level (shared machine)"
)


BODIES = {"json": "application/json", "npy": "application/x-npy"}
PHASE_WIDTH = 14


def phase_names(body: str) -> tuple[str, str]:
    """The (batched, unbatched) phase names of a body kind."""
    suffix = "" if body == "json" else f"-{body}"
    return f"batched{suffix}", f"unbatched{suffix}"


def encode_bodies(clips: list[Any], body: str, decimals: int) -> list[bytes]:
    """One request body per clip: JSON joints rounded to ``decimals``, or the float32 ``.npy``."""
    if body == "json":
        return [
            json.dumps(
                {"clips": [{"joints": np.round(c.joints, decimals).tolist(), "layout": "ntu"}]}
            ).encode()
            for c in clips
        ]
    out = []
    for c in clips:
        buffer = io.BytesIO()
        np.save(buffer, c.joints.astype(np.float32), allow_pickle=False)
        out.append(buffer.getvalue())
    return out


def print_row(phase: str, level: dict[str, Any]) -> None:
    d = level["delta"]
    n = max(level["ok"] + sum(level["errors"].values()), 1)
    errors = ",".join(f"{k}:{v}" for k, v in level["errors"].items()) or "0"
    batches = d.get("batch_clips_count", 0.0)
    batch = f"{d['batch_clips_sum'] / batches:6.1f}" if batches else f"{'-':>6}"
    ort_ms = f"{1000 * d['inference_s'] / batches:7.2f}" if batches else f"{'-':>7}"
    busy = f"{d['inference_s'] / level['seconds']:5.0%}" if batches else f"{'-':>5}"
    server_cpu = f"{1000 * d['server_cpu_s'] / n:7.2f}" if "server_cpu_s" in d else f"{'-':>7}"
    others = max(d["machine_busy_s"] - d["bench_cpu_s"] - d.get("server_cpu_s", 0.0), 0.0)  # ticks: 10 ms
    p50, p99 = (f"{x:8.1f}" if x is not None else f"{'-':>8}" for x in (level["p50_ms"], level["p99_ms"]))
    print(
        f"{phase:>{PHASE_WIDTH}} | {level['clients']:>7} | {level['ok']:>5} | {errors:>6} | "
        f"{level['clips_per_s']:8.1f} | {p50} | {p99} | {batch} | {ort_ms} | {busy} | {server_cpu} | "
        f"{1000 * d['bench_cpu_s'] / n:7.2f} | {others / level['probe_window_s']:5.2f}"
    )


def summary(phases: dict[str, list[dict[str, Any]]], bodies: list[str]) -> dict[str, dict[str, float]]:
    """Ratios per concurrency: batched/unbatched and batched/direct for each body kind (keys
    suffixed ``_npy`` for .npy), and ``npy_vs_json`` (batched) when both ran."""
    rates = {
        name: {level["clients"]: level["clips_per_s"] for level in levels} for name, levels in phases.items()
    }

    def ratio(top: str, bottom: str) -> dict[str, float]:
        return {c: rates[top][c] / rates[bottom][c] for c in rates[top] if rates[bottom].get(c)}

    out = {}
    for body in bodies:
        batched, unbatched = phase_names(body)
        suffix = "" if body == "json" else f"_{body}"
        out[f"batching_gain{suffix}"] = ratio(batched, unbatched)
        out[f"batched_vs_direct{suffix}"] = ratio(batched, "direct")
        for name in rates:
            if name.startswith(f"{batched}-w"):  # another VCL_INFERENCE_WORKERS
                out[f"{name}_vs_direct"] = ratio(name, "direct")
                out[f"{name}_vs_batched"] = ratio(name, batched)
    if {"json", "npy"} <= set(bodies):
        out["npy_vs_json"] = ratio(phase_names("npy")[0], phase_names("json")[0])
    return out


# ---------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--model", type=Path, help="exported model directory (default: a tiny one)")
    parser.add_argument("--endpoint", choices=("embed", "classify"), default="embed")
    parser.add_argument(
        "--body",
        choices=tuple(BODIES),
        nargs="+",
        default=["json"],
        help="request bodies: JSON joints, .npy, or both",
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=40, help="timed requests per client and level")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per client first")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="wall-clock cap per level")
    parser.add_argument("--rounds", type=int, default=1, help="repeats of each level; the fastest counts")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (VCL_THREADS)")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "int8"),
        help="the graph the servers (VCL_PRECISION) and the direct runtime run; auto: the server's default",
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[], help="VCL_INFERENCE_WORKERS of extra batched servers"
    )
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="VCL_MAX_WAIT_MS when batched")
    parser.add_argument("--decimals", type=int, default=4, help="decimals of the JSON joints (metres)")
    parser.add_argument("--num-clips", type=int, default=32, help="distinct synthetic clips sent in turn")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--build-tiny", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if (
        min(args.clients + args.workers + [args.requests, args.rounds, args.num_clips]) < 1
        or args.max_seconds <= 0
    ):
        parser.error(
            "--clients, --workers, --requests, --rounds and --num-clips must be >= 1, --max-seconds > 0"
        )
    return args


def measure(
    args: argparse.Namespace,
    model_dir: Path,
    model: Any,
    clips: list[Any],
    bodies: dict[str, list[bytes]],
    tmp: Path,
) -> dict[str, list[dict[str, Any]]]:
    """Start both servers, then run every level's phases (direct, then batched and unbatched for
    each body kind) back to back; prints each row."""
    configs = {
        "batched": {"VCL_MAX_BATCH": "32", "VCL_MAX_WAIT_MS": str(args.max_wait_ms)},
        "unbatched": {"VCL_MAX_BATCH": "1"},
    }
    for workers in dict.fromkeys(args.workers):
        configs[f"batched-w{workers}"] = {**configs["batched"], "VCL_INFERENCE_WORKERS": str(workers)}
    opens: dict[str, Callable[[], Client]] = {"direct": partial(DirectClient, model, clips)}
    probes: dict[str, Probe] = {"direct": local_probe}
    phases: dict[str, list[dict[str, Any]]] = {"direct": []}
    with ExitStack() as stack:
        for config, env in configs.items():
            log = tmp / f"{config}.log"
            env = {**env, "VCL_THREADS": str(args.threads), "VCL_PRECISION": args.precision}
            port, pid = stack.enter_context(serve(model_dir, env, log, args.startup_timeout))

            def probe(port: int = port, pid: int = pid) -> dict[str, float]:
                return {**scrape(port), "server_cpu_s": cpu_seconds(pid), **local_probe()}

            for body, encoded in bodies.items():
                route = f"/v1/{args.endpoint}" + ("" if body == "json" else f"/{body}")
                check = HttpClient(port, route, encoded, BODIES[body])
                outcome = check(0)
                check.close()
                if outcome != OK:
                    raise RuntimeError(f"POST {route} answered {outcome}; see {log}")
                batched, unbatched = phase_names(body)
                name = unbatched if config == "unbatched" else config.replace("batched", batched, 1)
                opens[name] = partial(HttpClient, port, route, encoded, BODIES[body])
                probes[name] = probe
                phases[name] = []
        for clients in args.clients:
            tries: dict[str, list[dict[str, Any]]] = {name: [] for name in phases}
            for _ in range(args.rounds):
                for name in phases:
                    tries[name].append(
                        run_level(
                            opens[name], clients, probes[name], args.requests, args.warmup, args.max_seconds
                        )
                    )
            for name, levels in tries.items():
                best = max(levels, key=lambda level: level["clips_per_s"])
                phases[name].append({**best, "rounds_clips_per_s": [lv["clips_per_s"] for lv in levels]})
                print_row(name, phases[name][-1])
    return phases


def main() -> None:
    args = parse_args()
    if args.build_tiny:
        build_tiny_model(args.build_tiny)
        return
    import onnxruntime

    from runtime.manifest import read_manifest
    from runtime.model import OnnxModel
    from skeleton.pipelines import preprocess_clips
    from skeleton.synthetic import synthetic_clip

    with tempfile.TemporaryDirectory(prefix="vcl-load-") as tmp_name:
        tmp = Path(tmp_name)
        model_dir = args.model
        if model_dir is None:
            model_dir, start = tmp / "model", time.perf_counter()
            subprocess.run([sys.executable, __file__, "--build-tiny", str(model_dir)], check=True, cwd=REPO)
            print(f"exported a tiny random-weight model in {time.perf_counter() - start:.0f} s")
        manifest = read_manifest(model_dir)
        if manifest.layout != "ntu":
            raise SystemExit(f"{model_dir}: layout {manifest.layout!r}; the synthetic clips are 'ntu'")
        if args.endpoint == "classify" and not manifest.num_classes:
            raise SystemExit(f"{model_dir}: no classifier, so no /v1/classify; use --endpoint embed")
        clips = [synthetic_clip(i, seed=1) for i in range(args.num_clips)]
        bodies = {body: encode_bodies(clips, body, args.decimals) for body in dict.fromkeys(args.body)}
        model = OnnxModel(model_dir, precision=args.precision, threads=args.threads)
        x = preprocess_clips(clips, manifest.layout, manifest.pipeline)
        machine = {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
            "providers": model.providers,
            "precision": model.precision,
            "loadavg_1min_at_start": os.getloadavg()[0],
        }
        frames = [c.joints.shape[1] for c in clips]
        print(
            f"{machine['cpus']} CPUs, {machine['processor']}, Python {machine['python']}, ONNX Runtime "
            f"{machine['onnxruntime']} {model.providers}, intra-op threads {args.threads or 'default'}, "
            f"{model.precision} graph; "
            f"load average {machine['loadavg_1min_at_start']:.1f} at start"
        )
        sizes = ", ".join(
            f"{body} {np.mean([len(b) for b in encoded]) / 1e3:.0f} kB mean"
            + (f" ({args.decimals} decimals)" if body == "json" else " (float32)")
            for body, encoded in bodies.items()
        )
        print(
            f"model {model_dir}: streams {list(manifest.streams)}, input {['N', *manifest.input_shape]}, "
            f"{(model_dir / manifest.model_file).stat().st_size / 1e6:.1f} MB; "
            f"POST /v1/{args.endpoint}[/npy] one clip [M=2][T={min(frames)}..{max(frames)}][V=25][3] "
            f"per request; bodies: {sizes}"
        )
        print(
            f"{args.requests} timed requests per client after {args.warmup} warm-up, at most "
            f"{args.max_seconds:g} s per level, fastest of {args.rounds} round(s); batched: VCL_MAX_BATCH=32 "
            f"VCL_MAX_WAIT_MS={args.max_wait_ms:g}, unbatched: VCL_MAX_BATCH=1"
        )
        ceiling = stacked_rates(model, x, sorted(set(args.clients)), args.max_seconds)
        print(
            "runtime alone, called from one thread on stacked clips: "
            + ", ".join(f"batch {b}: {r:.1f} clips/s" for b, r in ceiling.items())
        )
        print(
            f"{'phase':>{PHASE_WIDTH}} | {'clients':>7} | {'ok':>5} | {'errors':>6} | {'clips/s':>8} | "
            f"{'p50 ms':>8} | {'p99 ms':>8} | {'batch':>6} | {'ORT ms':>7} | {'busy':>5} | {'srv CPU':>7} | "
            f"{'own CPU':>7} | {'other':>5}"
        )
        phases = measure(args, model_dir, model, clips, bodies, tmp)
        ratios = summary(phases, list(bodies))
        for c in args.clients:
            parts = []
            for body in bodies:
                suffix = "" if body == "json" else f"_{body}"
                gain, vs_direct = ratios[f"batching_gain{suffix}"][c], ratios[f"batched_vs_direct{suffix}"][c]
                parts.append(
                    f"{body}: batching gain (batched/unbatched clips/s) {gain:.2f}x, "
                    f"batched/direct {vs_direct:.2f}x"
                )
            for key, value in ratios.items():
                if key.endswith("_vs_direct") and "-w" in key:
                    phase = key.removesuffix("_vs_direct")
                    one = ratios[f"{phase}_vs_batched"][c]
                    parts.append(f"{phase}: vs direct {value[c]:.2f}x, vs the default {one:.2f}x")
            if "npy_vs_json" in ratios:
                parts.append(f"npy/json (batched) {ratios['npy_vs_json'][c]:.2f}x")
            print(f"{c:>3} clients: " + "; ".join(parts))
        print(LEGEND)
        if args.json:
            result = {
                "machine": machine,
                "model": {
                    "dir": str(model_dir),
                    "streams": list(manifest.streams),
                    "input": manifest.raw["input"],
                },
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "body_bytes_mean": {body: float(np.mean([len(b) for b in e])) for body, e in bodies.items()},
                "runtime_stacked_clips_per_s": ceiling,
                "phases": phases,
                "ratios": ratios,
            }
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
            print(f"-> {args.json}")


if __name__ == "__main__":
    main()
