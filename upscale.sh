#!/usr/bin/env bash
# Upscale a video or a folder of frames 4x:  bash upscale.sh INPUT OUTPUT --model CKPT [options]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "${PYTHON:-python}" "$here/codes/upscale.py" "$@"
