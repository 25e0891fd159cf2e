#!/usr/bin/env bash
# Label efficiency (issue 16 item 3): semi-supervised fine-tuning with K labelled clips per class
# (1, 2, 5, 10) and all labels, for a pretrained VCL or SkeletonCLR encoder (bench/ssl_study.sh)
# and for the same ST-GCN from scratch; the supervised recipe of bench/supervised_study.sh, joint
# stream, one person, one thread. Usage: bash bench/label_efficiency.sh DATASET METHOD SEED
#   METHOD: vcl | skeletonclr (SSL/DATASET_METHOD/checkpoints/last) | supervised (from scratch)
# Environment: SSL (the pretraining study's folder, default runs/ssl), OUT (default runs/label).
set -euo pipefail
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
dataset=$1 method=$2 seed=$3
OUT=${OUT:-runs/label}
SSL=${SSL:-runs/ssl}
data=data/${dataset}_m1
mkdir -p $OUT
if [ "$method" = supervised ]; then source=(--from-scratch); else source=(--model $SSL/${dataset}_$method/checkpoints/last); fi
RECIPE=(--data $data --streams joint --seeds $seed --optimizer adamw --lr 0.002 --weight-decay 0.0001
  --schedule cosine --batch-size 16 --epochs 40 --dropout 0.1 --shear 0.3 --crop 6 --threads 1 --quiet)
for k in 1 2 5 10; do
  out=$OUT/${dataset}_${method}_joint_k${k}_s$seed.json
  [ -f $out ] || $VCL eval semi "${source[@]}" --per-class $k "${RECIPE[@]}" --out $out
done
out=$OUT/${dataset}_${method}_joint_all_s$seed.json
[ -f $out ] || $VCL eval finetune "${source[@]}" "${RECIPE[@]}" --out $out
