"""Inference settings read from the environment (inference/options.py and the variables beside it).

``$TECOGAN_PRECISION`` takes any case and surrounding spaces, and a value that means nothing is one
line naming the variable (upscale.py and the API), never a traceback; ``$TECOGAN_DEBUG``,
``$WORLD_SIZE``/``$RANK`` and ``$TECOGAN_CACHE_DIR`` are read the same way.  (Precision and resume:
test_jobs_resume.py and test_jobs_batch.py; the caches: test_inference_auto.py and
test_inference_backends.py.)
"""

import os

import cv2
import numpy as np
import pytest
from helpers import assert_one_line, run_python, tree_hash

from tecogan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED = "expected one of fp32, bf16, int8, fp16, auto"


def _command(*args, **env):
    return run_python(
        f"import sys; sys.argv = ['upscale.py'] + {list(map(str, args))!r}\nfrom tecogan.upscale import cli; cli()", **env
    )


# ------------------------------------------------------------------ the environment ----
@pytest.mark.parametrize(
    "value, meant", [("FP32", "fp32"), (" fp32 ", "fp32"), ("Auto\n", "auto"), ("  ", "auto"), ("bf16", "bf16")]
)
def test_precision_variable_takes_case_and_spaces(value, meant):
    r = run_python(
        "from tecogan.inference.options import InferenceOptions; print(InferenceOptions().precision)", TECOGAN_PRECISION=value
    )
    assert r.returncode == 0 and r.stdout.strip() == meant, r.stderr


def test_a_bad_precision_variable_is_one_line_naming_it(tmp_path):
    src = tmp_path / "in"
    os.makedirs(src)
    cv2.imwrite(str(src / "0001.png"), np.zeros((16, 16, 3), np.uint8))
    before = tree_hash(src)
    r = _command(src, tmp_path / "out", "--device", "cpu", TECOGAN_PRECISION="fp33")
    line = assert_one_line(r.returncode, r.stderr, "$TECOGAN_PRECISION 'fp33'", EXPECTED)
    assert line.startswith("error: $TECOGAN_PRECISION")
    r = _command("--help", TECOGAN_PRECISION="fp33")
    assert r.returncode == 0 and "Traceback" not in r.stderr and "usage:" in r.stdout
    assert "TECOGAN_PRECISION" in r.stdout and "'fp33'" in " ".join(r.stdout.split())
    # an explicit --precision does not read it: the command goes on to its next check
    r = _command(tmp_path / "missing", tmp_path / "out", "--device", "cpu", "--precision", "fp32", TECOGAN_PRECISION="fp33")
    assert_one_line(r.returncode, r.stderr, "missing", "not found")
    # the API: the default raises OptionError (a ValueError) naming the variable; an explicit precision runs
    r = run_python(
        "import torch, tecogan\nfrom tecogan.networks.frnet import FRNet\nnet = FRNet(nf=8, nb=1)\n"
        "print(tecogan.Upscaler(net, precision='fp32', device='cpu', report=None).options.precision)\n"
        "try:\n    tecogan.Upscaler(net, device='cpu')\nexcept ValueError as e:\n    print('refused:', e)",
        TECOGAN_PRECISION=" FP33 ",
    )
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.splitlines() == ["fp32", f"refused: $TECOGAN_PRECISION ' FP33 ': {EXPECTED} (or unset it: auto)"]
    assert tree_hash(src) == before


def test_other_variables_read_as_settings(tmp_path, monkeypatch):
    # TECOGAN_DEBUG=false is off: one line, not a traceback
    r = _command(tmp_path / "missing", tmp_path / "out", "--device", "cpu", TECOGAN_DEBUG=" False ")
    assert_one_line(r.returncode, r.stderr, "missing")
    from tecogan.utils.distributed import init_from_env

    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(UserError, match=r"^\$WORLD_SIZE 'two': expected a non-negative integer"):
        init_from_env()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "-1")
    with pytest.raises(UserError, match=r"^\$RANK '-1'"):
        init_from_env()
    from tecogan.inference.backends import model_cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TECOGAN_CACHE_DIR", " ~/cache ")
    assert model_cache_dir() == str(tmp_path / "cache")
    monkeypatch.delenv("TECOGAN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG specification: ignored
    assert model_cache_dir() == str(tmp_path / ".cache" / "tecogan" / "openvino")
