#!/usr/bin/env bash
# The real-data study of docs/RESULTS.md: MSR Action3D and UTD-MHAD cross-subject, CPU budget.
# Pretrains VCL and SkeletonCLR (same budget, same seed), then runs the evaluations and the report.
# Usage: bash bench/real_data_study.sh [stage]   (stage: prepare | pretrain | eval | report | all)
set -euo pipefail
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
SHARED=../shared/data
EPOCHS=${EPOCHS:-20}
stage=${1:-all}

if [[ $stage == prepare || $stage == all ]]; then
  [ -d data/msr_action3d ] || $VCL data prepare --dataset msr-action3d --root $SHARED/msr_action3d --out data/msr_action3d
  [ -d data/utd_mhad ] || $VCL data prepare --dataset utd-mhad --root $SHARED/utd_mhad --out data/utd_mhad
fi

if [[ $stage == pretrain || $stage == all ]]; then
  for dataset in msr_action3d utd_mhad; do
    for method in vcl skeletonclr; do
      run=runs/study/${dataset}_${method}
      [ -f $run/checkpoints/last/meta.json ] && continue
      $VCL train --config configs/$dataset.yaml --quiet --set model.method=$method --set optim.epochs=$EPOCHS \
        --set run.out_dir=$run --set run.threads=${THREADS:-0}
    done
  done
fi
