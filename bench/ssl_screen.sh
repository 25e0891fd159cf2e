#!/usr/bin/env bash
# One joint-stream pretraining screen at CPU scale (issue 16 item 2): the bench/ssl_study.sh recipe
# plus the overrides given, then the joint-stream linear probe of the last checkpoint.
# Usage: bash bench/ssl_screen.sh DATASET NAME [--set key=value ...]
# e.g.   bash bench/ssl_screen.sh utd_mhad vcl_m099 --set loss.momentum=0.99
set -euo pipefail
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
dataset=$1 name=$2
shift 2
data=data/${dataset}_m1
run=runs/screen/${dataset}_$name
RECIPE=(--set optim.batch_size=32 --set optim.epochs=60 --set optim.lr_milestones=[50]
  --set loss.queue_size=64 --set run.checkpoint_every=20 --set run.monitor_every=10 --set run.threads=1
  --set model.logvar_bias=-8 --set loss.kl_weight=0.01 --set data.streams=[joint])
mkdir -p runs/screen
[ -f $run/checkpoints/last/meta.json ] || $VCL train --config configs/$dataset.yaml --quiet \
  --set data.path=$data "${RECIPE[@]}" "$@" --set run.out_dir=$run
[ -f $run/linear_last.json ] || $VCL eval linear --model $run/checkpoints/last --data $data --seeds 0 \
  --threads 1 --quiet --out $run/linear_last.json
