#!/usr/bin/env bash
# A diagnostic, not an evaluation protocol (issue 16 item 2): VCL pretrained on every clip of the
# dataset, its test clips too (without their labels; `data.protocol=all`), the recipe of
# bench/ssl_study.sh otherwise; then the usual three-stream linear probe (trained on the train part,
# scored on the test part). It asks whether twice the in-distribution clips would lift the probe:
# the test clips have been seen, so its figures are an upper bound for that much data, not results.
# Usage: bash bench/transductive_check.sh [DATASET ...]   (one chain per dataset; one thread each)
# Environment: OUT (default runs/transductive), SEED (0).
set -euo pipefail
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
SHARED=../shared/data
OUT=${OUT:-runs/transductive}
declare -A KEY=([msr_action3d]=msr-action3d [utd_mhad]=utd-mhad)
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(msr_action3d utd_mhad)
for dataset in "${datasets[@]}"; do
  data=data/${dataset}_m1
  [ -d $data ] || $VCL data prepare --dataset ${KEY[$dataset]} --root $SHARED/$dataset --out $data \
    --pipeline-option num_persons=1 --workers 1 --quiet
  run=$OUT/${dataset}_vcl
  # no kNN monitor: with every clip in training it would score clips against themselves
  [ -f $run/checkpoints/last/meta.json ] || $VCL train --config configs/$dataset.yaml --quiet --set data.path=$data \
    --set data.protocol=all --set 'data.monitor_part=""' --set optim.batch_size=32 --set optim.epochs=60 \
    --set "optim.lr_milestones=[50]" --set loss.queue_size=64 --set loss.momentum=0.99 --set run.checkpoint_every=20 \
    --set run.monitor_every=10 --set run.threads=1 --set run.seed=${SEED:-0} --set model.logvar_bias=-8 \
    --set loss.kl_weight=0.01 --set run.out_dir=$run
  for ckpt in $run/checkpoints/epoch_* $run/checkpoints/last; do
    [ -f $run/linear_$(basename $ckpt).json ] || $VCL eval linear --model $ckpt --data $data --seeds 0 --threads 1 \
      --quiet --out $run/linear_$(basename $ckpt).json
  done
done
