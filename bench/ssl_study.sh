#!/usr/bin/env bash
# Self-supervised pretraining at CPU scale (issue 16 item 2): VCL and SkeletonCLR on MSR Action3D
# and UTD-MHAD, cross-subject, the same budget for both methods; then the three-stream linear probe
# of every kept checkpoint (the learning curve) and kNN of the last one; and the same probe of the
# untrained encoder (`random`), the baseline the pretraining must beat.
# Usage: bash bench/ssl_study.sh [DATASET ...]   (one chain per dataset; one thread each)
# Environment: OUT (default runs/ssl), MOMENTUM (default 0.99; the first study of 2026-12-01 ran
# 0.999, the NTU value, under which the key encoder barely left its initialisation), EPOCHS (60),
# EVERY (10: epochs between the kept checkpoints that the learning curve probes), SEED (0),
# METHODS (default "random vcl skeletonclr"), PROTOCOL (default xsub; "all" is a diagnostic, not an
# evaluation: pretraining on every clip, the test clips too without their labels, with no kNN
# monitor or kNN result, which would score clips against themselves; the probe is as always),
# INIT (a checkpoint directory every run starts from, `model.init`; e.g. the authors' NTU-60
# encoders from `vcl import-official`: the data is then prepared in their layout, --map-to ntu,
# and `random` is that checkpoint with BatchNorm statistics of the new data), LR (default 0.002),
# INPUT_BN (`model.input_bn`: batch, the default, or frozen), BLOCK_BN (`model.block_bn`: the same
# for the BatchNorms inside the blocks).
set -euo pipefail
shopt -s nullglob  # a run without kept epoch checkpoints (random) probes only last
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
SHARED=../shared/data
OUT=${OUT:-runs/ssl}
EPOCHS=${EPOCHS:-60}
declare -A KEY=([msr_action3d]=msr-action3d [utd_mhad]=utd-mhad)
# One person per clip: both datasets hold one, and the second slot would be zeros and half the compute.
RECIPE=(--set optim.batch_size=32 --set optim.epochs=$EPOCHS --set "optim.lr_milestones=[$((EPOCHS * 5 / 6))]"
  --set optim.lr=${LR:-0.002} --set model.input_bn=${INPUT_BN:-batch} --set model.block_bn=${BLOCK_BN:-batch}
  --set loss.queue_size=64 --set loss.momentum=${MOMENTUM:-0.99} --set run.checkpoint_every=${EVERY:-10} --set run.monitor_every=10 --set run.threads=1 --set run.seed=${SEED:-0})
PREPARE=(--pipeline-option num_persons=1)
SUFFIX=m1
if [ -n "${INIT:-}" ]; then RECIPE+=(--set model.init=$INIT); PREPARE+=(--map-to ntu); SUFFIX=ntu_m1; fi
[ "${PROTOCOL:-xsub}" = xsub ] || RECIPE+=(--set data.protocol=$PROTOCOL --set 'data.monitor_part=""')
# random: the same VCL encoder left at its initialisation (lr 1e-12 for one epoch; BatchNorm
# statistics exact), the features a pretraining run has to beat
declare -A METHOD=([vcl]="--set model.logvar_bias=-8 --set loss.kl_weight=0.01" [skeletonclr]="--set model.method=skeletonclr"
  [random]="--set model.logvar_bias=-8 --set optim.lr=1.0e-12 --set optim.weight_decay=0 --set optim.epochs=1")
mkdir -p $OUT
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(msr_action3d utd_mhad)
for dataset in "${datasets[@]}"; do
  data=data/${dataset}_$SUFFIX
  [ -d $data ] || $VCL data prepare --dataset ${KEY[$dataset]} --root $SHARED/$dataset --out $data \
    "${PREPARE[@]}" --workers 1 --quiet
  for method in ${METHODS:-random vcl skeletonclr}; do
    run=$OUT/${dataset}_$method
    # shellcheck disable=SC2086
    [ -f $run/checkpoints/last/meta.json ] || $VCL train --config configs/$dataset.yaml --quiet \
      --set data.path=$data "${RECIPE[@]}" ${METHOD[$method]} --set run.out_dir=$run
    for ckpt in $run/checkpoints/epoch_* $run/checkpoints/last; do
      name=$(basename $ckpt)
      [ -f $run/linear_$name.json ] || $VCL eval linear --model $ckpt --data $data --seeds 0 --threads 1 \
        --quiet --out $run/linear_$name.json
    done
    [ -f $run/knn_last.json ] || [ "${PROTOCOL:-xsub}" != xsub ] || $VCL eval knn --model $run/checkpoints/last --data $data --threads 1 --quiet \
      --out $run/knn_last.json
  done
done
