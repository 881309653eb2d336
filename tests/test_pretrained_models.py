"""The weights shipped in pretrained_models/: they load strictly into the default BD (or BI)
FRVSR generator, the footage models really super-resolve a clip they were never trained on,
and the shipped names resolve to them."""

import os

import numpy as np
import pytest
import torch
import yaml
from helpers import assert_one_line, upscale_in_process, write_frames

from tecogan.inference.steppers import infer_sequence
from tecogan.metrics.grid import grid_score
from tecogan.metrics.validation import psnr_y_uint8
from tecogan.networks.frnet import FRNet
from tecogan.ops.upsample import BicubicUpsample
from tecogan.utils.errors import UserError
from tecogan.utils.fileio import list_images, read_image_rgb
from tecogan.utils.hashing import file_sha256

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = ["FRVSR_BD_demo.pth", "FRVSR_BD_footage.pth"]


def load_shipped(name, degradation="BD", model="FRVSR"):
    """pretrained_models/<name> loaded strictly into the generator of the default
    experiments_<degradation>/<model>/001/test.yml, in eval mode."""
    path = os.path.join(REPO, "pretrained_models", name)
    assert os.path.getsize(path) < 12 * 2**20
    with open(os.path.join(REPO, f"experiments_{degradation}", model, "001", "test.yml")) as f:
        g = yaml.safe_load(f)["model"]["generator"]
    net = FRNet(g["in_nc"], g["out_nc"], g["nf"], g["nb"], degradation=degradation, scale=4)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_strictly_into_default_bd_frvsr(name):
    net = load_shipped(name)
    assert all(torch.isfinite(p).all() for p in net.parameters())


def held_out_clip():
    """The bundled coffee clip (held out from both the demo and the footage training sets)."""
    gt_dir = os.path.join(REPO, "demo", "val", "GT", "coffee")
    lr_dir = os.path.join(REPO, "demo", "val", "Gaussian4xLR", "coffee")
    gt = np.stack([read_image_rgb(os.path.join(gt_dir, f)) for f in list_images(gt_dir)])
    lr = np.stack([read_image_rgb(os.path.join(lr_dir, f)) for f in list_images(lr_dir)])
    return gt, lr


def test_footage_model_beats_bicubic_and_demo_model_on_held_out_clip():
    gt, lr = held_out_clip()
    # the fair bicubic baseline for BD frames: the generator's own sample-aligned upsampler
    x = torch.from_numpy(lr).permute(0, 3, 1, 2).float() / 255
    bicubic = (BicubicUpsample(4)(x).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    scores = {"bicubic": psnr_y_uint8(gt, bicubic).mean()}
    for name in SHIPPED:
        with torch.inference_mode():
            sr = np.stack(list(infer_sequence(load_shipped(name), lr)))
        scores[name] = psnr_y_uint8(gt, sr).mean()
    assert scores["FRVSR_BD_footage.pth"] > scores["bicubic"] + 2.0, scores
    assert scores["FRVSR_BD_footage.pth"] > scores["FRVSR_BD_demo.pth"], scores


def test_bi_footage_model_loads_strictly_and_beats_bicubic_on_ordinarily_shrunk_frames():
    """The default model for users' videos: on the held-out coffee clip shrunk the BI way
    (MATLAB-style imresize) and the ordinary way (pixel area), it beats plain (centre-aligned)
    bicubic upscaling, where the BD model, 1.5 px off, loses to it."""
    import cv2

    from tecogan.ops.imresize import imresize

    net = load_shipped("FRVSR_BI_footage.pth", degradation="BI")
    gt, _ = held_out_clip()
    h, w = gt.shape[1] // 4, gt.shape[2] // 4
    for shrink in (lambda f: imresize(f, 0.25), lambda f: cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)):
        lr = np.stack([shrink(f) for f in gt])
        bicubic = np.stack([imresize(f, 4) for f in lr])
        with torch.inference_mode():
            sr = np.stack(list(infer_sequence(net, lr)))
            sr_bd = np.stack(list(infer_sequence(load_shipped("FRVSR_BD_footage.pth"), lr)))
        scores = {
            "bicubic": psnr_y_uint8(gt, bicubic).mean(),
            "BI model": psnr_y_uint8(gt, sr).mean(),
            "BD model": psnr_y_uint8(gt, sr_bd).mean(),
        }
        assert scores["BI model"] > scores["bicubic"] + 1.0, scores
        assert scores["BD model"] < scores["bicubic"], scores


def test_shipped_model_names():
    import tecogan
    from tecogan.pretrained import DEFAULT_MODEL, PRETRAINED, resolve_model

    assert DEFAULT_MODEL in PRETRAINED
    for name, (filename, kind, good_for) in PRETRAINED.items():
        assert kind in ("BD", "BI") and good_for and "\n" not in good_for
        assert resolve_model(name) == os.path.join(REPO, "pretrained_models", filename)
        assert os.path.isfile(resolve_model(name)), name
        assert resolve_model(name.upper()) == resolve_model(name)
    assert tecogan.load_generator("frvsr").degradation == "BI"
    assert tecogan.load_generator("frvsr-bd").degradation == "BD"
    assert tecogan.load_generator("tecogan").degradation == "BD"
    assert resolve_model("my/model.pth") == "my/model.pth"
    with pytest.raises(UserError, match=r"^(--)?model frvsr-ultra: no shipped model of that name \(frvsr, .*frvsr-fast\)"):
        resolve_model("frvsr-ultra")  # a misspelt name lists the names


def test_input_kind_from_the_table_and_from_any_checkpoint(tmp_path):
    """The table's kinds agree with the checkpoints; any other checkpoint's kind is read from
    its tensors (a BD generator holds its upsampler's bicubic kernels)."""
    from tecogan.pretrained import PRETRAINED, input_kind, resolve_model
    from tecogan.utils.errors import UserError

    for name, shipped in PRETRAINED.items():
        assert input_kind(name) == shipped.kind
        assert input_kind(resolve_model(name)) == shipped.kind, name
    assert input_kind(os.path.join(REPO, "pretrained_models", "FRVSR_BD_demo.pth")) == "BD"
    for kind in ("BD", "BI"):
        state = FRNet(nf=8, nb=1, degradation=kind, scale=2).state_dict()
        torch.save(state, tmp_path / f"{kind}.pth")
        assert input_kind(str(tmp_path / f"{kind}.pth")) == kind
        assert input_kind(state) == kind
    torch.save({"conv.weight": torch.zeros(1, 1, 3, 3)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="not an FRNet generator"):
        input_kind(str(tmp_path / "other.pth"))


def test_tecogan_footage_model_loads_strictly_and_beats_frvsr_on_lpips_without_a_grid():
    """The GAN model: strict into the default BD TecoGAN generator; on the held-out coffee
    clip its last frame pair is perceptually closer to the ground truth (LPIPS, AlexNet) than
    the FRVSR it was started from, while it still beats bicubic on Y-PSNR, and its frames
    carry no 4x4 mesh (issue 27's grid score)."""
    from tecogan.metrics.lpips_loader import load_lpips
    from tecogan.metrics.validation import lpips_sequence

    net = load_shipped("TecoGAN_BD_footage.pth", model="TecoGAN")
    gt, lr = held_out_clip()
    with torch.inference_mode():
        sr_gan = np.stack(list(infer_sequence(net, lr)))
        sr_frvsr = np.stack(list(infer_sequence(load_shipped("FRVSR_BD_footage.pth"), lr)))
    pair = slice(len(gt) - 2, len(gt))
    lpips = load_lpips(os.path.join(REPO, "pretrained_models", "alexnet_imagenet_features.pth"))
    gan = lpips_sequence(lpips, gt[pair], sr_gan[pair])
    frvsr = lpips_sequence(lpips, gt[pair], sr_frvsr[pair])
    assert gan.mean() < frvsr.mean(), (gan, frvsr)
    x = torch.from_numpy(lr).permute(0, 3, 1, 2).float() / 255
    bicubic = (BicubicUpsample(4)(x).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    assert psnr_y_uint8(gt[pair], sr_gan[pair]).mean() > psnr_y_uint8(gt[pair], bicubic[pair]).mean()
    # no 4x4 mesh: the spectral grid score of the whole clip at most 0.3 (the model trained
    # without the lattice loss scored 0.555 here; the ground truth scores about -0.16)
    assert grid_score(sr_gan) <= 0.3, grid_score(sr_gan)
    assert grid_score(gt) < 0


def test_every_shipped_file_is_listed_with_its_sha256_and_verified(tmp_path, monkeypatch):
    from tecogan import pretrained
    from tecogan.utils.errors import UserError

    folder = os.path.join(REPO, "pretrained_models")
    shipped = sorted(n for n in os.listdir(folder) if n.endswith(".pth"))
    assert shipped == sorted(pretrained.SHA256)
    for name in shipped:
        assert file_sha256(os.path.join(folder, name)) == pretrained.SHA256[name], name
    # $TECOGAN_MODELS comes first; a damaged copy there is refused, not used
    damaged = tmp_path / "models"
    damaged.mkdir()
    with open(os.path.join(folder, "FRVSR_BI_footage.pth"), "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0xFF
    (damaged / "FRVSR_BI_footage.pth").write_bytes(bytes(data))
    monkeypatch.setenv(pretrained.ENV_VAR, str(damaged))
    assert pretrained.search_dirs()[0] == str(damaged)
    with pytest.raises(UserError, match="damaged or was replaced"):
        pretrained.resolve_model("frvsr")
    # files it does not hold are found in the clone
    assert pretrained.resolve_model("tecogan") == os.path.join(REPO, "pretrained_models", "TecoGAN_BD_footage.pth")


def test_a_bare_name_that_is_also_a_file_is_ambiguous(tmp_path, monkeypatch):
    from tecogan.pretrained import resolve_model
    from tecogan.utils.errors import UserError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tecogan").write_bytes(b"my own checkpoint")
    with pytest.raises(UserError, match=r"\./tecogan"):
        resolve_model("tecogan")
    assert resolve_model("./tecogan") == "./tecogan"


def test_bare_model_name_that_is_also_a_file(tmp_path, monkeypatch, ckpt, capsys):
    from tecogan.pretrained import resolve_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tecogan").write_bytes(open(ckpt, "rb").read())
    with pytest.raises(UserError, match=r"^model tecogan: both a shipped model's name and a file in this folder"):
        resolve_model("tecogan")
    assert resolve_model("./tecogan") == "./tecogan"
    write_frames(tmp_path / "in", n=2)
    status, _, err = upscale_in_process(
        capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", "tecogan", "--device", "cpu"
    )
    assert_one_line(status, err, "./tecogan")
