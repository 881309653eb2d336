"""The Python API (docs/api.md): load_generator, Upscaler, metrics; the doc's examples run;
the console commands after `pip install .` into a fresh virtualenv."""

import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
from avclips import make_clip, pattern
from helpers import REPO, assert_one_line, tree_hash, upscale_in_process, write_frames

import tecogan
from tecogan.inference.options import OptionError
from tecogan.inference.steppers import infer_sequence
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError

DEMO_LR = REPO / "demo" / "val" / "Gaussian4xLR" / "coffee"


def read_rgb(folder):
    return [cv2.imread(str(folder / n))[..., ::-1].copy() for n in sorted(os.listdir(folder))]


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "tiny_BI.pth"
    torch.save(FRNet(nf=8, nb=1, degradation="BI").state_dict(), path)
    return path


def test_load_generator_from_path_and_state_dict(tiny_ckpt):
    net = tecogan.load_generator(tiny_ckpt)
    assert isinstance(net, FRNet) and not net.training
    assert net.arch() == {"in_nc": 3, "out_nc": 3, "nf": 8, "nb": 1, "degradation": "BI", "scale": 4}
    sd = torch.load(tiny_ckpt, weights_only=True)
    same = tecogan.load_generator(sd)
    for k, v in net.state_dict().items():
        assert torch.equal(same.state_dict()[k], v)
    with pytest.raises(UserError, match="does not fit"):
        tecogan.load_generator(sd, degradation="BD")
    with pytest.raises(UserError) as caught:  # the keyword given, not a YAML, is what to change
        tecogan.load_generator(tiny_ckpt, nf=16)
    assert "leave out nf 16 (read from the checkpoint)" in str(caught.value) and "YAML" not in str(caught.value)
    with pytest.raises(UserError, match="not an FRNet generator checkpoint"):
        tecogan.load_generator({"dense.weight": torch.zeros(1, 4)})


def test_upscale_frames_equals_test_mode_and_streams(tiny_ckpt):
    net = tecogan.load_generator(tiny_ckpt)
    lr = read_rgb(DEMO_LR)
    expected = list(infer_sequence(net, np.stack(lr), 5, "reflect"))
    up = tecogan.Upscaler(net)
    assert up.scale == 4
    got = list(up.upscale_frames(iter(lr)))  # a one-pass iterator works (streaming)
    assert len(got) == len(lr) and got[0].shape == (144, 256, 3) and got[0].dtype == np.uint8
    for a, b in zip(got, expected, strict=False):
        assert np.array_equal(a, b)
    assert all(np.array_equal(a, b) for a, b in zip(up.upscale_frames(lr), got, strict=False))  # each call a new clip
    tiled = list(tecogan.Upscaler(net, tile=32, tile_overlap=8).upscale_frames(lr))
    diff = np.abs(np.stack(tiled).astype(int) - np.stack(got).astype(int))
    assert diff.max() <= 40 and diff.mean() < 1.0  # tiles: the same picture, seams blended


def test_upscaler_refuses_bad_frames_and_settings(tiny_ckpt):
    net = tecogan.load_generator(tiny_ckpt)
    up = tecogan.Upscaler(net)
    with pytest.raises(ValueError, match="uint8 RGB"):
        list(up.upscale_frames([np.zeros((16, 16, 3), np.float32)]))
    with pytest.raises(ValueError, match="differs from the first"):
        list(up.upscale_frames([np.zeros((16, 16, 3), np.uint8), np.zeros((16, 20, 3), np.uint8)]))
    with pytest.raises(ValueError, match="tile 4"):
        tecogan.Upscaler(net, tile=4)
    with pytest.raises(TypeError, match="unknown or fixed option 'tile'"):
        up.upscale_video(DEMO_LR, "unused", tile=16)


def test_upscale_video_folder_equals_upscale_frames(tiny_ckpt, tmp_path):
    net = tecogan.load_generator(tiny_ckpt)
    up = tecogan.Upscaler(net)
    up.upscale_video(DEMO_LR, tmp_path / "out")
    expected = list(up.upscale_frames(read_rgb(DEMO_LR)))
    got = read_rgb(tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.listdir(DEMO_LR))
    for a, b in zip(got, expected, strict=False):
        assert np.array_equal(a, b)
    with pytest.raises(UserError, match="not found"):
        up.upscale_video(tmp_path / "absent", tmp_path / "o2")


def test_official_metrics_on_arrays(shared_dir, monkeypatch):
    monkeypatch.delenv("TECOGAN_LPIPS_WEIGHTS", raising=False)
    import json

    case = REPO / "tests" / "data" / "metrics_case0"
    expected = json.loads((case / "expected.json").read_text())
    seq = expected["sequences"][0]
    gt, sr = read_rgb(case / "GT" / seq), read_rgb(case / "SR" / seq)
    no_lpips = tecogan.metrics.official_metrics(gt, sr, metrics=("PSNR", "SSIM", "tOF"))
    assert set(no_lpips["mean"]) == {"PSNR", "SSIM", "tOF"}
    np.testing.assert_allclose(no_lpips["per_frame"]["PSNR"], expected["per_sequence"][seq]["PSNR"], rtol=1e-4)
    full = tecogan.metrics.official_metrics(gt, sr)  # LPIPS from the bundled AlexNet weights
    assert set(full["mean"]) == {"PSNR", "SSIM", "LPIPS", "tOF", "tLP100"}
    np.testing.assert_allclose(full["per_frame"]["LPIPS"], expected["per_sequence"][seq]["LPIPS"], atol=1e-4)
    explicit = tecogan.metrics.official_metrics(
        gt, sr, lpips_weights=str(shared_dir / "weights" / "alexnet_imagenet_features.pth"), metrics=("LPIPS",)
    )
    assert explicit["per_frame"]["LPIPS"] == full["per_frame"]["LPIPS"]
    assert tecogan.metrics.psnr_y(gt[2], gt[2]) == float("inf")
    with pytest.raises(ValueError, match="VMAF"):
        tecogan.metrics.official_metrics(gt, sr, metrics=("VMAF",))


def test_docs_api_examples_run(tmp_path):
    """Every ```python block of docs/api.md runs from the repository root."""
    text = (REPO / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    code = "\n".join(blocks)
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="2", TMPDIR=str(tmp_path)),
    )
    assert r.returncode == 0, r.stderr
    assert "(36, 64, 3) -> (144, 256, 3)" in r.stdout
    assert "'scale': 4" in r.stdout and "'PSNR'" in r.stdout


def _fresh_venv(tmp_path):
    """A new virtualenv whose dependencies (torch & co.) come from this one, and a copy of the
    sources to build from (building writes build/ and *.egg-info beside them)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages")]
    with open(os.path.join(site, "deps.pth"), "w") as f:
        f.write("\n".join(ours) + "\n")
    src = tmp_path / "src"
    shutil.copytree(REPO / "codes", src / "codes", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "pretrained_models", src / "pretrained_models")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    env.pop("TECOGAN_MODELS", None)
    return venv, src, env


def _pip(venv, *args):
    r = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_wheel_finds_shipped_models_from_any_folder(tmp_path):
    """A built wheel installed into a fresh virtualenv: the shipped models and AlexNet weights are
    found (and verified) from another folder; tecogan-upscale runs the default model there."""
    venv, src, env = _fresh_venv(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    wheel = next((tmp_path / "dist").glob("tecogan-*.whl"))
    shutil.rmtree(src)  # nothing of the sources is left to find
    _pip(venv, "install", "-q", "--no-deps", str(wheel))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import tecogan, tecogan.pretrained as p; net = tecogan.load_generator('frvsr'); "
        "print(tecogan.__file__); print(p.resolve_model('tecogan')); print(p.bundled_alexnet())"
    )
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert all(str(venv) in line for line in lines) and lines[1].endswith("TecoGAN_BD_footage.pth"), r.stdout
    r = subprocess.run(
        ["tecogan-upscale", str(REPO / "demo" / "videos" / "juggle_lr.mp4"), "out.mp4", "--duration", "0.2", "--device", "cpu"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert (elsewhere / "out.mp4").stat().st_size > 0
    # int8 from the wheel, on a CPU that says it has VNNI: calibrated on the package's own frames
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni\n")
    r = subprocess.run(
        [
            "tecogan-upscale",
            str(REPO / "demo" / "videos" / "juggle_lr.mp4"),
            "int8.mp4",
            "--duration",
            "0.2",
            "--device",
            "cpu",
            "--precision",
            "int8",
            "--backend",
            "openvino",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=dict(env, TECOGAN_CPUINFO=str(fake)),
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert (elsewhere / "int8.mp4").stat().st_size > 0 and "int8" in r.stdout, r.stdout
    code = (
        "import tecogan; from tecogan.inference import backends as b; "
        "print(b.CALIBRATION_DIR, len(b.calibration_inputs(tecogan.load_generator('frvsr'))))"
    )
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300
    )
    assert r.returncode == 0 and r.stdout.split()[0].startswith(str(venv)) and r.stdout.split()[1] == "30", r.stderr


@pytest.mark.slow
def test_console_commands_after_pip_install(tmp_path):
    """`pip install .` (not editable) into a fresh virtualenv gives the commands and the models."""
    venv, src, env = _fresh_venv(tmp_path)
    _pip(venv, "install", "-q", "--no-deps", "--no-build-isolation", str(src))
    # the installed copy, not the clone: run from elsewhere
    r = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import tecogan, tecogan.api; tecogan.load_generator('frvsr'); print(tecogan.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0 and str(venv) in r.stdout, r.stderr + r.stdout
    for cmd in ("tecogan", "tecogan-upscale", "tecogan-metrics"):
        r = subprocess.run([cmd, "--help"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        assert r.returncode == 0 and "usage" in r.stdout, (cmd, r.stderr)
    torch.save(FRNet(nf=8, nb=1, degradation="BD").state_dict(), tmp_path / "g.pth")
    frames = tmp_path / "lr"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:04d}.png"), np.full((12, 16, 3), 40 * i, np.uint8))
    r = subprocess.run(
        ["tecogan-upscale", str(frames), str(tmp_path / "hr"), "--model", str(tmp_path / "g.pth"), "--device", "cpu"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(tmp_path / "hr" / "0000.png")).shape == (48, 64, 3)
    r = subprocess.run(
        ["tecogan", "--exp_dir", str(tmp_path / "nope"), "--mode", "test", "--model", "FRVSR", "--opt", "test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "experiment folder not found" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["no", "False", 0, 1, [], "yes"])
def test_api_overwrite_must_be_a_bool(tmp_path, ckpt, value):
    from tecogan.api import Upscaler, load_generator

    write_frames(tmp_path / "in")
    write_frames(tmp_path / "out", n=2, seed=6)
    before = tree_hash(tmp_path / "out")
    with pytest.raises(UserError, match="overwrite.*expected True or False"):
        Upscaler(load_generator(ckpt)).upscale_video(tmp_path / "in", tmp_path / "out", overwrite=value)
    assert tree_hash(tmp_path / "out") == before


def test_api_misuse_is_one_line_or_correct(ckpt):
    from tecogan.api import Upscaler, load_generator

    up = Upscaler(load_generator(ckpt))
    assert list(up.upscale_frames([])) == []  # an empty clip: no outputs (was an IndexError)
    with pytest.raises(UserError, match="no such GPU|device 3.5: expected"):
        Upscaler(load_generator(ckpt), device="cuda:77") if torch.cuda.is_available() else Upscaler(
            load_generator(ckpt), device=3.5
        )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 6-frame H.264 clip at 12 fps."""
    return make_clip(tmp_path_factory.mktemp("in") / "in.mp4", pattern(6), rate=12, time_base=Fraction(1, 12))


def test_upscaler_takes_a_model_name_or_a_checkpoint_path(ckpt):
    by_name = tecogan.Upscaler("frvsr", device="cpu", precision="fp32")
    shipped = tecogan.load_generator("frvsr")
    assert by_name.generator.arch() == shipped.arch()
    assert all(
        torch.equal(a, b) for a, b in zip(by_name.generator.state_dict().values(), shipped.state_dict().values(), strict=True)
    )
    by_path = tecogan.Upscaler(ckpt, device="cpu", precision="fp32")
    assert by_path.generator.arch()["nf"] == 8
    frames = pattern(3)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            by_path.upscale_frames(frames),
            tecogan.Upscaler(tecogan.load_generator(ckpt), device="cpu", precision="fp32").upscale_frames(frames),
            strict=True,
        )
    )


@pytest.mark.parametrize("bad", [None, 3, "", b"frvsr", torch.nn.Conv2d(3, 3, 3)])
def test_upscaler_refuses_anything_else_in_one_line(bad):
    with pytest.raises(
        OptionError,
        match=r"^generator .*expected a generator module .*a shipped model's name "
        r"\(frvsr, .*\) or a checkpoint path|is not a TecoGAN/FRVSR generator",
    ):
        tecogan.Upscaler(bad)


def test_upscaler_with_a_missing_checkpoint_names_it(tmp_path):
    with pytest.raises(UserError, match="nope.pth: checkpoint file not found"):
        tecogan.Upscaler(str(tmp_path / "nope.pth"))


@pytest.mark.parametrize("dst", [None, ""])
def test_upscale_video_refuses_no_destination(tmp_path, ckpt, clip, capsys, monkeypatch, dst):
    monkeypatch.chdir(tmp_path)
    before = tree_hash(clip)
    up = tecogan.Upscaler(ckpt, device="cpu", report=None)
    with pytest.raises(UserError, match=r"^dst (None|''): expected the path of a video file or of a folder"):
        up.upscale_video(clip, dst)
    with pytest.raises(UserError, match=r"^src None: expected the path"):
        up.upscale_video(None, tmp_path / "out.mp4")
    with pytest.raises(UserError, match=r"^src \S*nope.mp4: input not found \(expected a video file or a folder of frames\)$"):
        up.upscale_video(tmp_path / "nope.mp4", tmp_path / "out.mp4")
    status, _, err = upscale_in_process(capsys, monkeypatch, tmp_path / "nope.mp4", tmp_path / "out.mp4", "--model", ckpt)
    assert (status, err) == (
        2,
        f"error: {tmp_path / 'nope.mp4'}: input not found (expected a video file or a folder of frames)\n",
    )
    assert os.listdir(tmp_path) == [] and tree_hash(clip) == before


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
    status, _, err = upscale_in_process(
        capsys, monkeypatch, clip, tmp_path / "new.mp4", "--model", ckpt, "--device", "cpu", "--crf", "99"
    )
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

    assert (
        for_python("--tile 4 / --tile_overlap 3; --no_audio drops it; OUTPUT x: pass --overwrite; --gpu_id 1")
        == "tile 4 / tile_overlap 3; audio=False drops it; dst x: pass overwrite=True; --gpu_id 1"
    )
    assert for_python("OUTPUT_DIR a--codec") == "OUTPUT_DIR a--codec"
