#!/usr/bin/env bash
# Train experiments_<BD|BI>/<FRVSR|TecoGAN|...>/001/train.yml in the background.
#   bash train.sh BD TecoGAN [GPU_IDS] [--resume auto|PATH]
# GPU_IDS: 0 (default), -1 for the CPU, or a list like 0,1 -> torchrun, one process per GPU.
set -euo pipefail
cd "$(dirname "$0")"
degradation=${1:-}
model=${2:-}
usage="usage: bash train.sh BD|BI MODEL [GPU_IDS] [--resume auto|PATH]"
case "$degradation" in BD|BI) ;; *) echo "error: degradation '${degradation}': expected BD or BI ($usage)" >&2; exit 2;; esac
exp_dir="./experiments_${degradation}/${model}/001"
if [[ -z "$model" || ! -f "${exp_dir}/train.yml" ]]; then
    echo "error: model '${model}': ${exp_dir}/train.yml not found ($usage)" >&2; exit 2
fi
shift 2
gpu_ids=0
if [[ $# -gt 0 && "$1" != --* ]]; then gpu_ids=$1; shift; fi
resume=()
if [[ $# -gt 0 ]]; then
    if [[ "$1" == "--resume" && $# -ge 2 ]]; then resume=(--resume "$2"); shift 2
    else echo "error: unexpected arguments '$*' ($usage)" >&2; exit 2; fi
fi
if [[ -d "${exp_dir}/train" && ${#resume[@]} -eq 0 ]]; then
    echo "error: ${exp_dir}/train already exists; remove it to start again, or resume with --resume auto" >&2
    exit 2
fi
mkdir -p "${exp_dir}/train"
log="${exp_dir}/train/train.log"
PY=${PYTHON:-python}
IFS=',' read -r -a ids <<< "$gpu_ids"
export TECOGAN_LOG_FILE_ONLY=1
if [[ ${#ids[@]} -gt 1 ]]; then
    CUDA_VISIBLE_DEVICES="$gpu_ids" nohup "$PY" -m torch.distributed.run --standalone --nproc_per_node "${#ids[@]}" \
        ./codes/main.py --exp_dir "$exp_dir" --mode train --model "$model" --opt train.yml "${resume[@]}" \
        >> "${exp_dir}/train/console.log" 2>&1 &
else
    nohup "$PY" ./codes/main.py --exp_dir "$exp_dir" --mode train --model "$model" --opt train.yml \
        --gpu_id "${ids[0]}" "${resume[@]}" >> "${exp_dir}/train/console.log" 2>&1 &
fi
echo "training in the background (pid $!); log: ${log} (errors: ${exp_dir}/train/console.log)"
