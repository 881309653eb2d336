#!/usr/bin/env bash
# Parameters, FLOPs and speed of the generator for one frame step at an LR size.
#   bash profile.sh BD TecoGAN 3x134x320 [GPU_ID]
set -euo pipefail
cd "$(dirname "$0")"
degradation=${1:-}
model=${2:-}
lr_size=${3:-}
gpu_id=${4:-0}
usage="usage: bash profile.sh BD|BI FRVSR|TecoGAN CxHxW [GPU_ID]"
case "$degradation" in BD|BI) ;; *) echo "error: degradation '${degradation}': expected BD or BI ($usage)" >&2; exit 2;; esac
case "$model" in FRVSR|TecoGAN) ;; *) echo "error: model '${model}': expected FRVSR or TecoGAN ($usage)" >&2; exit 2;; esac
if [[ ! "$lr_size" =~ ^[0-9]+x[0-9]+x[0-9]+$ ]]; then
    echo "error: LR size '${lr_size}': expected CxHxW with three positive integers, e.g. 3x134x320 ($usage)" >&2
    exit 2
fi
PY=${PYTHON:-python}
exec "$PY" ./codes/main.py --exp_dir "./experiments_${degradation}/${model}/001" \
    --mode profile --model "$model" --opt test.yml --gpu_id "$gpu_id" --lr_size "$lr_size" --test_speed "${@:5}"
