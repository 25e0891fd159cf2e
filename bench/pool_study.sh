#!/usr/bin/env bash
# Pretraining on more clips (issue 16 item 2): each dataset's encoder pretrained on its own training
# clips plus every clip of the other dataset (MSR Action3D mapped to UTD-MHAD's Kinect v1 layout,
# `vcl data merge`), with the recipe of bench/ssl_study.sh unchanged; then the three-stream linear
# probe on the evaluated dataset alone (its own train / test split) every EVERY epochs.
# Usage: bash bench/pool_study.sh [DATASET ...]   (one chain per dataset; one thread each)
# Environment: OUT (default runs/pool), METHODS (default "vcl skeletonclr"), EPOCHS (60), EVERY (20),
# SEED (0).
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
SHARED=../shared/data
OUT=${OUT:-runs/pool}
EPOCHS=${EPOCHS:-60}
RECIPE=(--set optim.batch_size=32 --set optim.epochs=$EPOCHS --set "optim.lr_milestones=[$((EPOCHS * 5 / 6))]"
  --set loss.queue_size=64 --set loss.momentum=0.99 --set run.checkpoint_every=${EVERY:-20} --set run.monitor_every=10
  --set run.threads=1 --set run.seed=${SEED:-0})
declare -A METHOD=([vcl]="--set model.logvar_bias=-8 --set loss.kl_weight=0.01" [skeletonclr]="--set model.method=skeletonclr")
# the evaluated dataset in the Kinect v1 layout, and the other dataset that joins its pretraining
declare -A OWN=([utd_mhad]=data/utd_mhad_m1 [msr_action3d]=data/msr_kv1_m1)
declare -A OTHER=([utd_mhad]=data/msr_kv1_m1 [msr_action3d]=data/utd_mhad_m1)
[ -d data/utd_mhad_m1 ] || $VCL data prepare --dataset utd-mhad --root $SHARED/utd_mhad --out data/utd_mhad_m1 \
  --pipeline-option num_persons=1 --workers 1 --quiet
[ -d data/msr_kv1_m1 ] || $VCL data prepare --dataset msr-action3d --root $SHARED/msr_action3d --out data/msr_kv1_m1 \
  --map-to kinect_v1 --pipeline-option num_persons=1 --workers 1 --quiet
mkdir -p $OUT
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(msr_action3d utd_mhad)
for dataset in "${datasets[@]}"; do
  pool=data/pool_$dataset
  [ -d $pool ] || $VCL data merge ${OWN[$dataset]} ${OTHER[$dataset]}:all --out $pool --quiet
  for method in ${METHODS:-vcl skeletonclr}; do
    run=$OUT/${dataset}_$method
    # shellcheck disable=SC2086
    [ -f $run/checkpoints/last/meta.json ] || $VCL train --config configs/$dataset.yaml --quiet \
      --set data.path=$pool "${RECIPE[@]}" ${METHOD[$method]} --set run.out_dir=$run
    for ckpt in $run/checkpoints/epoch_* $run/checkpoints/last; do
      name=$(basename $ckpt)
      [ -f $run/linear_$name.json ] || $VCL eval linear --model $ckpt --data ${OWN[$dataset]} --seeds 0 --threads 1 \
        --quiet --out $run/linear_$name.json
    done
  done
done
