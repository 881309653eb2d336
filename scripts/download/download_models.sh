#!/usr/bin/env bash
# Fetch a published checkpoint into pretrained_models/.
#   bash scripts/download/download_models.sh BD|BI FRVSR|TecoGAN
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "${PYTHON:-python}" "$here/gdrive.py" models "$@"
