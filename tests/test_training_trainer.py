"""Training end to end on a tiny LMDB: logs, checkpoints, validation, exact resume,
SIGKILL recovery, torchrun with gloo, the monitor, create_lmdb and train.sh."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
import yaml
from helpers import assert_one_line, limit_file_size, make_lmdb, no_temps, run_inprocess, tmpfs_command, tree_hash, write_frames

from tecogan import main as main_cmd
from tecogan.utils.errors import UserError
from tecogan.utils.training_lock import TrainingLock

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO, "codes", "main.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1", TECOGAN_LOG_FILE_ONLY="1")


def make_raw(root, clips=3, frames=5, h=40, w=48, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    for c in range(clips):
        for i in range(frames):
            img = (
                (
                    127
                    + 100 * np.sin((xx + 3 * i + 7 * c) / 5.0)[..., None] * np.cos(yy / 6.0)[..., None]
                    + rng.normal(0, 5, (h, w, 3))
                )
                .clip(0, 255)
                .astype(np.uint8)
            )
            os.makedirs(root / f"clip{c}", exist_ok=True)
            cv2.imwrite(str(root / f"clip{c}" / f"{i:04d}.png"), img)


def make_tiny_data(root, degrade):
    """Training LMDB of three small clips and a validation clip (GT 32x32, LR ``degrade(gt)``)."""
    make_raw(root / "raw")
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "scripts", "create_lmdb.py"),
            "--dataset",
            "Tiny",
            "--raw_dir",
            str(root / "raw"),
            "--lmdb_dir",
            str(root / "GT.lmdb"),
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    for i in range(4):
        gt = cv2.imread(str(root / "raw" / "clip0" / f"{i:04d}.png"))[:32, :32]
        for kind, img in (("GT", gt), ("LR", degrade(gt))):
            os.makedirs(root / kind / "val0", exist_ok=True)
            cv2.imwrite(str(root / kind / "val0" / f"{i:04d}.png"), img)
    return root


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):  # BD LR 8x8
    return make_tiny_data(tmp_path_factory.mktemp("data"), lambda gt: cv2.GaussianBlur(gt, (9, 9), 1.5)[::4, ::4])


def write_opt(exp, data, model="FRVSR", total_iter=4, extra=None):
    exp.mkdir(parents=True, exist_ok=True)
    tr = {
        "tempo_extent": 3,
        "start_iter": 0,
        "total_iter": total_iter,
        "generator": {"lr": 1e-3, "lr_schedule": {"type": "MultiStepLR", "milestones": [3], "gamma": 0.5}},
        "moving_first_frame": True,
        "moving_factor": 0.5,
        "pixel_crit": {"type": "CB", "weight": 1},
        "warping_crit": {"type": "CB", "weight": 1},
    }
    mdl = {"name": model, "generator": {"name": "FRNet", "nf": 8, "nb": 1, "load_path": None}}
    if model == "TecoGAN":
        mdl["discriminator"] = {"name": "STNet", "in_nc": 3, "tempo_range": 3}
        tr["discriminator"] = {"lr": 1e-3, "update_policy": "adaptive", "update_threshold": 0.4, "crop_border_ratio": 0.75}
        tr["pingpong_crit"] = {"type": "CB", "weight": 0.5}
        tr["gan_crit"] = {"type": "GAN", "weight": 0.01}
    opt = {
        "scale": 4,
        "manual_seed": 3,
        "dataset": {
            "degradation": {"type": "BD", "sigma": 1.5},
            "train": {"name": "Tiny", "seq_dir": str(data / "GT.lmdb"), "crop_size": 32, "batch_size": 2, "num_workers": 0},
            "test": {"name": "TinyVal", "gt_seq_dir": str(data / "GT"), "lr_seq_dir": str(data / "LR")},
        },
        "model": mdl,
        "train": tr,
        "test": {"test_freq": 2, "save_res": True, "save_json": True, "padding_mode": "reflect", "num_pad_front": 2},
        "metric": {"PSNR": {"colorspace": "y"}, "tOF": {}},
        "logger": {"log_freq": 1, "decay": 0.9, "ckpt_freq": 2},
    }
    if extra:
        extra(opt)
    with open(exp / "train.yml", "w") as f:
        yaml.safe_dump(opt, f)
    return exp


def train(exp, model="FRVSR", *extra, check=True):
    r = subprocess.run(
        [
            sys.executable,
            MAIN,
            "--exp_dir",
            str(exp),
            "--mode",
            "train",
            "--model",
            model,
            "--opt",
            "train.yml",
            "--gpu_id",
            "-1",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        cwd=REPO,
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def weights(path):
    return torch.load(path, weights_only=True)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("model", ["FRVSR", pytest.param("TecoGAN", marks=pytest.mark.slow)])
def test_train_logs_checkpoints_metrics(tiny_data, tmp_path, model):
    exp = write_opt(tmp_path / "exp", tiny_data, model)
    train(exp, model)
    log = (exp / "train" / "train.log").read_text()
    lines = [line for line in log.splitlines() if "[epoch:" in line]
    assert len(lines) == 4
    assert re.search(r"\[epoch: \d+ \| iter: 4 \| lr_G: 5\.000e-04[^\]]*\] .*l_pix_G: [0-9.e+-]+, l_warp_G: ", lines[-1])
    if model == "TecoGAN":
        assert "l_gan_D" in lines[-1] and "p_fake_G" in lines[-1] and "lr_D" in lines[-1]
    ckpt = exp / "train" / "ckpt"
    for it in (2, 4):
        assert (ckpt / f"G_iter{it}.pth").is_file() and (ckpt / f"state_iter{it}.pth").is_file()
        assert (ckpt / f"D_iter{it}.pth").is_file() == (model == "TecoGAN")
    metrics = json.loads((exp / "test" / "metrics" / "TinyVal_avg.json").read_text())
    assert set(metrics) == {"G_iter2", "G_iter4"} and set(metrics["G_iter4"]) == {"PSNR", "tOF"}
    assert len(os.listdir(exp / "test" / "results" / "TinyVal" / "G_iter4" / "val0")) == 4
    # the generator checkpoint loads into test mode's network
    from tecogan.networks.frnet import FRNet

    FRNet(nf=8, nb=1, degradation="BD").load_state_dict(weights(ckpt / "G_iter4.pth"), strict=True)
    # the monitor plots it
    r = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "monitor_training.py"), "--exp_dir", str(exp)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (exp / "plots" / "losses.png").stat().st_size > 1000
    assert (exp / "plots" / "metrics_TinyVal.png").is_file()


# fp16 resumes in CI (slow); the fast suite resumes fp32 bit-exactly, and fp16's loss scale is saved and
# restored in test_training_precision.py
@pytest.mark.parametrize(
    "model,precision",
    [
        ("FRVSR", "fp32"),
        pytest.param("FRVSR", "fp16", marks=pytest.mark.slow),
        pytest.param("TecoGAN", "fp32", marks=pytest.mark.slow),
        pytest.param("TecoGAN", "bf16", marks=pytest.mark.slow),
    ],
)
def test_resume_is_bit_exact(tiny_data, tmp_path, model, precision):
    """fp16 also restores the loss scale (its state differs from a fresh one after a few steps)."""

    def extra(opt):
        opt["train"]["precision"] = precision

    straight = write_opt(tmp_path / "straight", tiny_data, model, total_iter=6, extra=extra)
    train(straight, model)
    half = write_opt(tmp_path / "half", tiny_data, model, total_iter=3, extra=extra)
    train(half, model)
    if precision == "fp16":
        state = torch.load(half / "train" / "ckpt" / "state_iter2.pth", weights_only=False)
        assert "grad_scaler" in state["model"]
    write_opt(tmp_path / "half", tiny_data, model, total_iter=6, extra=extra)
    train(half, model, "--resume", "auto")
    assert "Resumed from" in (half / "train" / "train.log").read_text()
    assert_same(weights(straight / "train" / "ckpt" / "G_iter6.pth"), weights(half / "train" / "ckpt" / "G_iter6.pth"))
    if model == "TecoGAN":
        assert_same(weights(straight / "train" / "ckpt" / "D_iter6.pth"), weights(half / "train" / "ckpt" / "D_iter6.pth"))


def test_emulated_low_precision_warns_once(tiny_data, tmp_path):
    """bf16 on a CPU whose oneDNN cannot use bf16 hardware (emulated AVX2) trains, with one
    warning that it is slow and what to set instead, on stderr and in train.log."""

    def extra(opt):
        opt["train"]["precision"] = "bf16"

    exp = write_opt(tmp_path / "exp", tiny_data, total_iter=2, extra=extra)
    r = subprocess.run(
        [
            sys.executable,
            MAIN,
            "--exp_dir",
            str(exp),
            "--mode",
            "train",
            "--model",
            "FRVSR",
            "--opt",
            "train.yml",
            "--gpu_id",
            "-1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=dict(ENV, ONEDNN_MAX_CPU_ISA="AVX2"),
    )
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if "train.precision" in line]
    assert len(warning) == 1 and "emulated" in warning[0] and "set train.precision: fp32" in warning[0]
    assert "train.precision: bf16" in (exp / "train" / "train.log").read_text()
    assert (exp / "train" / "ckpt" / "G_iter2.pth").is_file()


def test_resume_follows_an_edited_lr_schedule(tiny_data, tmp_path):
    """A schedule changed between sessions (here a longer cosine period) is followed from the
    resumed iteration on, with a warning, instead of being replaced by the saved one."""

    def cosine(periods):
        def edit(opt):
            opt["train"]["generator"]["lr_schedule"] = {"type": "CosineAnnealingLR_Restart", "periods": periods, "eta_min": 1e-6}
            opt["test"]["test_freq"] = 100

        return edit

    def lrs(exp):
        log = (exp / "train" / "train.log").read_text()
        return {int(m.group(1)): m.group(2) for m in re.finditer(r"iter: (\d+) \| lr_G: ([0-9.e+-]+)", log)}

    straight = write_opt(tmp_path / "straight", tiny_data, total_iter=6, extra=cosine([12]))
    train(straight)
    half = write_opt(tmp_path / "half", tiny_data, total_iter=3, extra=cosine([6]))
    train(half)
    write_opt(tmp_path / "half", tiny_data, total_iter=6, extra=cosine([12]))
    r = train(half, "FRVSR", "--resume", "auto")
    assert "different learning-rate schedule" in r.stderr and "generator.periods [6] -> [12]" in r.stderr
    before, after = lrs(half), lrs(straight)
    assert before[3] != after[3]  # the first session ran the shorter schedule
    assert [before[i] for i in (4, 5, 6)] == [after[i] for i in (4, 5, 6)]


def test_resume_from_the_wrong_file_or_with_other_networks_is_one_line(tiny_data, tmp_path):
    """--resume given a G_iter*.pth (weights), or a state resumed after nf changed in the YAML:
    one line naming the file and what it holds, not a KeyError or a size-mismatch dump."""
    exp = write_opt(tmp_path / "e", tiny_data, total_iter=2)
    train(exp)
    before = tree_hash(exp / "train" / "ckpt")
    weights_file = exp / "train" / "ckpt" / "G_iter2.pth"
    r = train(exp, "FRVSR", "--resume", str(weights_file), check=False)
    assert r.returncode == 2 and "G_iter2.pth: a network's weights (G_iter*.pth), not a training state" in r.stderr, r.stderr
    write_opt(exp, tiny_data, total_iter=4, extra=lambda opt: opt["model"]["generator"].update(nf=16))
    r = train(exp, "FRVSR", "--resume", "auto", check=False)
    assert r.returncode == 2 and "state_iter2.pth: does not fit this experiment's networks" in r.stderr, r.stderr
    assert "its generator is a BD generator with nf 8, nb 1" in r.stderr and "unexpected" not in r.stderr
    assert tree_hash(exp / "train" / "ckpt") == before
    write_opt(exp, tiny_data, total_iter=1)  # lowered under the saved iteration: said, not silent
    r = train(exp, "FRVSR", "--resume", "auto")
    assert "saved at iteration 2, already train.total_iter 1: nothing to train" in r.stderr, r.stderr


def test_a_broken_validation_set_is_found_before_the_first_iteration(tiny_data, tmp_path):
    """A validation sequence whose GT frames are not its LR frames x scale (or whose counts
    differ) is one line at the start, not after test_freq iterations of work."""
    val = tmp_path / "val"
    shutil.copytree(tiny_data / "GT", val / "GT")
    shutil.copytree(tiny_data / "LR", val / "LR")
    seq = sorted(p for p in (val / "GT").iterdir() if p.is_dir())[0]
    for frame in seq.iterdir():  # GT frames half as tall as they should be
        img = cv2.imread(str(frame))
        cv2.imwrite(str(frame), img[: img.shape[0] // 2])

    def broken_val(opt):
        opt["dataset"]["test"] = {"name": "Broken", "gt_seq_dir": str(val / "GT"), "lr_seq_dir": str(val / "LR")}
        opt["test"]["test_freq"] = 4

    exp = write_opt(tmp_path / "e", tiny_data, total_iter=4, extra=broken_val)
    r = train(exp, check=False)
    assert r.returncode == 2 and f"{seq}: GT frames are" in r.stderr, r.stderr
    assert not list((exp / "train" / "ckpt").glob("*.pth")), "trained before finding the broken validation set"


@pytest.mark.parametrize("precision", ["int8", None])
def test_a_validation_precision_training_cannot_run_is_found_before_the_first_iteration(tiny_data, tmp_path, precision):
    """test.precision int8 (OpenVINO only; validation runs through torch) or null: one line at the
    start naming the key, not an error after test_freq iterations with nothing saved."""

    def with_precision(opt):
        opt["test"]["precision"] = precision
        opt["test"]["test_freq"] = 4

    exp = write_opt(tmp_path / "e", tiny_data, total_iter=4, extra=with_precision)
    r = train(exp, check=False)
    assert r.returncode == 2 and "test.precision" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not list((exp / "train" / "ckpt").glob("*.pth")), "trained before refusing the validation precision"


@pytest.mark.slow
def test_resume_is_bit_exact_with_workers(tiny_data, tmp_path):
    def workers(opt):
        opt["dataset"]["train"]["num_workers"] = 1

    straight = write_opt(tmp_path / "straight", tiny_data, total_iter=4, extra=workers)
    train(straight)
    half = write_opt(tmp_path / "half", tiny_data, total_iter=2, extra=workers)
    train(half)
    write_opt(tmp_path / "half", tiny_data, total_iter=4, extra=workers)
    train(half, "FRVSR", "--resume", "auto")
    assert_same(weights(straight / "train" / "ckpt" / "G_iter4.pth"), weights(half / "train" / "ckpt" / "G_iter4.pth"))


@pytest.mark.slow
def test_sigkill_then_resume(tiny_data, tmp_path):
    exp = write_opt(tmp_path / "exp", tiny_data, total_iter=400, extra=lambda o: o["test"].update(test_freq=1000))
    proc = subprocess.Popen(
        [
            sys.executable,
            MAIN,
            "--exp_dir",
            str(exp),
            "--mode",
            "train",
            "--model",
            "FRVSR",
            "--opt",
            "train.yml",
            "--gpu_id",
            "-1",
        ],
        env=ENV,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = exp / "train" / "ckpt"
    deadline = time.time() + 120
    while time.time() < deadline and not list(ckpt.glob("state_iter*.pth")):
        time.sleep(0.2)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    states = sorted(ckpt.glob("state_iter*.pth"))
    assert states
    write_opt(
        exp,
        tiny_data,
        total_iter=int(re.findall(r"\d+", states[-1].name)[-1]) + 2,
        extra=lambda o: o["test"].update(test_freq=1000),
    )
    r = train(exp, "FRVSR", "--resume", "auto")
    assert r.returncode == 0
    assert not [p for p in ckpt.iterdir() if p.name.startswith((".tmp", ".tecogan-tmp"))]


def test_sigint_saves_state(tiny_data, tmp_path):
    exp = write_opt(tmp_path / "exp", tiny_data, total_iter=100000, extra=lambda o: o["test"].update(test_freq=100000))
    proc = subprocess.Popen(
        [
            sys.executable,
            MAIN,
            "--exp_dir",
            str(exp),
            "--mode",
            "train",
            "--model",
            "FRVSR",
            "--opt",
            "train.yml",
            "--gpu_id",
            "-1",
        ],
        env=ENV,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = exp / "train" / "train.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "iter: 3 " in log.read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130  # the state is saved, and the status says it was interrupted
    assert "Stopped by signal" in log.read_text()
    assert list((exp / "train" / "ckpt").glob("state_iter*.pth"))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["FRVSR", "TecoGAN"])
def test_torchrun_gloo_two_processes(tiny_data, tmp_path, model):
    exp = write_opt(tmp_path / "exp", tiny_data, model, total_iter=2, extra=lambda o: o["dataset"]["train"].update(batch_size=1))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            MAIN,
            "--exp_dir",
            str(exp),
            "--mode",
            "train",
            "--model",
            model,
            "--opt",
            "train.yml",
            "--gpu_id",
            "-1",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    log = (exp / "train" / "train.log").read_text()
    assert "on cpu x 2" in log
    assert len([line for line in log.splitlines() if "[epoch:" in line]) == 2  # rank 0 only
    assert (exp / "train" / "ckpt" / "G_iter2.pth").is_file()


def _torchrun(exp, *extra, model="FRVSR"):
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", MAIN, "--exp_dir", str(exp)]
    argv += ["--mode", "train", "--model", model, "--opt", "train.yml", "--gpu_id", "-1", *extra]
    r = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["FRVSR", "TecoGAN"])
def test_torchrun_resume_is_bit_exact_in_channels_last(tiny_data, tmp_path, model):
    """Two processes (gloo), the default memory format: stopped at 3 and resumed to 6 equals 6 in one go."""

    def setup(opt):
        opt["dataset"]["train"].update(batch_size=1)
        opt["test"]["test_freq"] = 100
        opt["logger"]["ckpt_freq"] = 1

    whole = write_opt(tmp_path / "whole", tiny_data, model, total_iter=6, extra=setup)
    _torchrun(whole, model=model)
    parts = write_opt(tmp_path / "parts", tiny_data, model, total_iter=3, extra=setup)
    _torchrun(parts, model=model)
    write_opt(parts, tiny_data, model, total_iter=6, extra=setup)
    _torchrun(parts, "--resume", "auto", model=model)
    for it in (4, 6):
        assert_same(weights(whole / "train" / "ckpt" / f"G_iter{it}.pth"), weights(parts / "train" / "ckpt" / f"G_iter{it}.pth"))


def test_train_sh_refuses_existing_dir(tmp_path):
    exp = os.path.join(REPO, "experiments_BD", "FRVSR_demo", "001")
    env = dict(ENV, PYTHON=sys.executable)
    made = not os.path.isdir(os.path.join(exp, "train"))
    os.makedirs(os.path.join(exp, "train", "ckpt"), exist_ok=True)
    marker = os.path.join(exp, "train", "ckpt", "G_iter9999999.pth")  # an earlier training's checkpoint
    with open(marker, "wb") as f:
        f.write(b"earlier checkpoint")
    try:
        r = subprocess.run(
            ["bash", os.path.join(REPO, "train.sh"), "BD", "FRVSR_demo", "-1"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        os.remove(marker)
        if made:
            shutil.rmtree(os.path.join(exp, "train"))
    assert r.returncode == 2 and "already exists" in r.stderr
    r = subprocess.run(
        ["bash", os.path.join(REPO, "train.sh"), "BD", "NoSuchModel"], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 2 and "train.yml not found" in r.stderr


def test_vgg_local_weights(tmp_path):
    import torchvision

    from tecogan.networks.vgg import VGGFeatureExtractor

    features = torchvision.models.vgg19(weights=None).features
    path = tmp_path / "vgg19_features.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    net = VGGFeatureExtractor((8, 17), str(path))
    outs = net(torch.rand(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [128, 256]
    assert not any(p.requires_grad for p in net.parameters())


def test_train_sh_checks_before_going_to_the_background(tiny_data, tmp_path):
    """A YAML typo, a missing LMDB or a running training: one line on stderr and status 2 from
    train.sh itself (not only in the background's log), and nothing made or changed."""
    import socket

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.sh").write_text(open(os.path.join(REPO, "train.sh")).read())
    os.symlink(os.path.join(REPO, "codes"), repo / "codes")
    os.symlink(os.path.join(REPO, "scripts"), repo / "scripts")
    exp = repo / "experiments_BD" / "FRVSR_mini" / "001"
    env = dict(ENV, PYTHON=sys.executable)

    def train_sh():
        return subprocess.run(
            ["bash", "train.sh", "BD", "FRVSR_mini", "-1"], cwd=repo, env=env, capture_output=True, text=True, timeout=120
        )

    write_opt(exp, tiny_data, extra=lambda o: o["train"].update(total_iters=4))
    r = train_sh()
    assert_one_line(r.returncode, r.stderr, "train.total_iters: unknown key")
    assert "background" not in r.stdout
    write_opt(exp, tiny_data, extra=lambda o: o["dataset"]["train"].update(seq_dir=str(tmp_path / "nope.lmdb")))
    r = train_sh()
    assert_one_line(r.returncode, r.stderr, "train.yml: dataset.train.seq_dir: ", "LMDB folder not found")
    assert not (exp / "train").exists()
    write_opt(exp, tiny_data)
    lock = exp / ".train.lock"
    lock.write_text(f"{os.getpid()} {socket.gethostname()} -\n")  # held by a live process: this one
    before = tree_hash(exp)
    r = train_sh()
    assert_one_line(r.returncode, r.stderr, "in use by a running training")
    assert tree_hash(exp) == before


@pytest.mark.slow
def test_train_sh_background_run(tiny_data, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.sh").write_text(open(os.path.join(REPO, "train.sh")).read())
    os.symlink(os.path.join(REPO, "codes"), repo / "codes")
    os.symlink(os.path.join(REPO, "scripts"), repo / "scripts")
    write_opt(repo / "experiments_BD" / "FRVSR_mini" / "001", tiny_data, total_iter=2)
    env = dict(ENV, PYTHON=sys.executable)
    p = subprocess.run(
        ["bash", "train.sh", "BD", "FRVSR_mini", "-1"], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0 and "train/train.log" in p.stdout, p.stderr
    log = repo / "experiments_BD" / "FRVSR_mini" / "001" / "train" / "train.log"
    end = time.time() + 120
    while "Finished at iteration 2" not in (log.read_text() if log.exists() else ""):
        assert time.time() < end, log.read_text() if log.exists() else "no log"
        time.sleep(0.2)
    again = subprocess.run(
        ["bash", "train.sh", "BD", "FRVSR_mini", "-1"], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.slow
def test_validation_lpips_uses_the_bundled_weights(tiny_data, tmp_path):
    """metric.LPIPS without weights: the bundled AlexNet file (no download, no warning); a named
    file that is missing is the user's error."""
    exp = write_opt(tmp_path / "exp", tiny_data, total_iter=2, extra=lambda o: o["metric"].update(LPIPS={}))
    env = {k: v for k, v in ENV.items() if k != "TECOGAN_LPIPS_WEIGHTS"}
    env["TORCH_HOME"] = str(tmp_path / "empty_torch_home")  # no cached AlexNet: the bundled file is used
    r = subprocess.run(
        [
            sys.executable,
            MAIN,
            "--exp_dir",
            str(exp),
            "--mode",
            "train",
            "--model",
            "FRVSR",
            "--opt",
            "train.yml",
            "--gpu_id",
            "-1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    metrics = json.loads((exp / "test" / "metrics" / "TinyVal_avg.json").read_text())["G_iter2"]
    assert "LPIPS" in metrics and 0 <= metrics["LPIPS"] < 1, metrics
    assert "validation LPIPS disabled" not in r.stderr
    bad = write_opt(
        tmp_path / "bad",
        tiny_data,
        total_iter=2,
        extra=lambda o: o["metric"].update(LPIPS={"weights": str(tmp_path / "missing.pth")}),
    )
    r = train(bad, check=False)
    assert r.returncode == 2 and "missing.pth" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_bi_training_and_resume(tiny_data, tmp_path):
    lr_raw = tmp_path / "lr_raw"
    for clip in sorted(os.listdir(tiny_data / "raw")):
        os.makedirs(lr_raw / clip)
        for name in sorted(os.listdir(tiny_data / "raw" / clip)):
            img = cv2.imread(str(tiny_data / "raw" / clip / name))
            cv2.imwrite(
                str(lr_raw / clip / name), cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_CUBIC)
            )
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "scripts", "create_lmdb.py"),
            "--dataset",
            "TinyLR",
            "--raw_dir",
            str(lr_raw),
            "--lmdb_dir",
            str(tmp_path / "LR.lmdb"),
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr

    def bi(opt):
        opt["dataset"]["degradation"] = {"type": "BI"}
        opt["dataset"]["train"] = {
            "name": "Tiny",
            "gt_seq_dir": str(tiny_data / "GT.lmdb"),
            "lr_seq_dir": str(tmp_path / "LR.lmdb"),
            "gt_crop_size": 32,
            "batch_size": 2,
            "num_workers": 0,
        }

    straight = write_opt(tmp_path / "straight", tiny_data, total_iter=4, extra=bi)
    train(straight)
    log = (straight / "train" / "train.log").read_text()
    assert "(BI)" in log and "iter: 4 |" in log
    half = write_opt(tmp_path / "half", tiny_data, total_iter=2, extra=bi)
    train(half)
    write_opt(tmp_path / "half", tiny_data, total_iter=4, extra=bi)
    train(half, "FRVSR", "--resume", "auto")
    assert_same(weights(straight / "train" / "ckpt" / "G_iter4.pth"), weights(half / "train" / "ckpt" / "G_iter4.pth"))


def write_train_exp(exp, lmdb_dir):
    exp.mkdir(parents=True, exist_ok=True)
    opt = {
        "scale": 4,
        "manual_seed": 0,
        "dataset": {
            "degradation": {"type": "BD"},
            "train": {"name": "T", "seq_dir": str(lmdb_dir), "crop_size": 32, "batch_size": 2},
        },
        "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1}},
        "train": {
            "tempo_extent": 3,
            "total_iter": 1,
            "generator": {"lr": 1e-4},
            "pixel_crit": {"type": "CB"},
            "warping_crit": {"type": "CB"},
        },
        "test": {"test_freq": 1000},
        "logger": {"log_freq": 1, "ckpt_freq": 1},
    }
    (exp / "train.yml").write_text(yaml.safe_dump(opt))


@pytest.fixture(scope="module")
def train_lmdb(tmp_path_factory):
    return make_lmdb(tmp_path_factory.mktemp("lmdb") / "GT.lmdb")


def train_cmd(exp):
    return [sys.executable, MAIN, "--exp_dir", exp, "--mode", "train", "--model", "FRVSR", "--opt", "train.yml", "--gpu_id", "-1"]


def test_training_full_disk(tmp_path, train_lmdb):
    preload = tmp_path / "preload"
    write_train_exp(preload, train_lmdb)
    (tmp_path / "disk").mkdir()
    (tmp_path / "after").mkdir()
    env = dict(ENV, TECOGAN_LOG_FILE_ONLY="1")
    cmd = tmpfs_command(tmp_path / "disk", 48, train_cmd(tmp_path / "disk"), preload=preload, copy_back=tmp_path / "after")
    if cmd is None:
        pytest.skip(
            "mounting a small tmpfs (unshare -rm mount -t tmpfs) is not permitted here; "
            "test_training_file_size_limit covers the failing write"
        )
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert_one_line(r.returncode, r.stderr, "G_iter1.pth", "No space left on device")
    assert no_temps(tmp_path / "after" / "train" / "ckpt")
    assert not (tmp_path / "after" / ".train.lock").exists()


def test_training_file_size_limit(tmp_path, train_lmdb):
    """A checkpoint write stopped by a file-size limit (RLIMIT_FSIZE: EFBIG, not ENOSPC) is one line
    naming the checkpoint, leaves no temporary and releases the lock."""
    exp = tmp_path / "exp"
    write_train_exp(exp, train_lmdb)
    r = subprocess.run(
        train_cmd(exp),
        capture_output=True,
        text=True,
        env=dict(ENV, TECOGAN_LOG_FILE_ONLY="1"),
        timeout=300,
        preexec_fn=limit_file_size(30000),
    )
    assert_one_line(r.returncode, r.stderr, "_iter1.pth", "could not be written")
    assert no_temps(exp / "train" / "ckpt") and not (exp / ".train.lock").exists()


def train_argv(exp, *extra):
    return ["main.py", "--exp_dir", exp, "--mode", "train", "--model", "FRVSR", "--opt", "train.yml", "--gpu_id", "-1", *extra]


def write_dataless_exp(exp):
    exp.mkdir(parents=True, exist_ok=True)
    opt = {
        "scale": 4,
        "dataset": {"degradation": {"type": "BD"}, "train": {"name": "x", "seq_dir": str(exp / "none.lmdb"), "crop_size": 32}},
        "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1}},
        "train": {"total_iter": 2, "generator": {"lr": 1e-4}},
    }
    (exp / "train.yml").write_text(yaml.safe_dump(opt))


def test_train_refuses_existing_run_without_resume(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    write_dataless_exp(exp)
    (exp / "train" / "ckpt").mkdir(parents=True)
    (exp / "train" / "ckpt" / "G_iter2.pth").write_bytes(b"earlier checkpoint")
    before = tree_hash(exp)
    status, _, err = run_inprocess(main_cmd.cli, train_argv(exp), capsys, monkeypatch)
    assert_one_line(status, err, str(exp / "train"), "already exists", "--resume auto")
    assert tree_hash(exp) == before  # and the lock was released


def test_a_start_that_saved_nothing_does_not_lock_the_experiment(tmp_path, capsys, monkeypatch):
    """A YAML typo or a crash before the first checkpoint leaves train/ with a log (and maybe
    TensorBoard events) but no .pth: the next start (without --resume) goes ahead, its log
    appended, the old events set aside (nothing deleted); --resume auto says to start afresh."""
    exp = tmp_path / "exp"
    write_dataless_exp(exp)
    status, _, err = run_inprocess(main_cmd.cli, train_argv(exp), capsys, monkeypatch)
    assert status == 2 and "none.lmdb" in err, err  # the first start fails (no data), before making train/
    assert not (exp / "train").exists()
    (exp / "train" / "tensorboard").mkdir(parents=True)  # as a start that crashed before its first save leaves it
    (exp / "train" / "train.log").write_text("Start training FRVSR ...\n")
    (exp / "train" / "tensorboard" / "events.out.tfevents.1.x").write_bytes(b"events of the failed start")
    log_before = (exp / "train" / "train.log").read_text() if (exp / "train" / "train.log").exists() else ""
    status, _, err = run_inprocess(main_cmd.cli, train_argv(exp), capsys, monkeypatch)
    assert status == 2 and "none.lmdb" in err and "already exists" not in err, err  # the same error, not a lock-out
    assert "an earlier start saved no checkpoint" in err
    aside = [p for p in (exp / "train").iterdir() if p.name.startswith("tensorboard.unsaved-")]
    assert len(aside) == 1 and (aside[0] / "events.out.tfevents.1.x").read_bytes() == b"events of the failed start"
    if log_before:
        assert (exp / "train" / "train.log").read_text().startswith(log_before)
    (exp / "none.lmdb").mkdir()  # a folder there: the resume is what fails now, before the data are read
    status, _, err = run_inprocess(main_cmd.cli, train_argv(exp, "--resume", "auto"), capsys, monkeypatch)
    assert_one_line(status, err, "--resume auto found no state_iter", "run without --resume to start afresh")


def test_train_refuses_experiment_in_use(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    write_dataless_exp(exp)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (exp / ".train.lock").write_text(f"{sleeper.pid} {os.uname().nodename}\n")
        before = tree_hash(exp)
        status, _, err = run_inprocess(main_cmd.cli, train_argv(exp, "--resume", "auto"), capsys, monkeypatch)
        assert_one_line(status, err, str(exp), "in use by a running training", f"pid {sleeper.pid}")
        assert tree_hash(exp) == before
    finally:
        sleeper.kill()
        sleeper.wait()
    # the same lock, now stale (its process is gone), is taken over
    lock = TrainingLock(str(exp))
    with lock:
        assert (exp / ".train.lock").read_text().split()[0] == str(os.getpid())
    assert not (exp / ".train.lock").exists()


def test_train_never_writes_into_its_data(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    write_dataless_exp(exp)
    opt = yaml.safe_load((exp / "train.yml").read_text())
    data = tmp_path / "val" / "LR"
    write_frames(data / "s1")
    opt["dataset"]["test1"] = {"name": "V", "lr_seq_dir": str(data)}
    opt["test"] = {"res_dir": str(data / "results")}
    (exp / "train.yml").write_text(yaml.safe_dump(opt))
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(main_cmd.cli, train_argv(exp), capsys, monkeypatch)
    assert_one_line(status, err, "test.res_dir", "lies inside the input dataset.test1.lr_seq_dir")
    assert tree_hash(tmp_path) == before


def test_stale_lock_of_a_reused_pid_is_taken_over(tmp_path):
    import socket
    import subprocess
    import sys

    from tecogan.utils.training_lock import TrainingLock, process_start

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_file = tmp_path / ".train.lock"
        start = process_start(sleeper.pid)
        assert start is not None
        lock_file.write_text(f"{sleeper.pid} {socket.gethostname()} {start}\n")  # really running
        with pytest.raises(UserError, match="in use by a running training"):
            TrainingLock(str(tmp_path)).acquire()
        boot, ticks = start.rsplit(":", 1)
        lock_file.write_text(f"{sleeper.pid} {socket.gethostname()} {boot}:{int(ticks) - 7}\n")  # pid reused
        with TrainingLock(str(tmp_path)):
            assert lock_file.read_text().split()[0] == str(os.getpid())
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_validation_that_fails_midway_keeps_the_iterations(tiny_data, tmp_path, capsys, monkeypatch):
    """Validation data changed under a running training (a frame deleted): the error ends the run,
    but the state of that iteration is saved first, as Ctrl-C saves it."""
    from tecogan.training import trainer

    def every_3(opt):
        opt["test"]["test_freq"] = 3
        opt["logger"]["ckpt_freq"] = 100

    exp = write_opt(tmp_path / "e", tiny_data, total_iter=6, extra=every_3)

    def broken(self):
        raise UserError(f"{tiny_data}/LR/x: 10 GT frames but 9 LR frames")

    monkeypatch.setattr(trainer.Trainer, "validate", broken)
    status, _, err = run_inprocess(main_cmd.cli, train_argv(exp), capsys, monkeypatch)
    assert status == 2 and "10 GT frames but 9 LR frames" in err and "iteration 3 is saved" in err, err
    assert (exp / "train" / "ckpt" / "state_iter3.pth").is_file()


def test_the_words_of_a_lost_process():
    from tecogan.utils.distributed import peer_lost

    gloo = "[/x/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:50828: Connection reset by peer. Check the logs"
    assert peer_lost(RuntimeError(gloo)) == "Connection reset by peer"
    assert peer_lost(RuntimeError("The size of tensor a (60) must match the size of tensor b (56)")) is None
