"""frvsr-fast (pretrained_models/FRVSR_BI_fast.pth, issue 33): the small BI FRNet (nf 24, nb 7,
FNet width 8, 8 channels at the output resolution) distilled from frvsr. It loads strictly as the
architecture its tensors hold, is a name wherever a model name is taken (upscale.py, the API), and
on the bundled held-out coffee clip shrunk the BI way it beats centre-aligned bicubic."""

import os

import numpy as np
import torch
import yaml

from tecogan.inference.steppers import infer_sequence
from tecogan.metrics.validation import psnr_y_uint8
from tecogan.networks import generator_from_checkpoint
from tecogan.networks.frnet import FRNet
from tecogan.ops.imresize import imresize
from tecogan.utils.fileio import list_images, read_image_rgb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = os.path.join(REPO, "pretrained_models", "FRVSR_BI_fast.pth")
ARCH = {"in_nc": 3, "out_nc": 3, "nf": 24, "nb": 7, "degradation": "BI", "scale": 4, "fnet_nf": 8, "hr_nf": 8}


def test_shipped_file_reads_back_as_the_fast_architecture_and_loads_strictly():
    from tecogan.pretrained import PRETRAINED, SHA256, resolve_model
    from tecogan.utils.hashing import file_sha256

    assert PRETRAINED["frvsr-fast"].file == "FRVSR_BI_fast.pth" and PRETRAINED["frvsr-fast"].kind == "BI"
    assert resolve_model("frvsr-fast") == FAST and file_sha256(FAST) == SHA256["FRVSR_BI_fast.pth"]
    state = torch.load(FAST, map_location="cpu", weights_only=True)
    assert FRNet.arch_from_state_dict(state) == ARCH
    net = FRNet(**ARCH)
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    assert list(state) == list(FRNet(nb=7, degradation="BI").state_dict())  # the reference's names
    # what the recipe and test mode build (model.generator in test.yml) is the same network
    with open(os.path.join(REPO, "experiments_BI", "FRVSR_fast", "001", "test.yml")) as f:
        g = yaml.safe_load(f)["model"]["generator"]
    assert (g["nf"], g["nb"], g["fnet_nf"], g["hr_nf"]) == (24, 7, 8, 8)
    assert generator_from_checkpoint(FAST).arch() == ARCH


def test_the_api_loads_it_by_name():
    import tecogan

    net = tecogan.load_generator("frvsr-fast")
    assert net.arch() == ARCH and not net.training


def test_upscale_py_takes_the_name(tmp_path, capsys, monkeypatch):
    from helpers import upscale_in_process
    from test_upscale import frames, read_folder, write_folder

    write_folder(tmp_path / "in", frames(n=3))
    status, out, err = upscale_in_process(
        capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", "frvsr-fast", "--precision", "fp32"
    )
    assert status == 0, err
    assert "BI generator nf 24 nb 7 fnet_nf 8 hr_nf 8," in out
    got = read_folder(tmp_path / "out")
    assert len(got) == 3 and got[0].shape == (80, 112, 3)


def test_beats_bicubic_on_the_held_out_clip_shrunk_the_bi_way():
    gt_dir = os.path.join(REPO, "demo", "val", "GT", "coffee")
    gt = np.stack([read_image_rgb(os.path.join(gt_dir, f)) for f in list_images(gt_dir)])
    lr = np.stack([imresize(f, 0.25) for f in gt])
    bicubic = psnr_y_uint8(gt, np.stack([imresize(f, 4) for f in lr])).mean()
    with torch.inference_mode():
        fast = psnr_y_uint8(gt, np.stack(list(infer_sequence(generator_from_checkpoint(FAST).eval(), lr)))).mean()
    assert fast > bicubic + 0.8, (fast, bicubic)
