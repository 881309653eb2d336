"""`codes/main.py --mode test` / `test.sh` / `profile.sh` end to end on tiny data."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import yaml
from helpers import assert_one_line, run_inprocess, tree_hash, write_frames

from tecogan import main as main_cmd
from tecogan.inference.steppers import infer_sequence
from tecogan.networks.frnet import FRNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO, "codes", "main.py")


def make_sequences(root, names=("seqA", "seqB"), t=4, h=12, w=20, scale=4, gt=True):
    rng = np.random.default_rng(0)
    for name in names:
        for i in range(t):
            lr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            os.makedirs(root / "LR" / name, exist_ok=True)
            cv2.imwrite(str(root / "LR" / name / f"im{i + 1}.png"), lr)
            if gt:
                os.makedirs(root / "GT" / name, exist_ok=True)
                big = cv2.resize(lr, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
                cv2.imwrite(str(root / "GT" / name / f"{i + 1:04d}.png"), big)


def write_exp(tmp_path, load_path, degradation="BD", nf=8, nb=1, extra_test=None):
    exp = tmp_path / "exp"
    exp.mkdir(exist_ok=True)
    opt = {
        "scale": 4,
        "manual_seed": 0,
        "dataset": {
            "degradation": {"type": degradation, "sigma": 1.5} if degradation == "BD" else {"type": "BI"},
            "test1": {"name": "Tiny", "gt_seq_dir": str(tmp_path / "GT"), "lr_seq_dir": str(tmp_path / "LR")},
        },
        "model": {
            "name": "FRVSR",
            "generator": {"name": "FRNet", "in_nc": 3, "out_nc": 3, "nf": nf, "nb": nb, "load_path": str(load_path)},
        },
        "test": dict(
            {"save_res": True, "res_dir": str(tmp_path / "results"), "padding_mode": "reflect", "num_pad_front": 5},
            **(extra_test or {}),
        ),
    }
    with open(exp / "test.yml", "w") as f:
        yaml.safe_dump(opt, f)
    return exp


def run_main(exp, mode="test", *extra):
    return subprocess.run(
        [
            sys.executable,
            MAIN,
            "--exp_dir",
            str(exp),
            "--mode",
            mode,
            "--model",
            "FRVSR",
            "--opt",
            "test.yml",
            "--gpu_id",
            "-1",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def read_rgb(path):
    return cv2.imread(str(path))[..., ::-1]


def test_test_mode_writes_frames_equal_to_inference(tmp_path):
    make_sequences(tmp_path)
    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1, degradation="BD")
    ckpt = tmp_path / "FRVSR_BD_iter7.pth"
    torch.save(net.state_dict(), ckpt)
    exp = write_exp(tmp_path, ckpt)
    r = run_main(exp)
    assert r.returncode == 0, r.stderr
    for seq in ("seqA", "seqB"):
        out_dir = tmp_path / "results" / "Tiny" / "FRVSR_BD_iter7" / seq
        names = sorted(os.listdir(out_dir))
        assert names == ["0001.png", "0002.png", "0003.png", "0004.png"]  # GT's names
        lr = np.stack([read_rgb(tmp_path / "LR" / seq / f"im{i + 1}.png") for i in range(4)])
        expected = list(infer_sequence(net, lr, 5, "reflect"))
        for name, exp_frame in zip(names, expected, strict=False):
            assert np.array_equal(read_rgb(out_dir / name), exp_frame)
        assert f"Tiny/{seq}: 4 frames" in r.stdout and "frames/s" in r.stdout
    assert not [
        f for f in os.listdir(tmp_path / "results" / "Tiny" / "FRVSR_BD_iter7" / "seqA") if f.startswith((".tmp", ".tecogan-tmp"))
    ]


def test_checkpoint_series(tmp_path):
    make_sequences(tmp_path, names=("only",), t=2)
    ckdir = tmp_path / "ckpt"
    ckdir.mkdir()
    for it in (10, 20, 30):
        torch.manual_seed(it)
        torch.save(FRNet(nf=8, nb=1, degradation="BI").state_dict(), ckdir / f"G_iter{it}.pth")
    exp = write_exp(tmp_path, ckdir / "*.pth", degradation="BI", extra_test={"start_iter": 10, "end_iter": 30, "test_freq": 10})
    r = run_main(exp)
    assert r.returncode == 0, r.stderr
    for it in (10, 20, 30):
        assert len(os.listdir(tmp_path / "results" / "Tiny" / f"G_iter{it}" / "only")) == 2


def test_wrong_checkpoint_is_one_clear_line(tmp_path):
    make_sequences(tmp_path, names=("only",), t=2)
    ckpt = tmp_path / "bi.pth"
    torch.save(FRNet(nf=8, nb=1, degradation="BI").state_dict(), ckpt)
    exp = write_exp(tmp_path, ckpt, degradation="BD")
    r = run_main(exp)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "bi.pth" in r.stderr and "BI generator" in r.stderr


@pytest.mark.slow
def test_profile_reference_figures():
    env = dict(os.environ, PYTHON=sys.executable)
    r = subprocess.run(
        ["bash", os.path.join(REPO, "profile.sh"), "BD", "TecoGAN", "3x134x320", "-1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    assert "Parameters (x10^6): 2.589" in r.stdout
    assert "FLOPs (x10^9): 141.860" in r.stdout
    assert "Speed (FPS): " in r.stdout


@pytest.mark.parametrize(
    "script, args, needle",
    [
        ("profile.sh", ["BD", "TecoGAN", "3x134"], "expected CxHxW"),
        ("test.sh", ["BX", "TecoGAN"], "expected BD or BI"),
        ("test.sh", ["BD", "ESRGAN"], "expected FRVSR or TecoGAN"),
    ],
)
def test_command_argument_errors(script, args, needle):
    env = dict(os.environ, PYTHON=sys.executable)
    r = subprocess.run(["bash", os.path.join(REPO, script), *args], capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_optional_dataset_missing_is_skipped_with_how_to_get_it(tmp_path):
    """A test set marked optional whose folders are missing: one line saying how to get it, the
    others run; the same set not marked optional is an error naming the folder."""
    make_sequences(tmp_path, names=("only",), t=2)
    ckpt = tmp_path / "G.pth"
    torch.save(FRNet(nf=8, nb=1, degradation="BD").state_dict(), ckpt)
    missing = {"name": "Extra", "gt_seq_dir": str(tmp_path / "nowhere" / "GT"), "lr_seq_dir": str(tmp_path / "nowhere" / "LR")}
    exp = write_exp(tmp_path, ckpt)
    opt = yaml.safe_load((exp / "test.yml").read_text())
    opt["dataset"]["test2"] = dict(missing, optional=True, how_to_get="run make_extra.sh")
    (exp / "test.yml").write_text(yaml.safe_dump(opt))
    r = run_main(exp)
    assert r.returncode == 0, r.stderr
    skip = [line for line in r.stdout.splitlines() if line.startswith("Extra: skipped")]
    assert len(skip) == 1 and "optional" in skip[0] and "run make_extra.sh" in skip[0], r.stdout
    assert len(os.listdir(tmp_path / "results" / "Tiny" / "G" / "only")) == 2
    opt["dataset"]["test2"] = missing  # not optional: an error before anything runs
    (exp / "test.yml").write_text(yaml.safe_dump(opt))
    r = run_main(exp, "test", "--overwrite")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "nowhere" in r.stderr and "Extra not found" in r.stderr


def test_sequence_sets_all_optional_missing(tmp_path):
    from tecogan.experiment import validate_config
    from tecogan.testing import sequence_sets

    opt = validate_config(
        {
            "scale": 4,
            "dataset": {
                "degradation": {"type": "BD"},
                "test1": {"name": "A", "lr_seq_dir": str(tmp_path / "none"), "optional": True},
            },
            "model": {"name": "FRVSR", "generator": {"name": "FRNet"}},
        }
    )
    lines = []
    assert sequence_sets(opt, report=lines.append) == []
    assert len(lines) == 1 and lines[0].startswith("A: skipped (optional;") and "docs/data.md" in lines[0]


def write_test_exp(tmp_path, ckpt, res_dir, name="T"):
    exp = tmp_path / "exp"
    exp.mkdir(exist_ok=True)
    opt = {
        "scale": 4,
        "dataset": {"degradation": {"type": "BD"}, "test1": {"name": name, "lr_seq_dir": str(tmp_path / "LR")}},
        "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1, "load_path": str(ckpt)}},
        "test": {"save_res": True, "res_dir": str(res_dir)},
    }
    (exp / "test.yml").write_text(yaml.safe_dump(opt))
    return ["main.py", "--exp_dir", exp, "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"]


@pytest.mark.parametrize("where", ["inside_lr", "is_lr", "contains_lr"])
def test_test_mode_res_dir_never_touches_inputs(tmp_path, ckpt, capsys, monkeypatch, where):
    write_frames(tmp_path / "LR" / "s1")
    res = {"inside_lr": tmp_path / "LR" / "s1" / "res", "is_lr": tmp_path / "LR", "contains_lr": tmp_path}[where]
    argv = write_test_exp(tmp_path, ckpt, res)
    before = tree_hash(tmp_path / "LR")
    status, _, err = run_inprocess(main_cmd.cli, argv, capsys, monkeypatch)
    assert_one_line(status, err, "res_dir")
    assert tree_hash(tmp_path / "LR") == before


def test_yaml_names_never_lead_outside(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "LR" / "s1")
    argv = write_test_exp(tmp_path, ckpt, tmp_path / "results" / "inner", name="../../escaped")
    status, _, err = run_inprocess(main_cmd.cli, argv, capsys, monkeypatch)
    assert_one_line(status, err, "dataset.test1.name", "plain folder name", "'../../escaped'")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "results").exists()


def test_test_mode_refuses_nan_checkpoint(tmp_path, tiny, capsys, monkeypatch):
    sd = tiny.state_dict()
    sd["fnet.encoder1.0.weight"].fill_(float("nan"))
    torch.save(sd, tmp_path / "G_iter9.pth")
    write_frames(tmp_path / "LR" / "s1")
    (tmp_path / "exp").mkdir()
    opt = {
        "scale": 4,
        "dataset": {"degradation": {"type": "BD"}, "test1": {"name": "T", "lr_seq_dir": str(tmp_path / "LR")}},
        "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1, "load_path": str(tmp_path / "G_iter9.pth")}},
        "test": {"save_res": True, "res_dir": str(tmp_path / "results")},
    }
    (tmp_path / "exp" / "test.yml").write_text(yaml.safe_dump(opt))
    status, _, err = run_inprocess(
        main_cmd.cli,
        ["main.py", "--exp_dir", tmp_path / "exp", "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "G_iter9.pth", "NaN/Inf")
    assert not (tmp_path / "results" / "T" / "G_iter9" / "s1").exists()
