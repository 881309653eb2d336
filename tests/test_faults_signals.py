"""Faults round 3, class 2: five quick Ctrl-C presses end with one line and status 130.

The first signal interrupts the command; later ones arrive while it removes its temporaries
(or while Python exits) and are ignored, so no KeyboardInterrupt traceback is printed and
the process does not end by SIGINT.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
from helpers import assert_one_line, save_tiny_generator, tree_hash

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = os.path.join(REPO, "codes", "upscale.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")

_SLOW_CLEANUP = textwrap.dedent(f"""
    import runpy, sys, time
    runpy.run_path({os.path.join(REPO, "codes", "_clone.py")!r})
    from tecogan.utils.errors import run_cli

    def main():
        try:
            print("ready", flush=True)
            while True:
                time.sleep(0.01)
        finally:
            print("cleaning", flush=True)
            end = time.time() + 0.5  # clean-up that the later presses land in
            while time.time() < end:
                time.sleep(0.01)
            print("cleaned", flush=True)

    run_cli(main)
""")


def press(proc, times=5, gap=0.03):
    for _ in range(times):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)


def test_five_quick_ctrl_c_during_clean_up(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_CLEANUP], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    assert proc.stdout.readline().strip() == "ready"
    press(proc)
    out, err = proc.communicate(timeout=60)
    assert "cleaned" in out  # the clean-up ran to its end
    assert_one_line(proc.returncode, err, "interrupted by SIGINT", expected_status=130)


def test_five_quick_ctrl_c_on_upscale_keep_the_old_output(tmp_path):
    os.makedirs(tmp_path / "ck")
    ckpt = save_tiny_generator(tmp_path / "ck", "tiny_BD.pth")[0]
    rng = np.random.default_rng(0)
    os.makedirs(tmp_path / "in")
    for i in range(300):
        cv2.imwrite(str(tmp_path / "in" / f"{i:04d}.png"), rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    os.makedirs(tmp_path / "out")
    cv2.imwrite(str(tmp_path / "out" / "0000.png"), np.zeros((8, 8, 3), np.uint8))
    before = tree_hash(tmp_path / "out"), tree_hash(tmp_path / "in")
    proc = subprocess.Popen([sys.executable, UPSCALE, tmp_path / "in", tmp_path / "out", "--model", ckpt,
                             "--device", "cpu", "--overwrite"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    assert "->" in proc.stdout.readline()
    deadline = time.time() + 60
    while not [f for f in os.listdir(tmp_path) if f.startswith((".tecogan-tmp", ".tmp")) or f.endswith(".tecogan-job")] \
            and time.time() < deadline:
        time.sleep(0.02)
    press(proc, gap=0.01)
    _, err = proc.communicate(timeout=60)
    assert_one_line(proc.returncode, err, "interrupted by SIGINT", expected_status=130)
    assert (tree_hash(tmp_path / "out"), tree_hash(tmp_path / "in")) == before
    assert not [f for f in os.listdir(tmp_path) if f.startswith((".tecogan-tmp", ".tmp"))]
