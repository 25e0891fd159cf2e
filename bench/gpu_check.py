"""The measurements of bench/gpu_check.sh, one part per process: env, export, ort, faiss, train, summary.

Each part prints one JSON object and writes it to ``OUT/<part>.json``. The parts run in separate
processes on purpose: PyPI's torch is a CUDA 13 build, the `gpu` extra's ONNX Runtime a CUDA 12
one, and both load a ``libcudnn.so.9``; whichever comes first would serve the other. So ``ort``
and ``faiss`` never import torch (they use ``runtime.model`` and ``index.store`` as the server
does), and ``export`` and ``train`` run where torch is (with the CPU onnxruntime for the export's
parity check). ``--device cpu`` runs the same code on the CPU with small sizes: the dry run that
keeps the script from failing on first use on a GPU machine.

    env     versions; torch's CUDA; ONNX Runtime's providers and build; FAISS's GPUs
    export  a freshly initialised three-stream model of the official architecture -> ONNX
    ort     the providers a session really gets (CUDA asked for with require_gpu), latency at B=1, 32
    faiss   flat inner-product search (the index's default kind) through index.store.to_search_device
    train   the pretraining step in clips/s: fp32, AMP, AMP + torch.compile; the augmentation rate
    summary the parts' results as one markdown table

Usage: python bench/gpu_check.py PART --out DIR --work DIR [--device cuda|cpu]
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import bench_parser, random_checkpoint, time_calls

# A small architecture for the CPU dry run (the tests' tiny model); the GPU runs the official one.
TINY = {"widths": [8, 8, 16], "strides": [1, 2, 1], "hidden_dim": 32, "projection_dim": 16, "latent_dim": 8}
STREAMS = ("joint", "bone", "motion")


def latency(times: np.ndarray, batch: int) -> dict[str, float]:
    ms = 1000 * times
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "clips_per_s": batch / float(np.median(times)),
    }


def part_env(args: Any) -> dict[str, Any]:
    """Merged into an existing env.json: the train venv reports torch, the serve venv the rest."""
    path = args.out / "env.json"
    found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    result = part_env_here()
    for key, value in result.items():
        if key == "pythons":
            found.setdefault("pythons", {}).update(value)
        elif key not in found or not (isinstance(value, dict) and "error" in value):
            found[key] = value
    return found


def part_env_here() -> dict[str, Any]:
    result: dict[str, Any] = {
        "machine": platform.machine(),
        "pythons": {sys.executable: sys.version.split()[0]},
    }
    try:
        import torch

        result["torch"] = {
            "version": torch.__version__,
            "cuda_build": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        }
    except ImportError as err:
        result["torch"] = {"error": str(err)}
    try:
        import onnxruntime as ort

        build = getattr(getattr(ort, "capi", None), "build_and_package_info", None)
        result["onnxruntime"] = {
            "version": ort.__version__,
            "package": getattr(build, "package_name", None),
            "built_with_cuda": getattr(build, "cuda_version", None),
            "available_providers": ort.get_available_providers(),
        }
    except ImportError as err:
        result["onnxruntime"] = {"error": str(err)}
    try:
        import faiss

        result["faiss"] = {
            "version": faiss.__version__,
            "gpu_build": hasattr(faiss, "StandardGpuResources"),
            "gpus": faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0,
        }
    except Exception as err:  # a GPU build whose CUDA wheels are missing raises RuntimeError
        result["faiss"] = {"error": f"{type(err).__name__}: {err}"}
    return result


def part_export(args: Any) -> dict[str, Any]:
    import torch

    from export.onnx_export import ExportError, export_checkpoint
    from skeleton.classes import NTU60_CLASSES
    from train.model import DEFAULT_ARCHITECTURE

    architecture = dict(DEFAULT_ARCHITECTURE) if args.device == "cuda" else {**DEFAULT_ARCHITECTURE, **TINY}
    start = time.perf_counter()
    torch.manual_seed(0)
    checkpoint = random_checkpoint(args.work / "checkpoint", "gaussian", NTU60_CLASSES, architecture, STREAMS)
    result: dict[str, Any] = {
        "model": str(args.work / "model"),
        "architecture": "official" if args.device == "cuda" else "tiny (dry run)",
        "streams": list(STREAMS),
    }
    try:
        manifest = export_checkpoint(checkpoint, args.work / "model", max_batch=8, overwrite=True)
    except ExportError as err:
        # Untrained weights put every clip near the embedding centre, where normalising amplifies
        # rounding; latency does not depend on the values, so export anyway and say so.
        result["parity_error"] = str(err)
        manifest = export_checkpoint(
            checkpoint, args.work / "model", max_batch=8, tolerance=1.0, overwrite=True
        )
    return {**result, "opset": manifest.get("opset"), "seconds": time.perf_counter() - start}


def part_ort(args: Any) -> dict[str, Any]:
    import onnxruntime as ort

    from runtime.model import OnnxModel, RuntimeModelError

    result: dict[str, Any] = {
        "version": ort.__version__,
        "available_providers": ort.get_available_providers(),
    }
    model_dir = args.work / "model"
    model = None
    if args.device == "cuda":
        if hasattr(ort, "preload_dlls"):  # CUDA 12 / cuDNN 9 from nvidia-*-cu12 wheels, when installed
            try:
                ort.preload_dlls()
            except Exception as err:  # preloading is a help, not a requirement
                result["preload_dlls"] = f"{type(err).__name__}: {err}"
        try:
            model = OnnxModel(model_dir, require_gpu=True)
        except RuntimeModelError as err:
            result["cuda_error"] = str(err)
    cpu_model = OnnxModel(model_dir)  # CUDA first when usable, else CPU: what the server does
    result["session_providers"] = (model or cpu_model).providers
    result["cuda_provider_loaded"] = "CUDAExecutionProvider" in result["session_providers"]
    cpu_only = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    shape = cpu_model.input_shape
    result["latency"] = {}
    for batch in (1, 32):
        x = rng.normal(0, 0.2, (batch, *shape)).astype(np.float32)
        rows: dict[str, Any] = {}
        if model is not None:

            def run_cuda(x: np.ndarray = x, gpu_model: OnnxModel = model) -> None:
                gpu_model.run(x)

            rows["cuda"] = latency(time_calls(run_cuda, 50, warmup=5), batch)
            cuda_out = model.run(x)
            cpu_out = cpu_only.run(model.output_names, {"joints": x})
            rows["cuda_vs_cpu_max_abs_diff"] = max(
                float(np.abs(cuda_out[k] - v).max()) for k, v in zip(model.output_names, cpu_out, strict=True)
            )

        def run_cpu(x: np.ndarray = x) -> None:
            cpu_only.run(None, {"joints": x})

        rows["cpu"] = latency(time_calls(run_cpu, 10 if batch == 1 else 3, warmup=1), batch)
        result["latency"][f"B={batch}"] = rows
    if args.device == "cuda" and not result["cuda_provider_loaded"]:
        result["problem"] = f"no CUDAExecutionProvider in the session: {result.get('cuda_error')}"
    return result


def part_faiss(args: Any) -> dict[str, Any]:
    import faiss

    from index.store import to_search_device

    gpu = args.device == "cuda"
    n, d, queries, k = (1_000_000, 192, 10_000, 10) if gpu else (20_000, 192, 200, 10)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, d), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    q = rng.standard_normal((queries, d), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(d))  # what `vcl index build` writes by default
    index.add_with_ids(base, np.arange(n, dtype=np.int64))
    result: dict[str, Any] = {
        "version": faiss.__version__,
        "gpus": faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0,
        "vectors": n,
        "dim": d,
        "k": k,
    }
    cpu_queries = q[: min(queries, 1000)]
    start = time.perf_counter()
    _, cpu_ids = index.search(cpu_queries, k)
    result["cpu_qps"] = len(cpu_queries) / (time.perf_counter() - start)
    device_index = to_search_device(index)
    result["search_device_is_gpu"] = device_index is not index
    if device_index is not index:
        device_index.search(q[:100], k)  # warm-up
        start = time.perf_counter()
        _, ids = device_index.search(q, k)
        result["gpu_qps"] = queries / (time.perf_counter() - start)
        result["gpu_top1_agrees_with_cpu"] = float((ids[: len(cpu_queries), 0] == cpu_ids[:, 0]).mean())
    elif gpu:
        result["problem"] = f"FAISS searches on the CPU ({result['gpus']} GPUs visible to faiss)"
    return result


def part_train(args: Any) -> dict[str, Any]:
    import contextlib

    import torch

    from skeleton.layouts import NTU
    from train.augment import augment
    from train.config import LossConfig
    from train.moco import MomentumContrast
    from train.model import DEFAULT_ARCHITECTURE, build_encoders

    gpu = args.device == "cuda"
    if gpu and not torch.cuda.is_available():
        return {
            "problem": f"torch {torch.__version__} sees no CUDA device (built for CUDA {torch.version.cuda})"
        }
    device = torch.device(args.device)
    batch, steps = (256, 10) if gpu else (8, 2)
    architecture = dict(DEFAULT_ARCHITECTURE) if gpu else {**DEFAULT_ARCHITECTURE, **TINY}
    torch.backends.cudnn.benchmark = gpu
    x_cpu = torch.randn(batch, 3, 50, 25, 2)
    result: dict[str, Any] = {"batch": batch, "streams": list(STREAMS), "device": args.device}

    def two_views(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return augment(x, 6, 0.5), augment(x, 6, 0.5)

    # The trainer augments each batch on the CPU, in its loop: that is its data loader.
    result["augment_cpu_clips_per_s"] = batch / float(np.median(time_calls(lambda: two_views(x_cpu), 3)))
    if gpu:
        x_gpu = x_cpu.to(device)

        def augment_on_gpu() -> None:
            two_views(x_gpu)
            torch.cuda.synchronize()

        seconds = time_calls(augment_on_gpu, 5)
        result["augment_gpu_clips_per_s"] = batch / float(np.median(seconds))

    def measure(amp: bool, compiled: bool) -> dict[str, float]:
        torch.manual_seed(0)
        encoders = build_encoders(NTU, STREAMS, "gaussian", architecture)
        method = MomentumContrast(encoders, NTU.parents, LossConfig(queue_size=32768)).to(device)
        if compiled:
            for stream in list(method.query.keys()):
                method.query[stream] = torch.compile(method.query[stream])  # type: ignore[assignment]
        optimizer = torch.optim.AdamW(method.query.parameters(), lr=0.002, weight_decay=1e-4)
        dtype = torch.bfloat16 if gpu and torch.cuda.is_bf16_supported() else torch.float16

        def step(view_q: torch.Tensor, view_k: torch.Tensor) -> None:
            autocast = torch.autocast(device.type, dtype=dtype) if amp else contextlib.nullcontext()
            with autocast:
                results = method(view_q, view_k, kl_weight=1.0)
                total = torch.stack([r["loss"] for r in results.values()]).sum()
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            if gpu:
                torch.cuda.synchronize()

        views = tuple(v.to(device) for v in two_views(x_cpu))
        start = time.perf_counter()
        step(*views)  # first step: compilation, cuDNN autotuning
        first = time.perf_counter() - start
        on_device = time_calls(lambda: step(*views), steps, warmup=2 if gpu else 0)

        def with_loader() -> None:  # as the trainer runs: augment on the CPU, copy, step
            view_q, view_k = two_views(x_cpu)
            step(view_q.to(device, non_blocking=True), view_k.to(device, non_blocking=True))

        end_to_end = time_calls(with_loader, steps, warmup=0)
        return {
            "step_clips_per_s": batch / float(np.median(on_device)),
            "with_cpu_augment_clips_per_s": batch / float(np.median(end_to_end)),
            "first_step_s": first,
        }

    variants = {"fp32": (False, False), "amp": (True, False)} if gpu else {"fp32": (False, False)}
    if args.compile:
        variants["amp+compile" if gpu else "compile"] = (gpu, True)
    for name, (amp, compiled) in variants.items():
        try:
            result[name] = measure(amp, compiled)
        except Exception as err:  # a failed variant (compile on a new stack, say) must not hide the rest
            result[name] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    if gpu:
        result["amp_dtype"] = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return result


def part_summary(args: Any) -> dict[str, Any]:
    found = {
        p: json.loads((args.out / f"{p}.json").read_text())
        for p in PARTS
        if (args.out / f"{p}.json").exists()
    }
    lines = ["| what | result |", "| --- | --- |"]
    env = found.get("env", {})
    if "torch" in env:
        t = env["torch"]
        lines.append(f"| torch | {t.get('version')} (CUDA {t.get('cuda_build')}), GPU: {t.get('device')} |")
    if "onnxruntime" in env:
        o = env["onnxruntime"]
        lines.append(
            f"| ONNX Runtime | {o.get('package')} {o.get('version')} (built with CUDA "
            f"{o.get('built_with_cuda')}), available: {', '.join(o.get('available_providers', []))} |"
        )
    if "ort" in found:
        o = found["ort"]
        lines.append(f"| session providers | {', '.join(o['session_providers'])} {o.get('cuda_error', '')} |")
        for b, rows in o["latency"].items():
            for engine in ("cuda", "cpu"):
                if engine in rows:
                    r = rows[engine]
                    lines.append(
                        f"| ORT {engine} {b} | p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                        f"{r['clips_per_s']:.0f} clips/s |"
                    )
    if "faiss" in found:
        f = found["faiss"]
        gpu = f"GPU {f['gpu_qps']:.0f} QPS, " if "gpu_qps" in f else "no GPU search, "
        lines.append(f"| FAISS flat {f['vectors']}x{f['dim']} k={f['k']} | {gpu}CPU {f['cpu_qps']:.0f} QPS |")
    if "train" in found and "problem" in found["train"]:
        lines.append(f"| pretraining | {found['train']['problem']} |")
    elif "train" in found:
        t = found["train"]
        loader = f"CPU augment {t['augment_cpu_clips_per_s']:.0f} clips/s"
        for name in ("fp32", "amp", "amp+compile", "compile"):
            if name in t:
                r = t[name]
                text = r.get("error") or (
                    f"{r['step_clips_per_s']:.0f} clips/s on device, {r['with_cpu_augment_clips_per_s']:.0f} "
                    f"with the CPU augmenting"
                )
                lines.append(f"| pretraining B={t['batch']} {name} | {text} |")
        lines.append(f"| data loader | {loader} |")
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), file=sys.stderr)
    return {"parts": sorted(found)}


PARTS = {
    "env": part_env,
    "export": part_export,
    "ort": part_ort,
    "faiss": part_faiss,
    "train": part_train,
}


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("part", choices=[*PARTS, "summary"])
    parser.add_argument("--out", type=Path, default=Path("gpu_check_out"))
    parser.add_argument("--work", type=Path, default=Path("gpu_check_out") / "work")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--compile", action="store_true", help="train: also time torch.compile")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.part == "summary":
        part_summary(args)
        return
    result = PARTS[args.part](args)
    text = json.dumps(result, indent=2, default=str)
    (args.out / f"{args.part}.json").write_text(text + "\n")
    print(text)
    if result.get("problem"):  # measured what could be, but the GPU path asked for is not there
        print(f"gpu_check {args.part}: {result['problem']}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
