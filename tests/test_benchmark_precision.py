"""scripts/benchmark_precision.py: its clip reading (BD and BI low-res made like the models'
training data) and its summary rows (ratios, deltas, drift, the gate) that precision=auto reads."""

import numpy as np
import pytest
from helpers import REPO, load_script

from tecogan.utils.errors import UserError

bench = load_script("scripts/benchmark_precision.py")
COFFEE = str(REPO / "demo" / "val" / "GT" / "coffee")


def test_read_clip_makes_the_low_res_input_per_degradation():
    gt, lr_bd = bench.read_clip(COFFEE, 4, "BD", max_frames=3)
    _, lr_bi = bench.read_clip(COFFEE, 4, "BI", max_frames=3)
    assert gt.shape == (3, 144, 256, 3) and lr_bd.shape == lr_bi.shape == (3, 36, 64, 3)
    assert lr_bd.dtype == np.uint8 and not np.array_equal(lr_bd, lr_bi)  # top-left sampled vs centred
    with pytest.raises(UserError, match="clip folder not found"):
        bench.read_clip(COFFEE + "_missing", 4, "BD")


def test_summary_rows_and_the_gate():
    pairs = [("torch", "fp32"), ("openvino", "bf16"), ("openvino", "int8")]

    def totals(seconds, psnr, lpips, tof, drift):
        return {
            "frames": 50,
            "seconds": seconds,
            "psnr": [(psnr, 10), (psnr, 40)],
            "lpips": [(lpips, 50)],
            "tof": [(tof, 50)],
            "drift_first": [drift, drift + 1],
            "drift_last": [drift, drift - 1],
        }

    data = {
        pairs[0]: totals(10.0, 28.0, 0.20, 0.50, float("inf")),
        pairs[1]: totals(5.0, 27.99, 0.201, 0.501, 57.0),
        pairs[2]: totals(4.0, 27.90, 0.20, 0.50, 50.0),
    }
    lines = []
    rows = bench.summarize("tiny", pairs, data, lines.append)
    assert rows["openvino/bf16"]["speedup"] == 2.0 and rows["openvino/bf16"]["within_gate"]
    assert rows["openvino/bf16"]["drift_last_db"] == 56.0  # the worst clip's last frames
    assert rows["openvino/int8"]["d_psnr"] == pytest.approx(-0.1) and not rows["openvino/int8"]["within_gate"]
    assert any("gate: FAIL" in line for line in lines) and lines[0].startswith("tiny: all clips (50 frames)")


def test_runs_for_two_classes_ending_together_keep_both_rows(tmp_path, monkeypatch):
    import threading
    import time

    from tecogan.inference import measurements

    table = tmp_path / "precision_table.json"
    slow_load = measurements.load_table

    def load_slowly(path):  # widens the read-merge-write window, as two long runs ending together
        data = slow_load(path)
        time.sleep(0.3)
        return data

    monkeypatch.setattr(measurements, "load_table", load_slowly)
    record = {"rows": {}, "machine": "m", "command": "c", "clips": []}
    runs = [
        threading.Thread(target=bench.write_table, args=(str(table), "abc", "frvsr-fast", cls, dict(record)))
        for cls in ("avx2", "avx512")
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    stored = measurements.load_table(str(table))
    assert sorted(stored["models"]["abc"]["classes"]) == ["avx2", "avx512"]
    assert not list(tmp_path.glob("*.tmp"))
