#!/usr/bin/env bash
# Learned 2D models (issue 13 item 6): the supervised ST-GCN recipe of bench/supervised_study.sh on
# (1) UTD-MHAD seen through a pinhole camera (`--project-2d`, x, y pixels, pose2d pipeline) beside
# the same recipe in 3D, and (2) the OpenPose COCO-18 exercise clips (exercise, and exercise+form).
# Usage: bash bench/pose2d_study.sh   (one thread; ~25 CPU-minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
VCL=.venv/bin/vcl
SHARED=../shared/data
OUT=runs/pose2d_study
POSES=$SHARED/pose_samples/openpose18_pose_trainer/poses_compressed
RECIPE=(--seeds 0 --optimizer adamw --lr 0.002 --weight-decay 0.0001 --schedule cosine --batch-size 16
  --epochs 40 --dropout 0.1 --shear 0.3 --crop 6 --persons 1 --threads 1 --quiet)
mkdir -p $OUT
[ -d data/utd_mhad_2d ] || $VCL data prepare --dataset utd-mhad --root $SHARED/utd_mhad --out data/utd_mhad_2d \
  --project-2d --pipeline pose2d --pipeline-option num_persons=1 --pipeline-option keep_score=false --workers 1 --quiet
[ -d data/exercise ] || $VCL data prepare --dataset arrays --root $POSES --pipeline pose2d --out data/exercise \
  --workers 1 --quiet
if [ ! -d data/exercise_form ]; then  # one class per exercise and form: a folder of links <exercise>_<form>/
  links=$OUT/form_src
  mkdir -p $links
  for f in $POSES/*/*.npy; do
    # bicep_bad_10 -> bicep_bad, shoulderpressgood3 -> shoulderpress_good
    form=$(basename "$f" .npy | sed -E 's/_?[0-9]+$//; s/_?(bad|good)$/_\1/')
    mkdir -p "$links/$form"
    ln -sf "$(realpath "$f")" "$links/$form/"
  done
  $VCL data prepare --dataset arrays --root $links --pipeline pose2d --out data/exercise_form --workers 1 --quiet
fi
for data in utd_mhad_2d exercise exercise_form; do
  split=xsub; [ $data = utd_mhad_2d ] || split=holdout
  for s in joint bone motion; do
    [ -f $OUT/${data}_$s.json ] || $VCL eval finetune --from-scratch --data data/$data --split $split \
      --streams $s "${RECIPE[@]}" --out $OUT/${data}_$s.json
  done
  [ -f $OUT/${data}_ridge.json ] || .venv/bin/python bench/ridge_floor.py data/$data --split $split \
    --out $OUT/${data}_ridge.json
  .venv/bin/python bench/fuse_streams.py $OUT/${data}_{joint,bone,motion}.logits.npz | tee $OUT/${data}_fused.txt
done
