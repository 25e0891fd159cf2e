#!/usr/bin/env bash
# The real-data study of docs/RESULTS.md: MSR Action3D and UTD-MHAD cross-subject on a 2-core CPU.
# VCL and SkeletonCLR get the same budget and seed; the supervised ST-GCN and the ridge floor are
# the references. Usage: bash bench/real_data_study.sh   (about 2 hours on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
SHARED=../shared/data
OUT=runs/study
declare -A EPOCHS=([msr_action3d]=10 [utd_mhad]=6)
declare -A KEY=([msr_action3d]=msr-action3d [utd_mhad]=utd-mhad)
mkdir -p $OUT/results

for dataset in msr_action3d utd_mhad; do
  [ -d data/$dataset ] || $VCL data prepare --dataset ${KEY[$dataset]} --root $SHARED/$dataset --out data/$dataset
  .venv/bin/python bench/ridge_floor.py data/$dataset --out $OUT/results/${dataset}_ridge.json
  for method in vcl skeletonclr; do
    run=$OUT/${dataset}_$method
    [ -f $run/checkpoints/last/meta.json ] || $VCL train --config configs/$dataset.yaml --quiet \
      --set data.path=data/$dataset --set model.method=$method --set optim.epochs=${EPOCHS[$dataset]} --set run.out_dir=$run
    $VCL eval linear --model $run/checkpoints/last --data data/$dataset --seeds 0 1 2 --quiet \
      --out $OUT/results/${dataset}_${method}_linear.json
    $VCL eval knn --model $run/checkpoints/last --data data/$dataset --quiet \
      --out $OUT/results/${dataset}_${method}_knn.json
  done
  $VCL eval finetune --from-scratch --data data/$dataset --epochs 5 --milestones 4 --batch-size 16 --lr 0.05 \
    --quiet --out $OUT/results/${dataset}_supervised.json
done

$VCL report $OUT/results --out docs/results
