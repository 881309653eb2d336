"""Bad input: one clear line on stderr naming the culprit, non-zero exit, no traceback
(unless --debug), nothing half-written, and checkpoints that cannot run code."""

import glob
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
import pytest
import torch
import yaml
from helpers import (
    CAPTURE,
    assert_one_line,
    deadline,
    no_temps,
    run_inprocess,
    save_tiny_generator,
    tree_hash,
    upscale_in_process,
    write_frames,
)

from tecogan import main as main_cmd
from tecogan import upscale
from tecogan.experiment import load_config
from tecogan.networks import load_generator_weights
from tecogan.networks.frnet import FRNet
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError, short
from tecogan.utils.fileio import read_image_rgb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO, "codes", "main.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def one_line_error(r, *needles):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    errors = [line for line in lines if not line.startswith("warning:")]
    assert len(errors) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def base_test_opt(tmp_path, ckpt="ck.pth"):
    return {
        "scale": 4,
        "dataset": {
            "degradation": {"type": "BD", "sigma": 1.5},
            "test1": {"name": "T", "gt_seq_dir": str(tmp_path / "GT"), "lr_seq_dir": str(tmp_path / "LR")},
        },
        "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1, "load_path": str(tmp_path / ckpt)}},
        "test": {"save_res": True, "res_dir": str(tmp_path / "results")},
    }


def write_yaml(path, opt_or_text):
    with open(path, "w") as f:
        if isinstance(opt_or_text, str):
            f.write(opt_or_text)
        else:
            yaml.safe_dump(opt_or_text, f)
    return path


pytestmark = pytest.mark.usefixtures("in_process_capture")  # helpers.CAPTURE: commands run in this process


def run_test_mode(tmp_path, opt, *extra, separate=False):
    """main.py --mode test on ``opt``: in this process (its cli(), as the console entry point runs
    it), or with ``separate`` in a process of its own; a CompletedProcess either way."""
    exp = tmp_path / "exp"
    exp.mkdir(exist_ok=True)
    write_yaml(exp / "test.yml", opt)
    argv = ["--exp_dir", str(exp), "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1", *extra]
    if separate:
        return subprocess.run([sys.executable, MAIN, *argv], capture_output=True, text=True, env=ENV, timeout=120, cwd=REPO)
    status, out, err = run_inprocess(main_cmd.cli, ["main.py", *argv], CAPTURE["capsys"], CAPTURE["monkeypatch"])
    return subprocess.CompletedProcess(argv, status, out, err)


def make_pair(tmp_path, t=3, h=12, w=16, seq="s1", gt=True, lr_frames=None):
    rng = np.random.default_rng(0)
    for i in range(t):
        os.makedirs(tmp_path / "LR" / seq, exist_ok=True)
        lr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if lr_frames is None else lr_frames[i]
        cv2.imwrite(str(tmp_path / "LR" / seq / f"{i:04d}.png"), lr)
        if gt:
            os.makedirs(tmp_path / "GT" / seq, exist_ok=True)
            cv2.imwrite(str(tmp_path / "GT" / seq / f"{i:04d}.png"), np.zeros((4 * lr.shape[0], 4 * lr.shape[1], 3), np.uint8))


@pytest.fixture
def ckpt(tmp_path):
    torch.save(FRNet(nf=8, nb=1, degradation="BD").state_dict(), tmp_path / "ck.pth")
    return tmp_path / "ck.pth"


# ------------------------------------------------------------------ config --
@pytest.mark.parametrize(
    "mutate, needles",
    [
        (
            lambda o: o["model"].__setitem__("genrator", o["model"].pop("generator")),
            ["test.yml: model.genrator: unknown key (did you mean generator?)"],
        ),
        (lambda o: o["model"]["generator"].__setitem__("nb", "ten"), ["model.generator.nb", "integer", "'ten'"]),
        (lambda o: o["model"].pop("name"), ["model.name: missing required key"]),
        (lambda o: o.__setitem__("scale", 3), ["scale", "3", "expected one of 2, 4", "x2 or x4"]),
        (lambda o: o["test"].__setitem__("padding_mode", "wrap"), ["test.padding_mode", "reflect"]),
    ],
)
def test_config_errors(tmp_path, ckpt, mutate, needles):
    opt = base_test_opt(tmp_path)
    mutate(opt)
    one_line_error(run_test_mode(tmp_path, opt), *needles)


def test_config_train_values(tmp_path):
    opt = {
        "scale": 4,
        "dataset": {"degradation": {"type": "BD"}, "train": {"name": "x", "seq_dir": "a.lmdb", "crop_size": 130}},
        "model": {"name": "FRVSR", "generator": {}},
        "train": {"total_iter": 10, "generator": {"lr": 1e-4}},
    }
    with pytest.raises(UserError, match="crop_size: 130 is not a multiple of scale 4"):
        load_config(str(write_yaml(tmp_path / "train.yml", opt)))
    opt["dataset"]["train"]["crop_size"] = 128
    opt["train"]["tempo_extent"] = 1
    with pytest.raises(UserError, match=r"train.tempo_extent: expected an integer >= 2"):
        load_config(str(write_yaml(tmp_path / "train.yml", opt)))


def test_invalid_yaml_and_missing_files(tmp_path):
    one_line_error(run_test_mode(tmp_path, "scale: [4\nmodel: {"), "test.yml", "invalid YAML")
    argv = [
        "main.py",
        "--exp_dir",
        str(tmp_path / "exp"),
        "--mode",
        "test",
        "--model",
        "FRVSR",
        "--opt",
        "nope.yml",
        "--gpu_id",
        "-1",
    ]
    status, _, err = run_inprocess(main_cmd.cli, argv, CAPTURE["capsys"], CAPTURE["monkeypatch"])
    one_line_error(subprocess.CompletedProcess(argv, status, "", err), "nope.yml", "not found")


def test_model_name_mismatch(tmp_path, ckpt):
    make_pair(tmp_path)
    opt = base_test_opt(tmp_path)
    opt["model"]["name"] = "TecoGAN"
    one_line_error(run_test_mode(tmp_path, opt), "model.name is TecoGAN but --model is FRVSR")


def test_debug_shows_traceback(tmp_path, ckpt):
    opt = base_test_opt(tmp_path)
    opt["model"]["genrator"] = {}
    r = run_test_mode(tmp_path, opt, "--debug", separate=True)  # the traceback as a user sees it
    assert r.returncode != 0 and "Traceback" in r.stderr


# -------------------------------------------------------------------- data --
def test_missing_and_empty_folders(tmp_path, ckpt):
    one_line_error(run_test_mode(tmp_path, base_test_opt(tmp_path)), str(tmp_path / "LR"), "not found")
    (tmp_path / "LR").mkdir()
    (tmp_path / "GT").mkdir()
    one_line_error(run_test_mode(tmp_path, base_test_opt(tmp_path)), str(tmp_path / "LR"), "no sequence folders")
    (tmp_path / "LR" / "s1").mkdir()
    (tmp_path / "GT" / "s1").mkdir()
    one_line_error(run_test_mode(tmp_path, base_test_opt(tmp_path)), "s1", "no image frames")


def test_sequence_in_gt_not_in_lr(tmp_path, ckpt):
    make_pair(tmp_path)
    os.makedirs(tmp_path / "GT" / "extra")
    one_line_error(run_test_mode(tmp_path, base_test_opt(tmp_path)), "extra", "present in GT", "not in LR")


def test_frame_counts_differ(tmp_path, ckpt):
    make_pair(tmp_path)
    os.remove(tmp_path / "GT" / "s1" / "0002.png")
    one_line_error(run_test_mode(tmp_path, base_test_opt(tmp_path)), "2 GT frames but 3 LR frames")


def test_lr_times_scale_differs_from_gt(tmp_path, ckpt):
    make_pair(tmp_path)
    cv2.imwrite(str(tmp_path / "GT" / "s1" / "0000.png"), np.zeros((40, 40, 3), np.uint8))
    one_line_error(run_test_mode(tmp_path, base_test_opt(tmp_path)), "GT frames are 40x40", "64x48")


def test_truncated_image(tmp_path, ckpt):
    make_pair(tmp_path)
    p = tmp_path / "LR" / "s1" / "0001.png"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 10])
    one_line_error(run_test_mode(tmp_path, base_test_opt(tmp_path)), "0001.png", "unreadable or truncated")


def test_frames_of_different_sizes(tmp_path, ckpt):
    make_pair(tmp_path, gt=False)
    cv2.imwrite(str(tmp_path / "LR" / "s1" / "0002.png"), np.zeros((16, 16, 3), np.uint8))
    opt = base_test_opt(tmp_path)
    opt["dataset"]["test1"].pop("gt_seq_dir")
    one_line_error(run_test_mode(tmp_path, opt), "0002.png", "16x16", "16x12")


def test_lr_smaller_than_8(tmp_path, ckpt):
    make_pair(tmp_path, h=6, w=6, gt=False)
    opt = base_test_opt(tmp_path)
    opt["dataset"]["test1"].pop("gt_seq_dir")
    one_line_error(run_test_mode(tmp_path, opt), "0000.png", "smaller than the 8x8")


@pytest.mark.parametrize(
    "img, kind",
    [
        (np.full((10, 12), 100, np.uint8), "grayscale"),
        (np.full((10, 12, 4), 100, np.uint8), "RGBA"),
        (np.full((10, 12, 3), 100 * 257, np.uint16), "16-bit"),
    ],
)
def test_odd_formats_convert_with_warning(tmp_path, capsys, img, kind):
    path = str(tmp_path / "x.png")
    cv2.imwrite(path, img)
    out = read_image_rgb(path)
    assert out.shape == (10, 12, 3) and out.dtype == np.uint8 and (out == 100).all()
    assert kind in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / "y.png"), img)  # another frame of the folder: said once for the folder
    read_image_rgb(str(tmp_path / "y.png"))
    assert kind not in capsys.readouterr().err


def test_odd_formats_warn_once_per_sequence(tmp_path, ckpt):
    frames = [np.full((12, 16), 50 + i, np.uint8) for i in range(3)]
    make_pair(tmp_path, lr_frames=frames)
    r = run_test_mode(tmp_path, base_test_opt(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("grayscale image converted") == 1


# ------------------------------------------------------------- checkpoints --
def test_missing_checkpoint(tmp_path):
    make_pair(tmp_path)
    one_line_error(run_test_mode(tmp_path, base_test_opt(tmp_path)), "ck.pth", "checkpoint file not found")


def test_other_degradation_and_size(tmp_path):
    path = tmp_path / "bi.pth"
    torch.save(FRNet(nf=16, nb=2, degradation="BI").state_dict(), path)
    with pytest.raises(UserError) as e:
        load_generator_weights(FRNet(nf=16, nb=2, degradation="BD"), str(path))
    assert "missing keys" in str(e.value) and "upsample_func.kernels" in str(e.value)
    assert "BI generator with nf 16, nb 2" in str(e.value)
    with pytest.raises(UserError) as e:
        load_generator_weights(FRNet(nf=8, nb=2, degradation="BI"), str(path))
    assert "has shape" in str(e.value) and "nf 16" in str(e.value)
    with pytest.raises(UserError) as e:
        load_generator_weights(FRNet(nf=16, nb=3, degradation="BI"), str(path))
    assert "srnet.resblocks.2" in str(e.value) and "nb 2" in str(e.value)


def test_training_start_across_degradations(tmp_path):
    """Fine-tuning a BD model on BI data (and back) starts from every learned weight; only the
    fixed bicubic kernels differ. Sizes must still fit."""
    torch.manual_seed(0)
    bd = FRNet(nf=16, nb=2, degradation="BD")
    torch.save(bd.state_dict(), tmp_path / "bd.pth")
    bi = load_generator_weights(FRNet(nf=16, nb=2, degradation="BI"), str(tmp_path / "bd.pth"), across_degradations=True)
    assert "upsample_func.kernels" not in bi.state_dict()
    for k, v in bi.state_dict().items():
        assert torch.equal(v, bd.state_dict()[k]), k
    torch.save(bi.state_dict(), tmp_path / "bi.pth")
    back = load_generator_weights(FRNet(nf=16, nb=2, degradation="BD"), str(tmp_path / "bi.pth"), across_degradations=True)
    for k, v in bd.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    with pytest.raises(UserError, match="has shape"):
        load_generator_weights(FRNet(nf=8, nb=2, degradation="BI"), str(tmp_path / "bd.pth"), across_degradations=True)


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "t.pth"
    torch.save(FRNet(nf=8, nb=1).state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_state_dict_file(str(path))


@pytest.mark.parametrize("content", [b"hello, these are notes\n", bytes(range(7, 107))])
def test_a_file_that_is_no_checkpoint_at_all_says_what_it_starts_with(tmp_path, content):
    path = tmp_path / "notes.mp4"
    path.write_bytes(content)
    with pytest.raises(UserError) as e:
        load_state_dict_file(str(path))
    assert f"notes.mp4: not a PyTorch checkpoint (it starts with {content[:16]!r}" in str(e.value), e.value


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_checkpoint_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"fnet.encoder1.0.weight": torch.zeros(1), "x": _Evil(marker)}, path)
    make_pair(tmp_path)
    r = run_test_mode(tmp_path, base_test_opt(tmp_path, ckpt="evil.pth"))
    one_line_error(r, "evil.pth", "refused to load")
    assert not marker.exists()
    with open(tmp_path / "evil2.pth", "wb") as f:
        pickle.dump(_Evil(marker), f)
    with pytest.raises(UserError):
        load_state_dict_file(str(tmp_path / "evil2.pth"))
    assert not marker.exists()


# ---------------------------------------------------------------- commands --
def test_cuda_absent_falls_back_with_warning(tmp_path, ckpt):
    make_pair(tmp_path)
    exp = tmp_path / "exp"
    exp.mkdir()
    write_yaml(exp / "test.yml", base_test_opt(tmp_path))
    r = subprocess.run(
        [sys.executable, MAIN, "--exp_dir", str(exp), "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "3"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(ENV, CUDA_VISIBLE_DEVICES=""),
    )  # no CUDA, on any machine
    assert r.returncode == 0
    assert "warning: --gpu_id 3: CUDA is not available" in r.stderr


def test_rerun_keeps_results_unless_overwrite(tmp_path, ckpt):
    make_pair(tmp_path)
    out = tmp_path / "results" / "T" / "ck" / "s1"
    os.makedirs(out)
    (out / "0000.png").write_bytes(b"earlier result")
    (out / "0007.png").write_bytes(b"stale frame of an earlier, longer run")
    r = run_test_mode(tmp_path, base_test_opt(tmp_path))
    one_line_error(r, str(out), "already exists", "--overwrite")
    assert (out / "0000.png").read_bytes() == b"earlier result"
    r = run_test_mode(tmp_path, base_test_opt(tmp_path), "--overwrite")
    assert r.returncode == 0, r.stderr
    assert read_image_rgb(str(out / "0000.png")).shape == (48, 64, 3)
    # the folder holds only the new frames (no stale 0007.png), and no temporary folder is left
    assert sorted(os.listdir(out)) == ["0000.png", "0001.png", "0002.png"]
    assert not [f for f in os.listdir(out.parent) if f.startswith((".tmp", ".tecogan-tmp"))]


def test_missing_test_data_names_the_script_that_makes_it(tmp_path, ckpt):
    make_pair(tmp_path)
    shutil.rmtree(tmp_path / "LR")
    one_line_error(
        run_test_mode(tmp_path, base_test_opt(tmp_path)), str(tmp_path / "LR"), "not found", "scripts/resize_BD.py --gt_dir"
    )
    make_pair(tmp_path)
    opt = base_test_opt(tmp_path)
    opt["dataset"]["test1"]["name"] = "Vid4"
    opt["dataset"]["test1"]["gt_seq_dir"] = str(tmp_path / "nope")
    one_line_error(run_test_mode(tmp_path, opt), "nope", "download_datasets.sh BD")


def test_missing_published_checkpoint_points_at_the_download_script(tmp_path):
    make_pair(tmp_path)
    opt = base_test_opt(tmp_path, ckpt=str(tmp_path / "TecoGAN_BD_iter500000.pth"))
    one_line_error(run_test_mode(tmp_path, opt), "TecoGAN_BD_iter500000.pth", "not found", "download_models.sh BD TecoGAN")


def test_device_cuda_without_cuda_names_the_option_used(tmp_path, ckpt, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # no CUDA, on any machine
    import contextlib
    import io

    from tecogan.utils.device import parse_device
    from tecogan.utils.errors import command_line

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert parse_device("cuda").type == "cpu"  # from Python: the API's argument
    assert "device cuda" in err.getvalue() and "--" not in err.getvalue()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), command_line():  # inside a command: its flag
        assert parse_device("cuda").type == "cpu"
    assert "--device cuda" in err.getvalue() and "--gpu_id" not in err.getvalue()
    os.makedirs(tmp_path / "lr")
    for i in range(2):
        cv2.imwrite(str(tmp_path / "lr" / f"{i:04d}.png"), np.full((16, 16, 3), 60 * i, np.uint8))
    args = (tmp_path / "lr", tmp_path / "hr", "--model", ckpt, "--device", "cuda")
    status, _, err = upscale_in_process(capsys, monkeypatch, *args)
    assert status == 0 and err.count("CUDA is not available") == 1, err  # checked, then set up: one warning


@pytest.mark.parametrize(
    "path",
    sorted(glob.glob(os.path.join(REPO, "experiments_B[DI]", "*", "001", "*.yml"))),
    ids=lambda p: os.path.relpath(p, REPO),
)
def test_every_shipped_experiment_yaml_passes_validation(path):
    opt = load_config(path)
    assert opt["scale"] in (2, 4)
    assert opt["model"]["name"] in ("FRVSR", "TecoGAN")
    assert opt["model"]["name"] == os.path.basename(os.path.dirname(os.path.dirname(path))).split("_")[0]


def test_short_is_bounded_whatever_the_value():
    x = []
    for _ in range(200):
        x = [x, x]  # 2^200 leaves if walked naively
    with deadline(5):
        assert len(short(x)) <= 80 and len(short("y" * 10**7)) <= 80
    loop = []
    loop.append(loop)
    assert short(loop).startswith("[[")


def test_long_values_are_cut_in_messages(tmp_path):
    opt = {"scale": "s" * 1_000_000, "dataset": {"degradation": {"type": "BD"}}, "model": {"name": "FRVSR", "generator": {}}}
    (tmp_path / "a.yml").write_text(yaml.safe_dump(opt))
    with pytest.raises(UserError) as err:
        load_config(str(tmp_path / "a.yml"))
    assert "scale: expected an integer" in str(err.value) and len(str(err.value)) < 200
    # a big (but allowed) aliased list as a value: the message stays short
    text = "big: &b [" + ", ".join(["1"] * 3000) + "]\nscale: [*b, *b, *b]\n"
    (tmp_path / "b.yml").write_text(text)
    with pytest.raises(UserError) as err:
        load_config(str(tmp_path / "b.yml"))
    assert len(str(err.value)) < 300


def test_argparse_mistakes_are_one_line(tmp_path, capsys, monkeypatch):
    status, _, err = upscale_in_process(capsys, monkeypatch, tmp_path / "in")
    assert_one_line(status, err, "the following arguments are required: output", "--help")
    status, _, err = run_inprocess(
        main_cmd.cli, ["main.py", "--exp_dir", tmp_path, "--mode", "tset", "--model", "X", "--opt", "x"], capsys, monkeypatch
    )
    assert_one_line(status, err, "invalid choice: 'tset'")


@pytest.mark.parametrize(
    "error, status_expected, needle",
    [
        (ValueError("boom\nsecond line"), 2, "unexpected ValueError: boom second line"),
        (KeyboardInterrupt(), 130, "interrupted by SIGINT"),
        (RecursionError("maximum recursion depth exceeded"), 2, "nested too deeply"),
        (OSError(28, "No space left on device", "/some/file"), 2, "/some/file: No space left on device (the disk is full"),
    ],
)
def test_unexpected_errors_are_one_line(tmp_path, ckpt, capsys, monkeypatch, error, status_expected, needle):
    def fail(_args):
        raise error

    monkeypatch.setattr(upscale, "load_network", fail)
    write_frames(tmp_path / "in")
    status, _, err = upscale_in_process(
        capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu"
    )
    assert_one_line(status, err, needle, expected_status=status_expected)
    assert not (tmp_path / "out").exists() and no_temps(tmp_path)


UPSCALE = os.path.join(REPO, "codes", "upscale.py")


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
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CLEANUP], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
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
    proc = subprocess.Popen(
        [sys.executable, UPSCALE, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu", "--overwrite"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert "->" in proc.stdout.readline()
    deadline = time.time() + 60
    while (
        not [f for f in os.listdir(tmp_path) if f.startswith((".tecogan-tmp", ".tmp")) or f.endswith(".tecogan-job")]
        and time.time() < deadline
    ):
        time.sleep(0.02)
    press(proc, gap=0.01)
    _, err = proc.communicate(timeout=60)
    assert_one_line(proc.returncode, err, "interrupted by SIGINT", expected_status=130)
    assert (tree_hash(tmp_path / "out"), tree_hash(tmp_path / "in")) == before
    assert not [f for f in os.listdir(tmp_path) if f.startswith((".tecogan-tmp", ".tmp"))]
