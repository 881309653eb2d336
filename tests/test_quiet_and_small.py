"""Issue 31, classes 8 and 11: ``--quiet`` is quiet (and third-party banners go in every mode);
Upscaler takes a model name; a None destination, negative restart weights, a silent 10-bit drop and
an unreported scene-cut count are refused or said; the API's messages name its arguments."""
import copy
import os
import shutil
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
import yaml
from avclips import make_clip, pattern, probe
from helpers import REPO, assert_one_line, tree_hash, upscale_in_process

import tecogan
from tecogan.experiment import load_config
from tecogan.inference.auto import supported
from tecogan.inference.options import OptionError
from tecogan.utils.errors import UserError

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
    r = subprocess.run([sys.executable, UPSCALE, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout
    return r.stdout.splitlines()


def is_final(line, dst):
    return " frames in " in line and line.endswith(f"-> {dst}")


# --------------------------------------------------------------------------------- 8. quiet ---
def test_quiet_prints_warnings_and_the_final_line_only(tmp_path, ckpt, clip):
    """--precision auto (its choice is an information line) into AV1 (SVT-AV1's banner, about 20
    lines an encoder, was printed by the probe and by every segment)."""
    before = tree_hash(clip)
    out = tmp_path / "out.mkv"
    lines = run_command(tmp_path, clip, out, "--model", ckpt, "--device", "cpu", "--precision", "auto",
                        "--codec", "av1", "--segment_frames", "2", "--quiet")
    others = [line for line in lines if not line.startswith("warning:")]
    assert len(others) == 1 and is_final(others[0], out), lines
    assert not any(line.startswith(("auto:", "Svt[")) or "CUDA" in line for line in lines), lines
    assert probe(out)["frames"] == 6
    assert tree_hash(clip) == before


@pytest.mark.parametrize("codec,name", [("av1", "out.mkv"), ("h265", "out.mp4"), ("vp9", "out.webm")])
def test_encoders_print_no_banner_without_quiet(tmp_path, ckpt, clip, codec, name):
    """Every line is the command's own: no Svt[info] (SVT-AV1), x265 [info] or libvpx lines."""
    out = tmp_path / name
    lines = run_command(tmp_path, clip, out, "--model", ckpt, "--device", "cpu", "--precision", "fp32",
                        "--codec", codec, "--segment_frames", "2")
    own = (f"{clip} -> {out}: ", "model input: ", f"writing {codec} (", "warning: ", "upscale: ")
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


# ---------------------------------------------------------------- 11. Upscaler takes a name ---
def test_upscaler_takes_a_model_name_or_a_checkpoint_path(ckpt):
    by_name = tecogan.Upscaler("frvsr", device="cpu", precision="fp32")
    shipped = tecogan.load_generator("frvsr")
    assert by_name.generator.arch() == shipped.arch()
    assert all(torch.equal(a, b) for a, b in zip(by_name.generator.state_dict().values(),
                                                  shipped.state_dict().values(), strict=True))
    by_path = tecogan.Upscaler(ckpt, device="cpu", precision="fp32")
    assert by_path.generator.arch()["nf"] == 8
    frames = pattern(3)
    assert all(np.array_equal(a, b) for a, b in zip(
        by_path.upscale_frames(frames),
        tecogan.Upscaler(tecogan.load_generator(ckpt), device="cpu", precision="fp32").upscale_frames(frames),
        strict=True))


@pytest.mark.parametrize("bad", [None, 3, "", b"frvsr", torch.nn.Conv2d(3, 3, 3)])
def test_upscaler_refuses_anything_else_in_one_line(bad):
    with pytest.raises(OptionError, match=r"^generator .*expected a generator module .*a shipped model's name "
                                          r"\(frvsr, .*\) or a checkpoint path|is not a TecoGAN/FRVSR generator"):
        tecogan.Upscaler(bad)


def test_upscaler_with_a_missing_checkpoint_names_it(tmp_path):
    with pytest.raises(UserError, match="nope.pth: checkpoint file not found"):
        tecogan.Upscaler(str(tmp_path / "nope.pth"))


# ---------------------------------------------------------------- 11. None destination ---
@pytest.mark.parametrize("dst", [None, ""])
def test_upscale_video_refuses_no_destination(tmp_path, ckpt, clip, monkeypatch, dst):
    monkeypatch.chdir(tmp_path)
    before = tree_hash(clip)
    up = tecogan.Upscaler(ckpt, device="cpu", report=None)
    with pytest.raises(UserError, match=r"^dst (None|''): expected the path of a video file or of a folder"):
        up.upscale_video(clip, dst)
    with pytest.raises(UserError, match=r"^src None: expected the path"):
        up.upscale_video(None, tmp_path / "out.mp4")
    assert os.listdir(tmp_path) == [] and tree_hash(clip) == before


# ---------------------------------------------------------------- 11. schedule schema ---
def _train_yaml(tmp_path, schedule):
    cfg = yaml.safe_load((REPO / "experiments_BD" / "FRVSR_footage" / "001" / "train.yml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg["train"]["generator"]["lr_schedule"] = schedule
    path = tmp_path / "train.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


COSINE = {"type": "CosineAnnealingLR_Restart", "periods": [4, 4]}


@pytest.mark.parametrize("extra,needle", [
    ({"restarts": [4], "restart_weights": [-5.0]}, "restart_weights: expected a list of numbers >= 0"),
    ({"restarts": [4], "restart_weights": [float("nan")]}, "restart_weights: expected a list of numbers >= 0"),
    ({"restarts": [4], "restart_weights": [True]}, "restart_weights: expected a list of numbers >= 0"),
    ({"restarts": [4], "restart_weights": [0.5, 1.0]}, "restart_weights: 2 numbers for 1 restart; expected one"),
    ({"restarts": [8, 4]}, "restarts: expected a list of increasing iteration numbers"),
    ({"restarts": [0]}, "restarts: expected a list of increasing iteration numbers (1.."),
    ({"periods": [4, 0]}, "periods: expected a list of iteration numbers (1.."),
    ({"periods": [-4]}, "periods: expected a list of iteration numbers (1.."),
])
def test_lr_schedule_lists_are_checked(tmp_path, extra, needle):
    path = _train_yaml(tmp_path, {**COSINE, **extra})
    before = tree_hash(path)
    with pytest.raises(UserError) as info:
        load_config(str(path))
    assert f"train.yml: train.generator.lr_schedule.{needle}" in str(info.value)
    assert tree_hash(path) == before


def test_lr_schedule_with_sound_restarts_loads(tmp_path):
    cfg = load_config(str(_train_yaml(tmp_path, {**COSINE, "restarts": [4], "restart_weights": [0.5]})))
    assert cfg["train"]["generator"]["lr_schedule"]["restart_weights"] == [0.5]


# ---------------------------------------------------------------- 11. 10-bit into h264 ---
@pytest.fixture(scope="module")
def deep_clip(tmp_path_factory):
    frames = [(f.astype(np.uint16) * 257) for f in pattern(3, 24, 32)]
    return make_clip(tmp_path_factory.mktemp("deep") / "in10.mkv", frames, codec="ffv1", pix_fmt="yuv420p10le",
                     rate=12, time_base=Fraction(1, 12))


def test_10bit_into_h264_says_it_drops_to_8_bits(tmp_path, ckpt, deep_clip, capsys, monkeypatch):
    before = tree_hash(deep_clip)
    status, _, err = upscale_in_process(capsys, monkeypatch, deep_clip, tmp_path / "out.mp4", "--model", ckpt,
                                        "--device", "cpu", "--quiet")
    assert status == 0, err
    drops = [line for line in err.splitlines() if "10-bit samples" in line]
    assert len(drops) == 1, err
    assert drops[0].startswith(f"warning: {tmp_path / 'out.mp4'}: the input has 10-bit samples; h264 writes yuv420p "
                               "(8 bits): --codec h265"), drops
    assert "--pix_fmt yuv420p10le" in drops[0]
    assert probe(tmp_path / "out.mp4")["pix_fmt"] == "yuv420p"
    for keep in (["--codec", "h265"], ["--pix_fmt", "yuv420p"]):  # kept, or 8 bits asked for: no word
        status, _, err = upscale_in_process(capsys, monkeypatch, deep_clip, tmp_path / f"o{keep[1]}.mkv", "--model",
                                            ckpt, "--device", "cpu", "--quiet", *keep)
        assert status == 0 and "10-bit samples" not in err, err
    assert tree_hash(deep_clip) == before


# ---------------------------------------------------------------- 11. scene-cut line ---
def _two_shots(path):
    yy, xx = np.mgrid[0:24, 0:32]
    waves = [np.clip(120 + 80 * np.sin((xx + 2 * i) / 4.0)[..., None] * np.cos(yy / 5.0)[..., None] * [1, .8, .6],
                     0, 255).astype(np.uint8) for i in range(10)]
    stripes = [np.clip(90 + 70 * np.sign(np.sin((yy - i) / 2.5))[..., None] * [.2, 1, .7] + [0, 40, 80],
                       0, 255).astype(np.uint8) for i in range(9)]
    return make_clip(path, waves + stripes, codec="ffv1", pix_fmt="yuv444p", rate=4, time_base=Fraction(1, 4))


def test_scene_cuts_on_says_how_many_and_when(tmp_path, ckpt, capsys, monkeypatch):
    src = _two_shots(tmp_path / "cut.mkv")
    status, out, err = upscale_in_process(capsys, monkeypatch, src, tmp_path / "o.mp4", "--model", ckpt,
                                          "--device", "cpu", "--scene_cuts", "on", "--segment_frames", "4")
    assert status == 0, err
    assert "scene cuts: 1 at 0:02.50" in out.splitlines(), out  # frame 10 at 4 frames/s
    status, out, err = upscale_in_process(capsys, monkeypatch, src, tmp_path / "q.mkv", "--model", ckpt,
                                          "--device", "cpu", "--scene_cuts", "on", "--quiet")
    assert status == 0 and "scene cuts" not in out, out
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, img in enumerate(pattern(4)):
        cv2.imwrite(str(frames / f"{i:04d}.png"), img[..., ::-1])
    status, out, err = upscale_in_process(capsys, monkeypatch, frames, tmp_path / "of", "--model", ckpt,
                                          "--device", "cpu", "--scene_cuts", "on")
    assert status == 0 and "scene cuts: none found" in out.splitlines(), out


def test_describe_cuts_formats_and_caps_the_list():
    from tecogan.jobs.scene_cuts import SHOWN_CUTS, describe_cuts
    assert describe_cuts([]) == "scene cuts: none found"
    assert describe_cuts([Fraction(6, 5), 4, 7.52]) == "scene cuts: 3 at 0:01.20, 0:04.00, 0:07.52"
    assert describe_cuts([3723]) == "scene cuts: 1 at 1:02:03.00"
    many = describe_cuts(list(range(SHOWN_CUTS + 7)))
    assert many.startswith(f"scene cuts: {SHOWN_CUTS + 7} at 0:00.00, 0:01.00") and many.endswith(" and 7 more")


# ---------------------------------------------------------------- 11. docs: --batch resumes ---
def test_upscale_doc_says_batch_resumes():
    text = (REPO / "docs" / "upscale.md").read_text()
    batch = " ".join(text[text.index("## Many files"):text.index("## Devices and speed")].split())
    assert "resumable jobs are not part of this release" not in text
    assert "started again from its first frame" not in batch
    assert "interrupted midway (Ctrl-C, a crash, a kill) is resumed by the next run from its last complete segment" \
        in batch


# ---------------------------------------------------------------- 11. API names its arguments ---
def test_api_errors_name_arguments_and_the_command_keeps_its_flags(tmp_path, ckpt, clip, capsys, monkeypatch):
    out = tmp_path / "out.mkv"
    shutil.copy(clip, out)  # an existing output
    before = tree_hash(tmp_path)
    up = tecogan.Upscaler(ckpt, device="cpu", report=None)
    with pytest.raises(UserError) as info:
        up.upscale_video(clip, out)
    assert str(info.value) == f"dst {out}: already exists; pass overwrite=True to replace it (it is kept otherwise)"
    with pytest.raises(UserError, match=r"^crf 99: expected 0\.\.51 for h264") as info:
        up.upscale_video(clip, tmp_path / "new.mp4", crf=99)
    with pytest.raises(UserError, match=r"^codec nope: unknown codec") as info:
        up.upscale_video(clip, tmp_path / "new.mp4", codec="nope")
    with pytest.raises(UserError, match=r"add backend openvino$") as info:
        tecogan.Upscaler(ckpt, device="cpu", precision="int8", backend="torch")
    assert tree_hash(tmp_path) == before
    status, _, err = upscale_in_process(capsys, monkeypatch, clip, out, "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, f"OUTPUT {out}: already exists; pass --overwrite to replace it")
    status, _, err = upscale_in_process(capsys, monkeypatch, clip, tmp_path / "new.mp4", "--model", ckpt,
                                        "--device", "cpu", "--crf", "99")
    assert_one_line(status, err, "--crf 99: expected 0..51 for h264")
    assert tree_hash(tmp_path) == before


def test_api_warnings_name_arguments(tmp_path, ckpt, clip, capsys):
    """The BD model's advice on an ordinary video: ``model frvsr`` from Python, ``--model frvsr`` on
    the command line (tests/test_upscale.py)."""
    tecogan.Upscaler(ckpt, device="cpu", report=None).upscale_video(clip, tmp_path / "out.mkv", quiet=True)
    err = capsys.readouterr().err
    assert "use model frvsr for videos" in err and "--model" not in err, err


def test_for_python_maps_flags_only():
    from tecogan.utils.errors import for_python
    assert for_python("--tile 4 / --tile_overlap 3; --no_audio drops it; OUTPUT x: pass --overwrite; --gpu_id 1") \
        == "tile 4 / tile_overlap 3; audio=False drops it; dst x: pass overwrite=True; --gpu_id 1"
    assert for_python("OUTPUT_DIR a--codec") == "OUTPUT_DIR a--codec"
