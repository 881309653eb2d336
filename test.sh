#!/usr/bin/env bash
# Super-resolve every test* dataset of experiments_<BD|BI>/<FRVSR|TecoGAN>/001/test.yml.
#   bash test.sh BD TecoGAN [GPU_ID]      (GPU_ID defaults to 0; -1 = CPU; no CUDA -> CPU)
set -euo pipefail
cd "$(dirname "$0")"
degradation=${1:-}
model=${2:-}
gpu_id=${3:-0}
usage="usage: bash test.sh BD|BI FRVSR|TecoGAN [GPU_ID]"
case "$degradation" in BD|BI) ;; *) echo "error: degradation '${degradation}': expected BD or BI ($usage)" >&2; exit 2;; esac
case "$model" in FRVSR|TecoGAN) ;; *) echo "error: model '${model}': expected FRVSR or TecoGAN ($usage)" >&2; exit 2;; esac
PY=${PYTHON:-python}
exec "$PY" ./codes/main.py --exp_dir "./experiments_${degradation}/${model}/001" \
    --mode test --model "$model" --opt test.yml --gpu_id "$gpu_id" "${@:4}"
