#!/usr/bin/env bash
# Parameters, FLOPs and speed of the generator for one frame step at an LR size.
#   bash profile.sh BD TecoGAN 3x134x320 [GPU_ID]     (EXP: FRVSR, TecoGAN, or e.g. FRVSR_2x)
set -euo pipefail
cd "$(dirname "$0")"
degradation=${1:-}
model=${2:-}
lr_size=${3:-}
gpu_id=${4:-0}
usage="usage: bash profile.sh BD|BI FRVSR|TecoGAN[_suffix] CxHxW [GPU_ID]"
case "$degradation" in BD|BI) ;; *) echo "error: degradation '${degradation}': expected BD or BI ($usage)" >&2; exit 2;; esac
case "${model%%_*}" in FRVSR|TecoGAN) ;; *) echo "error: model '${model}': expected FRVSR or TecoGAN, optionally with a _suffix ($usage)" >&2; exit 2;; esac
exp_dir="./experiments_${degradation}/${model}/001"
if [[ ! -f "$exp_dir/test.yml" ]]; then
    echo "error: model '${model}': $exp_dir/test.yml not found ($usage)" >&2; exit 2
fi
if [[ ! "$lr_size" =~ ^[0-9]+x[0-9]+x[0-9]+$ ]]; then
    echo "error: LR size '${lr_size}': expected CxHxW with three positive integers, e.g. 3x134x320 ($usage)" >&2
    exit 2
fi
source ./scripts/python_env.sh
exec "$PY" ./codes/main.py --exp_dir "$exp_dir" \
    --mode profile --model "${model%%_*}" --opt test.yml --gpu_id "$gpu_id" --lr_size "$lr_size" --test_speed "${@:5}"
