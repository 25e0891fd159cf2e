#!/usr/bin/env bash
# Transfer of the authors' NTU-60 encoders to MSR Action3D and UTD-MHAD through the layout mapping.
# Usage: bench/transfer_study.sh   (OUT=dir to write elsewhere; needs ../shared/data)
set -euo pipefail
V=.venv/bin/vcl
D=${DATA:-../shared/data}
O=${OUT:-runs/transfer}
[ -d $O/official ] || $V import-official --joint $D/vcl_official/ntu60_xsub_joint_linear.pt \
  --bone $D/vcl_official/ntu60_xsub_bone_linear.pt --motion $D/vcl_official/ntu60_xsub_motion_linear.pt --out $O/official
[ -d $O/utd_ntu ] || $V data prepare --dataset utd-mhad --root $D/utd_mhad/Skeleton --out $O/utd_ntu --map-to ntu --quiet --workers 1
[ -d $O/msr_ntu ] || $V data prepare --dataset msr-action3d --root $D/msr_action3d/real_world_coordinates --out $O/msr_ntu --map-to ntu --quiet --workers 1
for ds in utd_ntu msr_ntu; do
  $V eval linear --model $O/official --data $O/$ds --seeds 0 1 2 --quiet --out $O/${ds}_linear.json 2>&1 | tail -3
  $V eval knn --model $O/official --data $O/$ds --quiet --out $O/${ds}_knn.json 2>&1 | tail -3
done
