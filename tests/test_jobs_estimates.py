"""Time estimates (codes/jobs/estimates.py, codes/utils/progress.py): rates leave the warm-up out,
one estimate line for the whole job with the faster paths the precision table measured, and a
batch's estimate after its first file."""

import io

import cv2
import numpy as np
import pytest
from helpers import save_tiny_generator, upscale_in_process

from tecogan.inference import InferenceOptions, Upscaler
from tecogan.inference.precision import weights_hash
from tecogan.jobs import estimates
from tecogan.networks.frnet import FRNet
from tecogan.utils.device import cpu_class
from tecogan.utils.progress import ESTIMATE_FRAMES, Progress


def test_rates_and_the_estimate_leave_the_warm_up_out():
    now = [0.0]
    stream, seen = io.StringIO(), []

    def estimate(rate, left):
        seen.append((rate, left))
        return f"estimate: {left} frames at {rate:.2f}"

    progress = Progress(total=20, desc="upscale", stream=stream, every=5, clock=lambda: now[0], estimate=estimate)
    now[0] = 30.0  # model loading, conversion and the first frame: 30 s
    progress.update()
    for _ in range(ESTIMATE_FRAMES + 6):
        now[0] += 1.0  # then one frame a second
        progress.update()
    lines = stream.getvalue().splitlines()
    assert seen == [(1.0, 20 - 1 - ESTIMATE_FRAMES)]  # once, at the measured speed, not 4/33 frames/s
    assert [line for line in lines if line.startswith("estimate")] == [f"estimate: {20 - 1 - ESTIMATE_FRAMES} frames at 1.00"]
    progress_lines = [line for line in lines if line.startswith("upscale: ")]
    assert progress_lines and all("1.00 frames/s" in line for line in progress_lines), lines


def test_a_quiet_or_unknown_length_job_prints_no_estimate():
    stream, now = io.StringIO(), [0.0]
    progress = Progress(total=9, stream=stream, quiet=True, clock=lambda: now[0], estimate=lambda r, n: "estimate")
    for _ in range(9):
        now[0] += 1.0
        progress.update()
    assert stream.getvalue() == ""
    assert estimates.job_estimate(2.0, None) is None and estimates.job_estimate(0.0, 10) is None


def _table(net, fast_fps=8.0, int8_fps=5.0, within=True):
    gate = {"d_psnr": -0.01, "d_lpips_rel": 0.0, "d_tof_rel": 0.0, "drift_last_db": 50.0 if within else 20.0}
    cls = cpu_class()  # this machine's class: the rows an estimate reads
    return {
        "models": {
            weights_hash(net): {
                "name": "frvsr",
                "classes": {cls: {"rows": {"torch/fp32": {"fps": 2.0, **gate}, "openvino/int8": {"fps": int8_fps, **gate}}}},
            },
            "f" * 24: {"name": "frvsr-fast", "classes": {cls: {"rows": {"torch/fp32": {"fps": fast_fps, **gate}}}}},
        }
    }


def test_faster_paths_come_from_the_table(monkeypatch):
    net = FRNet(nf=8, nb=1, degradation="BI").eval()
    up = Upscaler(net, InferenceOptions(precision="fp32", backend="torch", device="cpu"))
    pairs = [("torch", "fp32"), ("openvino", "int8")]
    monkeypatch.setattr(estimates, "native_precisions", lambda device: pairs)  # any CPU class
    paths = estimates.faster_paths(up, _table(net))
    # frvsr-fast at the interleaved end-to-end ratio, whatever its row's frames/s (another run's)
    assert paths == [("--model frvsr-fast (a little softer)", 4.0), ("--precision int8 --backend openvino", 2.5)]
    assert estimates.faster_paths(up, _table(net, fast_fps=49.0)) == paths
    line = estimates.job_estimate(0.5, 740, paths)
    assert line == (
        "estimate: 740 frames left at 0.50 frames/s: about 24m40s; faster: --model frvsr-fast "
        "(a little softer) about 6m10s, --precision int8 --backend openvino about 9m52s"
    )
    # a pair outside the quality gate, or not faster by 15%, is not suggested; nor one this CPU lacks
    assert estimates.faster_paths(up, _table(net, int8_fps=2.1, within=False)) == [paths[0]]
    monkeypatch.setattr(estimates, "native_precisions", lambda device: pairs[:1])
    assert estimates.faster_paths(up, _table(net, int8_fps=2.1)) == [paths[0]]
    table = _table(net)
    del table["models"]["f" * 24]["classes"][cpu_class()]["rows"]["torch/fp32"]  # frvsr-fast not measured so here
    assert estimates.faster_paths(up, table) == []
    # a checkpoint the table does not hold, and a BD model (frvsr-fast is for ordinary video): nothing
    other = FRNet(nf=8, nb=1, degradation="BD").eval()
    assert estimates.faster_paths(Upscaler(other, InferenceOptions(precision="fp32", device="cpu")), _table(net)) == []


def test_probe_and_batch_estimate(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.zeros((10, 20, 3), np.uint8))
    assert estimates.probe(folder) == (6, 200)
    assert estimates.probe(tmp_path / "missing.mp4") is None
    (tmp_path / "notes.mp4").write_text("not a video")
    assert estimates.probe(tmp_path / "notes.mp4") is None
    line = estimates.batch_estimate(100.0, [folder, folder, tmp_path / "notes.mp4"])
    assert (
        line == "batch estimate: 3 inputs left, 12 frames (+ 1 of unknown length): about 24s at the speed of "
        "the files done so far"
    )


@pytest.mark.parametrize("quiet", [False, True])
def test_upscale_py_prints_the_estimate_once_unless_quiet(tmp_path, capsys, monkeypatch, quiet):
    ckpt = save_tiny_generator(tmp_path, degradation="BI")[0]
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(src / f"{i:04d}.png"), rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    status, out, err = upscale_in_process(
        capsys,
        monkeypatch,
        src,
        tmp_path / "out",
        "--model",
        ckpt,
        "--device",
        "cpu",
        "--precision",
        "fp32",
        *(["--quiet"] if quiet else []),
    )
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.startswith("estimate: ")]
    assert (
        lines == [] if quiet else len(lines) == 1 and lines[0].startswith(f"estimate: {8 - 1 - ESTIMATE_FRAMES} frames left at ")
    ), out
