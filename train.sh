#!/usr/bin/env bash
# Train experiments_<BD|BI>/<EXP>/001 (EXP: FRVSR, TecoGAN, or e.g. FRVSR_demo) in the background.
#   bash train.sh BD TecoGAN                    # GPU 0 (CPU with a warning where there is no CUDA)
#   bash train.sh BD TecoGAN 0,1                # 2 GPUs: torchrun + DistributedDataParallel
#   bash train.sh BD TecoGAN 0 --resume auto    # continue from the newest train/ckpt/state_iter*.pth
#   bash train.sh BD TecoGAN -1                 # CPU
# The log goes to experiments_<BD|BI>/<EXP>/001/train/train.log (follow it with tail -f).
# FOREGROUND=1 runs in the foreground instead; PYTHON selects the interpreter.
set -euo pipefail
cd "$(dirname "$0")"
usage="usage: bash train.sh BD|BI FRVSR|TecoGAN[_suffix] [GPU_IDS like 0 or 0,1 or -1] [--resume auto|PATH]"
degradation=${1:-}
exp=${2:-}
case "$degradation" in BD|BI) ;; *) echo "error: degradation '${degradation}': expected BD or BI ($usage)" >&2; exit 2;; esac
exp_dir="./experiments_${degradation}/${exp}/001"
if [[ -z "$exp" || ! -f "$exp_dir/train.yml" ]]; then
    echo "error: model '${exp}': $exp_dir/train.yml not found ($usage)" >&2; exit 2
fi
model=${exp%%_*}
case "$model" in FRVSR|TecoGAN) ;; *) echo "error: model '${exp}': expected FRVSR or TecoGAN, optionally with a _suffix ($usage)" >&2; exit 2;; esac
shift 2
gpu_ids=0
if [[ $# -gt 0 && "$1" != --* ]]; then gpu_ids=$1; shift; fi
resume=()
if [[ $# -gt 0 ]]; then
    if [[ "$1" == "--resume" && $# -eq 2 ]]; then resume=(--resume "$2")
    else echo "error: unexpected arguments '$*' ($usage)" >&2; exit 2; fi
fi
source ./scripts/python_env.sh
train_dir="$exp_dir/train"
# an earlier start that saved no checkpoint (a typo in the YAML) does not block a new one: main.py
# starts it afresh under the training lock
if [[ ${#resume[@]} -eq 0 && -d "$train_dir" ]] && [[ -n "$(find "$train_dir" -name '*.pth' -print -quit)" ]]; then
    echo "error: $train_dir already exists; remove it, or continue it with --resume auto" >&2
    exit 2
fi
if [[ -z "${FOREGROUND:-}" ]]; then
    # the YAML, the files it names and the experiment's lock, checked here: in the background an
    # error would reach only the log while this script said it had started
    "$PY" ./codes/main.py --exp_dir "$exp_dir" --mode train --model "$model" --opt train.yml --gpu_id -1 \
        --check "${resume[@]}" || exit $?
fi
mkdir -p "$train_dir"
log="$train_dir/train.log"

n_gpu=1
if [[ "$gpu_ids" != "-1" ]]; then
    if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        echo "warning: CUDA is not available here; training on the CPU" >&2
        gpu_ids=-1
    else
        IFS=, read -r -a ids <<< "$gpu_ids"
        n_gpu=${#ids[@]}
    fi
fi

if [[ $n_gpu -gt 1 ]]; then
    cmd=(env CUDA_VISIBLE_DEVICES="$gpu_ids" "$PY" -m torch.distributed.run --nproc_per_node "$n_gpu"
         --master_port "${MASTER_PORT:-29500}" ./codes/main.py --exp_dir "$exp_dir" --mode train --model "$model"
         --opt train.yml --gpu_id 0 "${resume[@]}")
elif [[ "$gpu_ids" == "-1" ]]; then
    cmd=("$PY" ./codes/main.py --exp_dir "$exp_dir" --mode train --model "$model" --opt train.yml --gpu_id -1
         "${resume[@]}")
else
    cmd=(env CUDA_VISIBLE_DEVICES="$gpu_ids" "$PY" ./codes/main.py --exp_dir "$exp_dir" --mode train
         --model "$model" --opt train.yml --gpu_id 0 "${resume[@]}")
fi

if [[ -n "${FOREGROUND:-}" ]]; then
    exec "${cmd[@]}"
fi
# the trainer writes the log file itself; stdout/stderr (errors) are appended to it as well
TECOGAN_LOG_FILE_ONLY=1 nohup "${cmd[@]}" < /dev/null >> "$log" 2>&1 &
echo "training ${degradation} ${exp} in the background (pid $!); log: $log"
echo "follow it with: tail -f $log"
