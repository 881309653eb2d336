"""2x super-resolution (the reference's later layout): network, checkpoints, BD degradation,
training a few iterations, test mode, profiling and upscale.py at scale 2."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import yaml
from helpers import REPO
from test_training_trainer import make_tiny_data, train, write_opt

from tecogan.experiment import load_config
from tecogan.inference.steppers import infer_sequence
from tecogan.networks import generator_from_checkpoint
from tecogan.networks.frnet import FRNet
from tecogan.ops import BicubicUpsample, bd_downsample, bicubic_kernels, gaussian_kernel
from tecogan.utils.errors import UserError

ENV = dict(os.environ, OMP_NUM_THREADS="1", TECOGAN_LOG_FILE_ONLY="1")


def later_reference_2x_names(nb):
    """The state-dict names of a 2x FRNet in the reference's later versions (BD)."""
    names = ["upsample_func.kernels"]
    for enc in ("encoder1", "encoder2", "encoder3", "decoder1", "decoder2", "decoder3"):
        names += [f"fnet.{enc}.{j}.{p}" for j in (0, 2) for p in ("weight", "bias")]
    names += [f"fnet.flow.{j}.{p}" for j in (0, 2) for p in ("weight", "bias")]
    names += ["srnet.conv_in.0.weight", "srnet.conv_in.0.bias"]
    names += [f"srnet.resblocks.{i}.conv.{j}.{p}" for i in range(nb) for j in (0, 2) for p in ("weight", "bias")]
    names += [
        "srnet.conv_up.0.weight",
        "srnet.conv_up.0.bias",
        "srnet.conv_out.weight",
        "srnet.conv_out.bias",
        "srnet.upsample_func.kernels",
    ]
    return names


def test_2x_state_dict_layout():
    net = FRNet(nf=64, nb=10, degradation="BD", scale=2)
    sd = net.state_dict()
    assert sorted(sd) == sorted(later_reference_2x_names(10))
    assert sd["srnet.conv_in.0.weight"].shape == (64, (2 * 2 + 1) * 3, 3, 3)
    assert sd["srnet.conv_up.0.weight"].shape == (64, 64, 3, 3)
    assert sd["upsample_func.kernels"].shape == (2, 4)
    assert "srnet.conv_up.2.weight" not in sd
    assert FRNet.arch_from_state_dict(sd)["scale"] == 2
    assert FRNet(nf=8, nb=1, degradation="BI", scale=2).arch() == {
        "in_nc": 3,
        "out_nc": 3,
        "nf": 8,
        "nb": 1,
        "degradation": "BI",
        "scale": 2,
    }


def test_2x_checkpoint_of_the_later_layout_loads_strict(tmp_path):
    """A checkpoint written name by name in the later layout builds a 2x network and loads strictly."""
    rng = torch.Generator().manual_seed(0)
    template = FRNet(nf=16, nb=2, degradation="BD", scale=2).state_dict()
    ckpt = {name: torch.randn(template[name].shape, generator=rng) for name in later_reference_2x_names(2)}
    ckpt["upsample_func.kernels"] = ckpt["srnet.upsample_func.kernels"] = bicubic_kernels(2)
    path = tmp_path / "FRVSR_BD_2x_iter400000.pth"
    torch.save(ckpt, path)
    net = generator_from_checkpoint(str(path))
    assert net.scale == 2 and net.nf == 16 and net.nb == 2 and net.degradation == "BD"
    for k, v in net.state_dict().items():
        assert torch.equal(v, ckpt[k]), k
    out = list(infer_sequence(net, np.zeros((2, 12, 16, 3), np.uint8), num_pad_front=1))
    assert out[0].shape == (24, 32, 3)


def test_inconsistent_scale_is_one_error():
    sd = FRNet(nf=8, nb=1, degradation="BD", scale=4).state_dict()
    sd.pop("srnet.conv_up.2.weight")
    sd.pop("srnet.conv_up.2.bias")
    with pytest.raises(UserError, match="not an FRNet of scale 2 or 4"):
        FRNet.arch_from_state_dict(sd, "odd.pth")


def test_2x_upsamplers_and_bd_degradation():
    x = torch.rand(1, 3, 7, 9)
    up = BicubicUpsample(2)(x)
    assert up.shape == (1, 3, 14, 18)
    # phase 0 keeps the LR samples in place (BD: LR pixel (i, j) is GT pixel (2i, 2j))
    torch.testing.assert_close(up[..., ::2, ::2], x, atol=1e-6, rtol=0)
    kernel = gaussian_kernel(1.5)
    img = np.random.default_rng(0).integers(0, 256, (40, 48, 3)).astype(np.float32)
    lr = bd_downsample(torch.from_numpy(img).permute(2, 0, 1)[None, None], torch.from_numpy(kernel), 2)
    blurred = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    ours = lr[0, 0].permute(1, 2, 0).numpy()
    # no padding: LR pixel (i, j) is the blur centred on GT pixel (4 + 2i, 4 + 2j)
    np.testing.assert_allclose(ours, blurred[4:-4:2, 4:-4:2][: ours.shape[0], : ours.shape[1]], atol=1e-3)


@pytest.fixture(scope="module")
def data_2x(tmp_path_factory):  # BD 2x LR 16x16
    from tecogan.ops.degradation import degrade_bd

    return make_tiny_data(tmp_path_factory.mktemp("data2x"), lambda gt: degrade_bd(gt, 1.5, 2))


@pytest.mark.slow
def test_2x_train_test_profile_and_upscale(data_2x, tmp_path):
    def two_x(opt):
        opt["scale"] = 2
        opt["dataset"]["train"]["crop_size"] = 16  # LR 8x8, the flow network's minimum

    exp = write_opt(tmp_path / "exp", data_2x, "TecoGAN", total_iter=2, extra=two_x)
    train(exp, "TecoGAN")
    ckpt = exp / "train" / "ckpt" / "G_iter2.pth"
    assert torch.load(ckpt, weights_only=True)["srnet.conv_in.0.weight"].shape[1] == 15
    val = os.listdir(exp / "test" / "results" / "TinyVal" / "G_iter2" / "val0")
    assert len(val) == 4
    assert cv2.imread(str(exp / "test" / "results" / "TinyVal" / "G_iter2" / "val0" / val[0])).shape == (32, 32, 3)

    # test mode: the 2x checkpoint, frames at 2x the LR size, named like the GT
    opt = yaml.safe_load((exp / "train.yml").read_text())
    test_opt = {
        "scale": 2,
        "dataset": {"degradation": opt["dataset"]["degradation"], "test1": opt["dataset"]["test"]},
        "model": {"name": "TecoGAN", "generator": dict(opt["model"]["generator"], load_path=str(ckpt))},
        "test": {"save_res": True, "res_dir": str(tmp_path / "results"), "num_pad_front": 2},
    }
    (exp / "test.yml").write_text(yaml.safe_dump(test_opt))
    load_config(str(exp / "test.yml"))
    for mode, extra in (("test", []), ("profile", ["--lr_size", "3x16x24", "--test_speed"])):
        r = subprocess.run(
            [
                sys.executable,
                os.path.join(REPO, "codes", "main.py"),
                "--exp_dir",
                str(exp),
                "--mode",
                mode,
                "--model",
                "TecoGAN",
                "--opt",
                "test.yml",
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
        assert r.returncode == 0, r.stderr
        if mode == "profile":
            assert "x2" in r.stdout
            # conv FLOPs of one step at 16x24 LR: count them from the network itself
            from tecogan.profiling import count_flops, step_inputs

            net = FRNet(nf=8, nb=1, degradation="BD", scale=2)
            flops = count_flops(net, step_inputs(3, 16, 24, 2, "cpu"))
            assert f"FLOPs (x10^9): {flops / 1e9:.3f}" in r.stdout
    out_dir = tmp_path / "results" / "TinyVal" / "G_iter2" / "val0"
    assert sorted(os.listdir(out_dir)) == sorted(os.listdir(data_2x / "GT" / "val0"))
    first = cv2.imread(str(out_dir / "0000.png"))
    assert first.shape == (32, 32, 3)

    # upscale.py reads the scale from the checkpoint, and equals test mode's frames
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "codes", "upscale.py"),
            str(data_2x / "LR" / "val0"),
            str(tmp_path / "up"),
            "--model",
            str(ckpt),
            "--device",
            "cpu",
            "--num_pad_front",
            "2",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "16x16 -> 32x32" in r.stdout
    for name in os.listdir(out_dir):
        assert np.array_equal(cv2.imread(str(tmp_path / "up" / name)), cv2.imread(str(out_dir / name))), name
