#!/usr/bin/env bash
# Super-resolve every test* dataset of experiments_<BD|BI>/<EXP>/001/test.yml
# (EXP: FRVSR, TecoGAN, or e.g. FRVSR_footage).
#   bash test.sh BD TecoGAN [GPU_ID]      (GPU_ID defaults to 0; -1 = CPU; no CUDA -> CPU)
set -euo pipefail
cd "$(dirname "$0")"
degradation=${1:-}
model=${2:-}
gpu_id=${3:-0}
usage="usage: bash test.sh BD|BI FRVSR|TecoGAN[_suffix] [GPU_ID]"
case "$degradation" in BD|BI) ;; *) echo "error: degradation '${degradation}': expected BD or BI ($usage)" >&2; exit 2;; esac
case "${model%%_*}" in FRVSR|TecoGAN) ;; *) echo "error: model '${model}': expected FRVSR or TecoGAN, optionally with a _suffix ($usage)" >&2; exit 2;; esac
exp_dir="./experiments_${degradation}/${model}/001"
if [[ ! -f "$exp_dir/test.yml" ]]; then
    echo "error: model '${model}': $exp_dir/test.yml not found ($usage)" >&2; exit 2
fi
source ./scripts/python_env.sh
exec "$PY" ./codes/main.py --exp_dir "$exp_dir" \
    --mode test --model "${model%%_*}" --opt test.yml --gpu_id "$gpu_id" "${@:4}"
