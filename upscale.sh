#!/usr/bin/env bash
# Upscale a video or a folder of frames:  bash upscale.sh INPUT OUTPUT --model CKPT [options]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/scripts/python_env.sh"
exec "$PY" "$here/codes/upscale.py" "$@"
