"""scripts/benchmark_upscale.py: it takes a shipped model's name as upscale.py does (speed itself is
never asserted: the script prints ratios)."""

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_benchmark_upscale_takes_a_model_name(tmp_path):
    cmd = [sys.executable, os.path.join(REPO, "scripts", "benchmark_upscale.py"), "--model", "frvsr-fast"]
    cmd += ["--repeat", "1", "--lr_size", "64x36", "--frames", "6"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "model frvsr-fast," in r.stdout
    row = re.search(r"network only +([\d.]+) frames/s \((\d+) frames.*end to end +([\d.]+) frames/s", r.stdout)
    assert row and int(row.group(2)) == 6, r.stdout  # the output frames (the reflected ones in front not counted)
    assert float(row.group(1)) > 0 and float(row.group(3)) > 0
