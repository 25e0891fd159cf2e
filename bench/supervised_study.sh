#!/usr/bin/env bash
# The supervised ST-GCN reference of docs/RESULTS.md: from scratch, three streams, cross-subject,
# on MSR Action3D and UTD-MHAD; one thread per dataset, both datasets at once on a 2-core CPU.
# Usage: bash bench/supervised_study.sh [EPOCHS]   (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
SHARED=../shared/data
OUT=runs/supervised
EPOCHS=${1:-40}
declare -A KEY=([msr_action3d]=msr-action3d [utd_mhad]=utd-mhad)
mkdir -p $OUT
for dataset in msr_action3d utd_mhad; do
  [ -d data/$dataset ] || $VCL data prepare --dataset ${KEY[$dataset]} --root $SHARED/$dataset --out data/$dataset
  $VCL eval finetune --from-scratch --data data/$dataset --seeds 0 \
    --optimizer adamw --lr 0.002 --weight-decay 0.0001 --schedule cosine --batch-size 16 --epochs $EPOCHS \
    --dropout 0.1 --shear 0.3 --crop 6 --persons 1 --threads 1 --quiet \
    --out $OUT/${dataset}_supervised.json > $OUT/${dataset}.log 2>&1 &
done
wait
cat $OUT/*.log
