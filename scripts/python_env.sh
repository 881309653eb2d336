# Sourced by train.sh, test.sh, profile.sh and upscale.sh: picks the interpreter ($PYTHON, else
# the repository's .venv, else python3) and checks that it has the project's dependencies, so a
# shell outside the virtualenv gets one line instead of a ModuleNotFoundError traceback.
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$_repo/.venv/bin/python" ]]; then PYTHON="$_repo/.venv/bin/python"; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import torch, yaml, cv2, lmdb" 2>/dev/null; then
    echo "error: $PYTHON lacks the project's packages (torch, pyyaml, opencv, lmdb); install them with the README's command: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" >&2
    exit 2
fi
PY="$PYTHON"
