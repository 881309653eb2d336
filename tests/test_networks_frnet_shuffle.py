"""FRNetShuffle (networks/frnet_shuffle.py): FRNet with a pixel-shuffle head, the fast model's generator."""

import numpy as np
import pytest
import torch

from tecogan.inference.backends import OpenVINOStep
from tecogan.inference.precision import low_precision_copy
from tecogan.networks import GENERATORS, generator_from_checkpoint, recorded_name
from tecogan.networks.frnet import FRNet
from tecogan.networks.frnet_shuffle import FRNetShuffle
from tecogan.utils.errors import UserError


def tiny(**arch):
    torch.manual_seed(0)
    return FRNetShuffle(**{"nf": 8, "nb": 2, "fnet_nf": 4, **arch}).eval()


@pytest.mark.parametrize("degradation,scale", [("BI", 4), ("BD", 4), ("BI", 2)])
def test_arch_reads_back_and_loads_strictly_as_its_class(tmp_path, degradation, scale):
    net = tiny(degradation=degradation, scale=scale)
    state = net.state_dict()
    assert GENERATORS["FRNetShuffle"] is FRNetShuffle and recorded_name(state) == "FRNetShuffle"
    arch = FRNetShuffle.arch_from_state_dict(state)
    assert (
        arch
        == net.arch()
        == {"in_nc": 3, "out_nc": 3, "nf": 8, "nb": 2, "degradation": degradation, "scale": scale, "fnet_nf": 4}
    )
    # FNet and the residual blocks keep FRNet's names; the head is one low-resolution convolution
    assert [k for k in state if k.startswith("srnet.conv")] == [
        "srnet.conv_in.0.weight",
        "srnet.conv_in.0.bias",
        "srnet.conv_out.0.weight",
        "srnet.conv_out.0.bias",
    ]
    assert state["srnet.conv_out.0.weight"].shape == (3 * scale * scale, 8, 3, 3)
    path = tmp_path / "g.pth"
    torch.save(state, path)
    loaded = generator_from_checkpoint(str(path))  # strict, the class from the recorded name
    assert type(loaded) is FRNetShuffle and loaded.arch() == arch
    x = (torch.rand(1, 3, 12, 20), torch.rand(1, 3, 12, 20), torch.rand(1, 3, 12 * scale, 20 * scale))
    with torch.no_grad():
        assert torch.equal(loaded(*x), net(*x)) and net(*x).shape == x[2].shape


def test_the_head_is_a_pixel_shuffle_of_one_low_resolution_convolution():
    """The residual at output pixel (s*y+i, s*x+j), channel c is conv_out's channel c*s*s + i*s + j at (y, x)."""
    net = tiny()
    lr, hr_prev_s2d = torch.rand(1, 3, 8, 10), torch.rand(1, 48, 8, 10)
    with torch.no_grad():
        features = net.srnet.resblocks(net.srnet.conv_in(torch.cat([lr, hr_prev_s2d], 1)))
        low = net.srnet.conv_out[0](features)  # (1, 48, 8, 10)
        residual = net.srnet(lr, hr_prev_s2d) - net.upsample_func(lr)  # (1, 3, 32, 40)
    assert torch.allclose(residual[0, 2, 4 * 5 + 1, 4 * 7 + 3], low[0, 2 * 16 + 1 * 4 + 3, 5, 7], atol=1e-5)


def test_other_tensors_are_one_line():
    state = tiny().state_dict()
    frnet = FRNet(nf=8, nb=1, degradation="BI").state_dict()
    with pytest.raises(UserError, match=r"^x\.pth: not an FRNetShuffle generator checkpoint \(no srnet\.conv_out\.0"):
        FRNetShuffle.arch_from_state_dict(frnet, "x.pth")
    bad = dict(state)
    bad["srnet.conv_out.0.weight"] = torch.zeros(47, 8, 3, 3)
    with pytest.raises(UserError, match="srnet.conv_out.0 gives 47: not an FRNetShuffle of scale 2 or 4"):
        FRNetShuffle.arch_from_state_dict(bad, "x.pth")
    bad["srnet.conv_out.0.weight"] = torch.zeros(48)
    with pytest.raises(UserError, match=r"srnet.conv_out.0.weight has shape \(48,\); expected a 4-D"):
        FRNetShuffle.arch_from_state_dict(bad, "x.pth")
    section = {"in_nc": 3, "out_nc": 3, "nf": 8, "nb": 2, "fnet_nf": 4, "hr_nf": 4}
    with pytest.raises(UserError, match="^model.generator.hr_nf: FRNetShuffle has no layer at the output resolution"):
        FRNetShuffle.arch_from_config(section, "BI", 4)
    assert FRNetShuffle.arch_from_config(dict(section, hr_nf=None), "BI", 4)["nf"] == 8


def test_bf16_trunk_keeps_the_step():
    net = tiny()
    x = (torch.rand(1, 3, 12, 16), torch.rand(1, 3, 12, 16), torch.rand(1, 3, 48, 64))
    q = low_precision_copy(net, torch.bfloat16)
    with torch.no_grad():
        expected, got = net(*x), q(*x)
    assert got.dtype == torch.float32 and float((got - expected).abs().max()) < 0.05
    assert net.srnet.conv_out[0].weight.dtype == torch.float32  # the original untouched


@pytest.mark.openvino
def test_openvino_step_equals_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    net = tiny()
    step = OpenVINOStep(net, num_threads=1)
    rng = np.random.default_rng(0)
    x = tuple(torch.from_numpy(rng.random(s, dtype=np.float32)) for s in ((1, 3, 12, 16), (1, 3, 12, 16), (1, 3, 48, 64)))
    with torch.no_grad():
        assert float((step(*x) - net(*x)).abs().max()) < 1e-4
