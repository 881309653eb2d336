"""scripts/benchmark_training.py runs and prints one row per memory format and precision (a
smoke test on a tiny clip: the figures themselves are not checked, speed is never a test)."""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "benchmark_training.py")


def run(*args):
    return subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="2")
    )


def test_rows_for_each_format_and_precision():
    r = run(
        "--recipes",
        "FRVSR",
        "--crop",
        "32",
        "--batch",
        "1",
        "--tempo",
        "2",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--formats",
        "channels_last,contiguous",
        "--precisions",
        "fp32,bf16",
    )
    assert r.returncode == 0, r.stderr
    rows = re.findall(r"^FRVSR +(\w+) (\w+) *: +([0-9.]+) it/s", r.stdout, re.M)
    assert [(f, p) for f, p, _ in rows] == [
        ("channels_last", "fp32"),
        ("channels_last", "bf16"),
        ("contiguous", "fp32"),
        ("contiguous", "bf16"),
    ]
    assert all(float(v) > 0 for _, _, v in rows)
    assert "bf16 hardware (AMX or AVX512-BF16): " in r.stdout
    assert "(1.00x" not in r.stdout.splitlines()[2]  # the first row is the base, without a ratio


def test_unknown_precision_is_one_line():
    r = run("--precisions", "fp8")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "error: --precisions fp8: expected some of fp32, bf16, fp16"
