#!/usr/bin/env bash
# Fetch Vid4 and ToS3 (GT + the LR of one degradation) into data/.
#   bash scripts/download/download_datasets.sh BD|BI
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "${PYTHON:-python}" "$here/gdrive.py" datasets "$@"
