#!/usr/bin/env bash
# Label efficiency of the frozen encoders (issue 16 item 3): the three-stream linear probe trained
# on K labelled clips per class (1, 2, 5, 10) and on all labels, five draws of the labelled clips
# (seeds 0-4, one feature pass per K), for the pretrained VCL and SkeletonCLR encoders and the
# untrained one (`random`) of bench/ssl_study.sh. Usage: bash bench/linear_per_class.sh DATASET METHOD [RUNS]
#   RUNS: the study's folder (default runs/ssl)
set -euo pipefail
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
dataset=$1 method=$2 runs=${3:-runs/ssl}
OUT=${OUT:-runs/label_linear}  # the environment may name another (a second pretraining seed)
data=data/${dataset}_m1
model=$runs/${dataset}_$method/checkpoints/last
mkdir -p $OUT
for k in 1 2 5 10 0; do
  name=k$k; [ $k = 0 ] && name=all
  out=$OUT/${dataset}_${method}_$name.json
  [ -f $out ] || $VCL eval linear --model $model --data $data --per-class $k --seeds 0 1 2 3 4 --threads 1 \
    --quiet --out $out
done
