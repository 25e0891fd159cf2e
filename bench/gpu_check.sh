#!/usr/bin/env bash
# The GPU stack on a machine with an NVIDIA GPU, in one short run (under 8 minutes; docs/server.md
# "GPU stack"): install the project into two fresh venvs, then, each in its own process
# (bench/gpu_check.py says why): versions and providers; export of a freshly initialised
# three-stream model; whether an ONNX Runtime session really gets CUDAExecutionProvider, and its
# latency at B=1 and B=32; FAISS GPU search QPS; the pretraining step in clips/s (fp32, AMP, and
# AMP + torch.compile when time is left) beside the rate the CPU augments batches at.
#
#   bash bench/gpu_check.sh                 # on the GPU machine
#   bash bench/gpu_check.sh --no-install    # use python3 as found (a machine with no package index)
#   bash bench/gpu_check.sh --cpu-dry-run   # here: no install, tiny sizes on the CPU, same code paths
#
# Everything goes to $OUT (or ./gpu_check_out): gpu_check.log, nvidia-smi.txt, summary.md and
# env/export/ort/faiss/train.json. A step that fails or runs out of time is logged, the rest go on.
# Two venvs, not one `.[train,gpu]`: torch==2.13.0 from PyPI is a CUDA 13 build (driver >= 580)
# and onnxruntime-gpu 1.26.0 a CUDA 12 one, and nvidia-cudnn-cu12 and nvidia-cudnn-cu13 both write
# nvidia/cudnn/lib/libcudnn.so.9: in one venv the last installed wins. `train` gets `.[train,cpu]`;
# `serve` gets `.[gpu]` (as the Docker image) plus ONNX Runtime's `cuda,cudnn` extras, CUDA 12 and
# cuDNN 9 as wheels, which bench/gpu_check.py preloads (the image has them from its base instead).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

DRY=0
INSTALL=1
for arg in "$@"; do
    case $arg in
        --cpu-dry-run) DRY=1; INSTALL=0 ;;
        --no-install) INSTALL=0 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

OUT=${OUT:-$REPO/gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vcl-gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOG=$OUT/gpu_check.log
: >"$LOG"
BUDGET=${VCL_GPU_CHECK_BUDGET:-450}  # seconds for the whole run
DEADLINE=$((SECONDS + BUDGET))
DEVICE=cuda
[ "$DRY" = 1 ] && DEVICE=cpu
PY=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ "$DRY" = 1 ] && [ -x .venv/bin/python ] && PY=.venv/bin/python  # `make install`'s
FAILED=()

log() { echo "[gpu_check +${SECONDS}s] $*" | tee -a "$LOG"; }

# step NAME LIMIT_S CMD...: run with at most LIMIT_S seconds (less if the budget is nearly spent).
step() {
    local name=$1 limit=$2
    shift 2
    local left=$((DEADLINE - SECONDS))
    if [ "$left" -lt 15 ]; then
        log "$name: skipped, the ${BUDGET}s budget is spent"
        FAILED+=("$name (skipped)")
        return 1
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    log "$name: start (limit ${limit}s)"
    timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    if [ "$rc" = 0 ]; then
        log "$name: ok"
    else
        [ "$rc" = 124 ] && log "$name: timed out after ${limit}s" || log "$name: failed (exit $rc; see $LOG)"
        FAILED+=("$name")
    fi
    return "$rc"
}

log "repo $REPO, out $OUT, device $DEVICE, budget ${BUDGET}s"
if [ "$DRY" = 0 ]; then
    nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || log "nvidia-smi failed: $(tail -1 "$OUT/nvidia-smi.txt")"
fi

# The exact onnxruntime-gpu pin of the gpu extra, to add its CUDA wheels at the same version.
ORT_PIN=$("$PY" -c 'import re, tomllib; g = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["gpu"]; print(next(r for r in g if r.startswith("onnxruntime-gpu")).split("==")[1])' 2>>"$LOG")

if [ "$INSTALL" = 1 ]; then
    if ! timeout 30 "$PY" -m pip index versions onnxruntime-gpu --timeout 5 --retries 0 >>"$LOG" 2>&1; then
        log "install: no package index reachable; using $PY as found (as --no-install)"
        INSTALL=0
    fi
fi
# install_env NAME REQUIREMENT...: a fresh venv $WORK/NAME with the requirements; its exit status
# goes to $WORK/NAME.rc. The two run side by side: downloading is most of the time.
install_env() {
    local name=$1
    shift
    {
        timeout 60 "$PY" -m venv "$WORK/$name" \
            && timeout --kill-after=10 270 "$WORK/$name/bin/pip" install --quiet --progress-bar off "$@"
    } >"$WORK/$name.log" 2>&1
    echo $? >"$WORK/$name.rc"
}
TRAIN_PY=$PY
SERVE_PY=$PY
if [ "$INSTALL" = 1 ]; then
    log "install: venvs train (.[train,cpu]) and serve (.[gpu], onnxruntime-gpu[cuda,cudnn]==$ORT_PIN), side by side"
    install_env train ".[train,cpu]" &
    install_env serve ".[gpu]" "onnxruntime-gpu[cuda,cudnn]${ORT_PIN:+==$ORT_PIN}" &
    wait
    for name in train serve; do
        cat "$WORK/$name.log" >>"$LOG"
        if [ "$(cat "$WORK/$name.rc")" = 0 ]; then
            log "install $name: ok"
            [ "$name" = train ] && TRAIN_PY=$WORK/train/bin/python || SERVE_PY=$WORK/serve/bin/python
        else
            log "install $name: failed (exit $(cat "$WORK/$name.rc")); going on with $PY as found"
            FAILED+=("install $name")
        fi
    done
fi
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
for py in "$TRAIN_PY" "$SERVE_PY"; do
    log "python $py: $("$py" --version 2>&1); $("$py" -m pip list 2>/dev/null \
        | grep -i -E '^(torch|onnxruntime|faiss|nvidia-(cuda-runtime|cudnn|cublas))' | tr -s ' ' | paste -sd ';' -)"
done

ARGS=(--out "$OUT" --work "$WORK" --device "$DEVICE")
TRAIN=("$TRAIN_PY" bench/gpu_check.py)
SERVE=("$SERVE_PY" bench/gpu_check.py)
step env-train 60 "${TRAIN[@]}" env "${ARGS[@]}"
step env-serve 60 "${SERVE[@]}" env "${ARGS[@]}"
if step export 120 "${TRAIN[@]}" export "${ARGS[@]}"; then
    step ort 60 "${SERVE[@]}" ort "${ARGS[@]}"
else
    FAILED+=("ort (no model)")
fi
step faiss 60 "${SERVE[@]}" faiss "${ARGS[@]}"
if [ "$DRY" = 0 ] && [ $((DEADLINE - SECONDS)) -gt 150 ]; then  # compiling takes a minute or two
    step train 150 "${TRAIN[@]}" train "${ARGS[@]}" --compile
else
    step train 90 "${TRAIN[@]}" train "${ARGS[@]}"
fi
"$SERVE_PY" bench/gpu_check.py summary "${ARGS[@]}" 2>&1 | tee -a "$LOG"

if [ ${#FAILED[@]} -gt 0 ]; then
    log "done in ${SECONDS}s; not ok: ${FAILED[*]}"
    exit 1
fi
log "done in ${SECONDS}s; all steps ok"
