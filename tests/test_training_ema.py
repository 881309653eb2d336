"""train.ema_decay: an exponential moving average of the generator, updated after every step,
saved as G_ema_iter{N}.pth (G's names: loads strictly wherever a G does), validated beside G,
and part of the exact-resume state."""

import json
import subprocess
import sys

import pytest
import torch
import yaml
from helpers import REPO
from test_training_trainer import ENV, MAIN, assert_same, tiny_data, train, weights, write_opt  # noqa: F401 - tiny_data is a fixture

from tecogan.experiment import validate_config
from tecogan.models import build_model

DECAY = 0.9


def with_ema(opt):
    opt["train"]["ema_decay"] = DECAY


def test_ema_equals_a_hand_computed_average(tmp_path):
    """A few steps of a tiny FRVSR on random clips: the EMA is decay * ema + (1 - decay) * G after
    every step, starting from G's initial weights."""
    write_opt(tmp_path / "exp", tmp_path, extra=with_ema)
    with open(tmp_path / "exp" / "train.yml") as f:
        opt = validate_config(yaml.safe_load(f))
    torch.manual_seed(0)
    model = build_model(opt, torch.device("cpu"))
    hand = {k: v.detach().double().clone() for k, v in model.net_G.state_dict().items()}
    assert_same(model.net_G_ema.state_dict(), model.net_G.state_dict())
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        batch = {"gt": torch.rand(2, 3, 3, 40, 40, generator=gen)}  # 32x32 after the BD border
        model.train_step(batch)
        for k, v in model.net_G.state_dict().items():
            hand[k] = DECAY * hand[k] + (1 - DECAY) * v.detach().double()
    ema = model.net_G_ema.state_dict()
    assert not all(torch.equal(ema[k], model.net_G.state_dict()[k]) for k in ema)  # it lags behind G
    for k, v in hand.items():
        assert torch.allclose(ema[k].double(), v, rtol=1e-5, atol=1e-7), k
    assert not any(p.requires_grad for p in model.net_G_ema.parameters())
    assert "net_G_ema" in model.state_dict() and "G_ema" in model.checkpoints()


def test_ema_saved_validated_and_loaded_by_test_mode(tiny_data, tmp_path):  # noqa: F811
    straight = write_opt(tmp_path / "straight", tiny_data, total_iter=6, extra=with_ema)
    train(straight)
    ckpt = straight / "train" / "ckpt"
    for it in (2, 4, 6):
        assert (ckpt / f"G_ema_iter{it}.pth").is_file()
    state = torch.load(ckpt / "state_iter6.pth", weights_only=True)
    assert_same(state["model"]["net_G_ema"], weights(ckpt / "G_ema_iter6.pth"))
    # the same names as G: loads strictly into test mode's network
    from tecogan.networks.frnet import FRNet

    FRNet(nf=8, nb=1, degradation="BD").load_state_dict(weights(ckpt / "G_ema_iter6.pth"), strict=True)
    metrics = json.loads((straight / "test" / "metrics" / "TinyVal_avg.json").read_text())
    assert {"G_iter2", "G_ema_iter2", "G_iter6", "G_ema_iter6"} <= set(metrics)
    assert metrics["G_ema_iter6"] != metrics["G_iter6"]
    assert "G_ema_iter6 average: PSNR" in (straight / "train" / "train.log").read_text()

    # test mode takes the EMA file as it takes a G file
    test_yml = {
        "scale": 4,
        "dataset": {
            "degradation": {"type": "BD", "sigma": 1.5},
            "test": {"name": "TinyVal", "gt_seq_dir": str(tiny_data / "GT"), "lr_seq_dir": str(tiny_data / "LR")},
        },
        "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1, "load_path": str(ckpt / "G_ema_iter6.pth")}},
        "test": {"res_dir": str(tmp_path / "results"), "num_pad_front": 2},
    }
    (straight / "test.yml").write_text(yaml.safe_dump(test_yml))
    r = subprocess.run(
        [
            sys.executable,
            MAIN,
            "--exp_dir",
            str(straight),
            "--mode",
            "test",
            "--model",
            "FRVSR",
            "--opt",
            "test.yml",
            "--gpu_id",
            "-1",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "results" / "TinyVal" / "G_ema_iter6" / "val0").iterdir())) == 4
    # and upscale.py's loader (generator_from_checkpoint) reads it with its architecture
    from tecogan.networks import generator_from_checkpoint

    net = generator_from_checkpoint(str(ckpt / "G_ema_iter6.pth"))
    assert_same(net.state_dict(), weights(ckpt / "G_ema_iter6.pth"))


@pytest.mark.slow  # three trainings; fast: the EMA in the state (above) and resuming a state without one (below)
def test_ema_resumes_exactly(tiny_data, tmp_path):  # noqa: F811
    """3 iterations, then on to 6, give the EMA (and G) of 6 in one go."""
    straight = write_opt(tmp_path / "straight", tiny_data, total_iter=6, extra=with_ema)
    train(straight)
    half = write_opt(tmp_path / "half", tiny_data, total_iter=3, extra=with_ema)
    train(half)
    write_opt(tmp_path / "half", tiny_data, total_iter=6, extra=with_ema)
    train(half, "FRVSR", "--resume", "auto")
    ckpt = straight / "train" / "ckpt"
    assert_same(weights(ckpt / "G_ema_iter6.pth"), weights(half / "train" / "ckpt" / "G_ema_iter6.pth"))
    assert_same(weights(ckpt / "G_iter6.pth"), weights(half / "train" / "ckpt" / "G_iter6.pth"))


def test_resume_without_ema_in_the_state_starts_it_from_g(tiny_data, tmp_path):  # noqa: F811
    exp = write_opt(tmp_path / "exp", tiny_data, total_iter=2)
    train(exp)
    write_opt(tmp_path / "exp", tiny_data, total_iter=3, extra=with_ema)
    train(exp, "FRVSR", "--resume", "auto")
    assert "holds no EMA" in (exp / "train" / "train.log").read_text()
    assert (exp / "train" / "ckpt" / "G_ema_iter3.pth").is_file()


def test_monitor_reads_the_ema_series_apart(tmp_path):
    from helpers import load_script

    monitor = load_script("scripts/monitor_training.py")
    path = tmp_path / "val_avg.json"
    path.write_text(
        json.dumps(
            {"G_iter2": {"PSNR": 20.0}, "G_ema_iter2": {"PSNR": 19.0}, "G_iter4": {"PSNR": 21.0}, "G_ema_iter4": {"PSNR": 20.5}}
        )
    )
    assert monitor.parse_metrics(str(path)) == {"PSNR": ([2, 4], [20.0, 21.0])}
    assert monitor.parse_metrics(str(path), "G_ema") == {"PSNR": ([2, 4], [19.0, 20.5])}
