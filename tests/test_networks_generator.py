"""A generator is one file plus one registry entry: docs/architecture.md's complete example
(ToyNet), written to a file and registered in ``networks.GENERATORS`` alone, trains, runs test
mode, the Upscaler in fp32 and the ONNX/OpenVINO export; checkpoints record the generator's name
(published ones, without it, are FRNets)."""

import copy
import importlib.util
import os
import re
import sys

import cv2
import numpy as np
import pytest
import torch
import yaml
from golden_steps import make_opt
from helpers import REPO, load_script, run_inprocess

from tecogan import api, main, pretrained
from tecogan.experiment import validate_config
from tecogan.inference.backends import OpenVINOStep, model_key
from tecogan.inference.precision import low_precision_copy
from tecogan.inference.upscaler import Upscaler
from tecogan.models import build_model
from tecogan.networks import (
    GENERATORS,
    check_checkpoint_fits,
    generator_from_checkpoint,
    load_generator_weights,
    recorded_name,
)
from tecogan.networks.frnet import FRNet
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError
from tecogan.utils.weight_files import find_file

DOC = REPO / "docs" / "architecture.md"


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """docs/architecture.md's ToyNet, saved as its own file and given its one registry entry."""
    blocks = re.findall(r"```python\n(# codes/networks/toynet\.py\n.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/architecture.md: one python block starting '# codes/networks/toynet.py'"
    path = tmp_path / "toynet.py"
    path.write_text(blocks[0])
    spec = importlib.util.spec_from_file_location("toynet", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "toynet", module)
    spec.loader.exec_module(module)
    monkeypatch.setitem(GENERATORS, "ToyNet", module.ToyNet)
    return module.ToyNet


def tiny_toy(toy, degradation="BI", scale=4):
    torch.manual_seed(0)
    return toy(nf=4, degradation=degradation, scale=scale).eval()


def recurrence(net, frames):
    """The step run by hand over (t, h, w, 3) uint8 frames from zeros, rounded as the upscaler rounds."""
    lr = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    s = net.scale
    lr_prev, hr_prev, out = torch.zeros_like(lr[:1]), torch.zeros(1, 3, s * lr.shape[2], s * lr.shape[3]), []
    with torch.no_grad():
        for x in lr:
            hr_prev, lr_prev = net(x[None], lr_prev, hr_prev), x[None]
            out.append(np.clip(np.round(hr_prev[0].permute(1, 2, 0).numpy() * 255), 0, 255).astype(np.uint8))
    return np.stack(out)


def test_checkpoints_record_the_name_and_load_back_as_that_class(toy, tmp_path):
    net = tiny_toy(toy, "BD", scale=2)
    path = tmp_path / "toy.pth"
    torch.save(net.state_dict(), path)
    state = load_state_dict_file(str(path))  # the project's safe loader keeps the metadata
    assert recorded_name(state) == "ToyNet"
    loaded = generator_from_checkpoint(path)
    assert type(loaded) is toy and loaded.arch() == net.arch() == {
        "in_nc": 3,
        "out_nc": 3,
        "nf": 4,
        "degradation": "BD",
        "scale": 2,
    }
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), net.state_dict().values(), strict=True))
    assert pretrained.input_kind(str(path)) == "BD"
    assert type(api.load_generator(net.state_dict())) is toy  # a state dict in memory: its name kept
    # a DistributedDataParallel-style "module." prefix: the name moves along with the keys
    ddp = torch.nn.Module()
    ddp.module = net
    torch.save(ddp.state_dict(), tmp_path / "ddp.pth")
    assert type(generator_from_checkpoint(tmp_path / "ddp.pth")) is toy


def test_published_checkpoints_without_a_name_load_as_frnet(tmp_path):
    shipped = find_file(pretrained.PRETRAINED["frvsr"].file)  # stored before names were recorded
    state = load_state_dict_file(shipped)
    assert recorded_name(state) is None
    net = generator_from_checkpoint(shipped)  # strict
    assert type(net) is FRNet and net.arch()["nf"] == 64 and "fnet_nf" not in net.arch()
    assert recorded_name(net.state_dict()) == "FRNet"  # what this project writes
    # a file shipped since (scripts/ship_model.py keeps the name) records it and loads the same way
    fast = find_file(pretrained.PRETRAINED["frvsr-fast"].file)
    assert recorded_name(load_state_dict_file(fast)) == "FRNet"
    net = generator_from_checkpoint(fast)
    assert type(net) is FRNet and net.arch()["fnet_nf"] == 8


def test_an_unknown_or_other_name_is_one_line(toy, tmp_path, monkeypatch):
    path = tmp_path / "toy.pth"
    torch.save(tiny_toy(toy).state_dict(), path)
    asked = r"holds a ToyNet generator, not the FRNet asked for \(model.generator.name\); set it to ToyNet"
    with pytest.raises(UserError, match=asked) as e:
        load_generator_weights(FRNet(nf=4, nb=1), str(path), "FRNet")
    assert "\n" not in str(e.value)
    arch = {"in_nc": 3, "out_nc": 3, "nf": 8, "degradation": "BI", "scale": 4}
    with pytest.raises(
        UserError,
        match=r"does not fit the BI ToyNet generator with nf 8, scale 4: the checkpoint is "
        r"a BI ToyNet generator with nf 4, scale 4; set those in the YAML",
    ):
        check_checkpoint_fits(str(path), "ToyNet", arch)
    with pytest.raises(UserError, match="toy.pth: nb: the ToyNet generator has no such setting"):
        generator_from_checkpoint(path, nb=3)  # as upscale.py --nb passes it
    odd = torch.nn.Conv2d(1, 1, 1).state_dict()
    odd._metadata[""]["generator"] = 7
    with pytest.raises(UserError, match="state dict: its metadata records generator 7; expected a generator's name"):
        generator_from_checkpoint(odd)
    monkeypatch.delitem(GENERATORS, "ToyNet")
    with pytest.raises(
        UserError,
        match=rf"{re.escape(str(path))}: holds a ToyNet generator, which is not in "
        rf"tecogan.networks.GENERATORS \({', '.join(GENERATORS)}\); register its class there",
    ):
        generator_from_checkpoint(path)


@pytest.mark.openvino
def test_the_upscaler_in_fp32_and_the_exports_run_it(toy, tmp_path, monkeypatch):
    net = tiny_toy(toy)
    frames = np.random.default_rng(0).integers(0, 256, (3, 12, 16, 3), dtype=np.uint8)
    upscaler = Upscaler(net, precision="fp32", device="cpu", num_pad_front=0, channels_last=False, report=None)
    assert np.array_equal(np.stack(list(upscaler.upscale_frames(frames))), recurrence(net, frames))
    # OpenVINO: the traced step equals PyTorch's; its cache key follows the generator's source
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    step = OpenVINOStep(net, num_threads=1)
    x = (torch.rand(1, 3, 12, 16), torch.rand(1, 3, 12, 16), torch.rand(1, 3, 48, 64))
    with torch.no_grad():
        expected = net(*x)
    assert float((step(*x) - expected).abs().max()) < 1e-4
    assert any(m.endswith(".xml") for m in os.listdir(tmp_path / "cache"))
    assert model_key(net, "x") != model_key(FRNet(nf=4, nb=1, degradation="BI"), "x")
    # the bf16 copy the OpenVINO bf16 path converts: the default low_precision, the original untouched
    q = low_precision_copy(net, torch.bfloat16)
    with torch.no_grad():
        assert float((q(*x) - expected).abs().max()) < 0.05 and q(*x).dtype == torch.float32
    assert net.body[0].weight.dtype == torch.float32
    # ONNX, through scripts/export_onnx.py, checked against PyTorch with ONNX Runtime
    export_onnx = load_script("scripts/export_onnx.py")
    onnx = export_onnx.export(net, str(tmp_path / "toy.onnx"))
    assert export_onnx.check(net, onnx, sizes=((12, 16), (9, 13))) <= export_onnx.TOLERANCE


def write_experiment(tmp_path, ckpt):
    rng = np.random.default_rng(1)
    for i in range(2):
        lr = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)
        for kind, image in (("LR", lr), ("GT", cv2.resize(lr, (56, 40), interpolation=cv2.INTER_NEAREST))):
            os.makedirs(tmp_path / kind / "seq", exist_ok=True)
            cv2.imwrite(str(tmp_path / kind / "seq" / f"{i + 1:04d}.png"), image)
    exp = tmp_path / "exp"
    exp.mkdir()
    opt = {
        "scale": 4,
        "dataset": {
            "degradation": {"type": "BI"},
            "test1": {"name": "Tiny", "gt_seq_dir": str(tmp_path / "GT"), "lr_seq_dir": str(tmp_path / "LR")},
        },
        "model": {"name": "FRVSR", "generator": {"name": "ToyNet", "nf": 4, "load_path": str(ckpt)}},
        "test": {"save_res": True, "res_dir": str(tmp_path / "results"), "num_pad_front": 1},
    }
    (exp / "test.yml").write_text(yaml.safe_dump(opt))
    return exp


def test_test_mode_runs_it(toy, tmp_path, capsys, monkeypatch):
    net = tiny_toy(toy)
    ckpt = tmp_path / "G_iter1.pth"
    torch.save(net.state_dict(), ckpt)
    exp = write_experiment(tmp_path, ckpt)
    status, out, err = run_inprocess(
        main.cli,
        ["main.py", "--exp_dir", exp, "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"],
        capsys,
        monkeypatch,
    )
    assert status == 0, err
    lr = np.stack([cv2.imread(str(tmp_path / "LR" / "seq" / f"{i + 1:04d}.png"))[..., ::-1] for i in range(2)])
    expected = recurrence(net, np.concatenate([lr[1:2], lr]))[1:]  # one reflected frame in front
    for i in range(2):
        written = cv2.imread(str(tmp_path / "results" / "Tiny" / "G_iter1" / "seq" / f"{i + 1:04d}.png"))[..., ::-1]
        assert np.abs(written.astype(int) - expected[i]).max() <= 1  # channels-last: float32 summation order
    assert "Tiny/seq: 2 frames" in out


def test_the_trainer_trains_it(toy):
    opt = make_opt("frvsr")
    opt["model"]["generator"].update(name="ToyNet", nf=4)
    with pytest.raises(UserError, match="train.warping_crit: model.generator.name ToyNet estimates no flow"):
        build_model(validate_config(copy.deepcopy(opt), "t"), torch.device("cpu"))
    del opt["train"]["warping_crit"]
    torch.manual_seed(0)
    model = build_model(validate_config(opt, "t"), torch.device("cpu"))
    assert type(model.net_G) is toy
    before = model.net_G.body[0].weight.detach().clone()
    log = model.optimize({"lr": torch.rand(1, 3, 3, 8, 8), "gt": torch.rand(1, 3, 3, 32, 32)})
    assert np.isfinite(float(log["l_pix_G"])) and not torch.equal(before, model.net_G.body[0].weight)
    assert recorded_name(model.checkpoints()["G"]) == "ToyNet"  # what test mode loads G_iter*.pth by
    gan = make_opt("tecogan_default")
    gan["model"]["generator"].update(name="ToyNet", nf=4)
    del gan["train"]["warping_crit"]
    with pytest.raises(UserError, match="model.discriminator.name STNet warps frames with the generator's flows"):
        build_model(validate_config(gan, "t"), torch.device("cpu"))
