"""utils/verbosity.py: ``--quiet`` prints warnings and the final line only; third-party banners
(encoders, NNCF's calibration bars, torch's CUDA banner) go in every mode, their progress stays
without --quiet; the API's ``quiet`` leaves out the auto line."""

import os
import subprocess
import sys
from fractions import Fraction

import pytest
import torch
from avclips import make_clip, pattern, probe
from helpers import REPO, tree_hash

import tecogan
from tecogan.inference.auto import supported

UPSCALE = str(REPO / "codes" / "upscale.py")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("in") / "in.mp4", pattern(6), rate=12, time_base=Fraction(1, 12))


def run_command(tmp_path, *args):
    """upscale.py in its own process, stdout and stderr as the terminal would show them (file
    descriptors 1 and 2: C libraries write there directly); a fresh OpenVINO cache, so that
    conversions (and int8's NNCF calibration) run; a CUDA toolkit folder without a GPU, where
    torch's "No CUDA runtime is found" banner is logged when NNCF loads."""
    cuda_home = tmp_path / "cuda"
    cuda_home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    env.update(OMP_NUM_THREADS="1", CUDA_HOME=str(cuda_home), TECOGAN_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run(
        [sys.executable, UPSCALE, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout
    return r.stdout.splitlines()


def is_final(line, dst):
    return " frames in " in line and line.endswith(f"-> {dst}")


def test_quiet_prints_warnings_and_the_final_line_only(tmp_path, ckpt, clip):
    """--precision auto (its choice is an information line) into AV1 (SVT-AV1's banner, about 20
    lines an encoder, was printed by the probe and by every segment)."""
    before = tree_hash(clip)
    out = tmp_path / "out.mkv"
    lines = run_command(
        tmp_path,
        clip,
        out,
        "--model",
        ckpt,
        "--device",
        "cpu",
        "--precision",
        "auto",
        "--codec",
        "av1",
        "--segment_frames",
        "2",
        "--quiet",
    )
    others = [line for line in lines if not line.startswith("warning:")]
    assert len(others) == 1 and is_final(others[0], out), lines
    assert not any(line.startswith(("auto:", "Svt[")) or "CUDA" in line for line in lines), lines
    assert probe(out)["frames"] == 6
    assert tree_hash(clip) == before


@pytest.mark.parametrize("codec,name", [("av1", "out.mkv"), ("h265", "out.mp4"), ("vp9", "out.webm")])
def test_encoders_print_no_banner_without_quiet(tmp_path, ckpt, clip, codec, name):
    """Every line is the command's own: no Svt[info] (SVT-AV1), x265 [info] or libvpx lines."""
    out = tmp_path / name
    lines = run_command(
        tmp_path, clip, out, "--model", ckpt, "--device", "cpu", "--precision", "fp32", "--codec", codec, "--segment_frames", "2"
    )
    own = (f"{clip} -> {out}: ", "model input: ", f"writing {codec} (", "warning: ", "upscale: ", "estimate: ")
    assert all(line.startswith(own) for line in lines[:-1]) and is_final(lines[-1], out), lines
    assert any(line.startswith(f"writing {codec} (") for line in lines), lines  # the information stays


@pytest.mark.openvino
def test_int8_calibration_bars_go_with_quiet_and_the_cuda_banner_always(tmp_path, ckpt, clip):
    if not supported("int8", torch.device("cpu"), "openvino"):  # asked here, in the child: it imports OpenVINO
        pytest.skip("int8 needs a CPU with VNNI")
    out = tmp_path / "out.mp4"
    args = [clip, out, "--model", ckpt, "--device", "cpu", "--precision", "int8", "--backend", "openvino"]
    (tmp_path / "quiet").mkdir()
    lines = run_command(tmp_path / "quiet", *args, "--quiet")
    others = [line for line in lines if not line.startswith("warning:")]
    assert len(others) == 1 and is_final(others[0], out), lines
    assert not any("CUDA" in line for line in lines), lines
    (tmp_path / "loud").mkdir()
    lines = run_command(tmp_path / "loud", *args, "--overwrite")
    assert any("Statistics collection" in line for line in lines), lines  # NNCF's progress stays
    assert not any("No CUDA runtime" in line for line in lines), lines


def test_api_quiet_leaves_out_the_auto_line(tmp_path, ckpt, clip, capsys):
    lines = []
    up = tecogan.Upscaler(ckpt, device="cpu", precision="auto", backend="torch", report=lines.append)
    up.upscale_video(clip, tmp_path / "out.mkv", quiet=True)
    assert lines == [] and "auto:" not in capsys.readouterr().out
    up = tecogan.Upscaler(ckpt, device="cpu", precision="auto", backend="torch", report=lines.append)
    up.upscale_video(clip, tmp_path / "out2.mkv")
    assert any(line.startswith("auto:") for line in lines), lines  # not quiet: said
