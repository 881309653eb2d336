"""FRNet against the reference (GOLDEN.md): names, sizes, sequence pass, inference.

Float comparisons follow tests/golden_check.py: GOLDEN.md's base tolerance plus the float32
error of the same pass measured against float64.
"""

import numpy as np
import pytest
import torch
from golden_check import assert_golden, golden_close, uint8_close
from golden_weights import apply_rule

from tecogan.inference.steppers import front_padding_indices, infer_sequence
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError


@pytest.mark.parametrize("degradation, entries", [("BD", 78), ("BI", 76)])
def test_state_dict_layout(degradation, entries):
    net = FRNet(nf=64, nb=10, degradation=degradation)
    sd = net.state_dict()
    assert len(sd) == entries
    assert sum(p.numel() for p in net.parameters()) == 2_589_093
    for name in (
        "fnet.encoder1.0.weight",
        "fnet.decoder3.2.bias",
        "fnet.flow.2.weight",
        "srnet.conv_in.0.weight",
        "srnet.resblocks.9.conv.2.weight",
        "srnet.conv_up.2.weight",
        "srnet.conv_out.weight",
    ):
        assert name in sd
    if degradation == "BD":
        assert sd["upsample_func.kernels"].shape == (4, 4)
        assert "srnet.upsample_func.kernels" in sd


def test_published_style_checkpoint_loads_strict(tmp_path):
    from tecogan.networks import load_generator_weights

    src = FRNet(nf=64, nb=10, degradation="BD")
    path = tmp_path / "TecoGAN_BD_iter500000.pth"
    torch.save(src.state_dict(), path)
    dst = load_generator_weights(FRNet(nf=64, nb=10, degradation="BD"), str(path))
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)
    assert FRNet.arch_from_state_dict(src.state_dict()) == {
        "nf": 64,
        "nb": 10,
        "degradation": "BD",
        "scale": 4,
        "in_nc": 3,
        "out_nc": 3,
    }


@pytest.mark.parametrize("scale", [2, 4])
def test_fewer_channels_at_the_output_resolution_read_back_from_the_tensors(tmp_path, scale):
    from tecogan.experiment import validate_config
    from tecogan.networks import check_checkpoint_fits, generator_arch_from_config, generator_from_checkpoint, own_settings

    net = FRNet(nf=8, nb=2, degradation="BI", scale=scale, fnet_nf=4, hr_nf=3)
    sd = net.state_dict()
    last = "srnet.conv_up.2" if scale == 4 else "srnet.conv_up.0"
    assert sd[f"{last}.weight"].shape == (8, 3, 3, 3) and sd["srnet.conv_out.weight"].shape == (3, 3, 3, 3)
    if scale == 4:  # the 2x layer keeps nf
        assert sd["srnet.conv_up.0.weight"].shape == (8, 8, 3, 3)
    arch = {"in_nc": 3, "out_nc": 3, "nf": 8, "nb": 2, "degradation": "BI", "scale": scale, "fnet_nf": 4, "hr_nf": 3}
    assert net.arch() == FRNet.arch_from_state_dict(sd) == arch
    path = tmp_path / "G.pth"
    torch.save(sd, path)
    loaded = generator_from_checkpoint(path)  # strict
    lr = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.eval().forward_sequence(lr)["hr_data"], net.eval().forward_sequence(lr)["hr_data"])
    # hr_nf equal to nf is the reference's network: no new key, published architectures read back as before
    assert "hr_nf" not in FRNet(nf=8, nb=2, hr_nf=8).arch()
    # the YAML key, and a checkpoint of another hr_nf named with the key that sets it
    opt = validate_config(
        {
            "scale": scale,
            "dataset": {"degradation": {"type": "BI"}},
            "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 2, "fnet_nf": 4, "hr_nf": 3}},
        },
        "t.yml",
    )
    assert generator_arch_from_config(opt) == ("FRNet", arch)
    check_checkpoint_fits(str(path), "FRNet", arch)
    assert own_settings(arch) == "nf 8, nb 2, fnet_nf 4, hr_nf 3"  # as profile mode and upscale.py say it
    with pytest.raises(UserError, match=r"checkpoint is a BI generator with nf 8, nb 2, fnet_nf 4, hr_nf 3, .*hr_nf"):
        check_checkpoint_fits(str(path), "FRNet", dict(arch, hr_nf=5))
    # a head whose two halves disagree, a grey-frame FRNet and hr_nf 0 are one line each
    bad = dict(sd, **{"srnet.conv_out.weight": sd["srnet.conv_out.weight"][:, :2]})
    with pytest.raises(UserError, match=rf"x\.pth: {last}\.weight gives 3 channels but srnet\.conv_out\.weight takes 2"):
        FRNet.arch_from_state_dict(bad, "x.pth")
    grey = FRNet(in_nc=1, out_nc=1, nf=8, nb=1, degradation="BI", scale=scale).state_dict()
    with pytest.raises(UserError, match=r"x\.pth: fnet\.encoder1\.0\.weight takes 2 channels; expected 6"):
        FRNet.arch_from_state_dict(grey, "x.pth")
    with pytest.raises(UserError, match="FRNet: hr_nf 0: expected an integer >= 1"):
        FRNet(nf=8, nb=1, hr_nf=0)


def _sequence_pass(golden, degradation, frame_order=None):
    """(float32 outputs, float64 outputs) of the training-time pass on the fixture's clip."""
    lr = torch.from_numpy(golden[f"{degradation}/fwdseq/lr"])
    if frame_order is not None:
        lr = lr[:, frame_order]
    net = apply_rule(FRNet(nf=16, nb=2, degradation=degradation))
    exact = apply_rule(FRNet(nf=16, nb=2, degradation=degradation)).double()
    with torch.no_grad():
        return net.forward_sequence(lr), exact.forward_sequence(lr.double())


@pytest.mark.parametrize("degradation", ["BD", "BI"])
def test_forward_sequence(golden, degradation):
    out, out64 = _sequence_pass(golden, degradation)
    for key in ("hr_data", "hr_flow", "lr_flow"):
        assert_golden(
            out[key], golden[f"{degradation}/fwdseq/{key}"], out64[key], atol=1e-5, rtol=1e-4, name=f"{degradation}/fwdseq/{key}"
        )
    n, t = golden[f"{degradation}/fwdseq/lr"].shape[:2]
    assert out["lr_curr"].shape[0] == n * (t - 1)


def test_forward_sequence_swapped_frame_fails(golden):
    """Negative: two frames exchanged make the sequence pass miss the fixture."""
    t = golden["BD/fwdseq/lr"].shape[1]
    order = list(range(t))
    order[1], order[2] = order[2], order[1]
    out, _ = _sequence_pass(golden, "BD", order)
    assert not golden_close(out["hr_data"], golden["BD/fwdseq/hr_data"], 1e-5, 1e-4, 0.0)


@pytest.mark.parametrize("degradation", ["BD", "BI"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_uint8(golden, degradation, channels_last):
    net = apply_rule(FRNet(nf=16, nb=2, degradation=degradation))
    lr = golden[f"{degradation}/infer/lr_uint8_thwc"]
    out = np.stack(list(infer_sequence(net, lr, num_pad_front=5, padding_mode="reflect", channels_last=channels_last)))
    uint8_close(out, golden[f"{degradation}/infer/hr_uint8_thwc"])


def test_inference_wrong_padding_fails(golden):
    """Negative: replicate instead of reflect front padding changes the output frames."""
    net = apply_rule(FRNet(nf=16, nb=2, degradation="BD"))
    lr = golden["BD/infer/lr_uint8_thwc"]
    out = np.stack(list(infer_sequence(net, lr, num_pad_front=5, padding_mode="replicate")))
    with pytest.raises(AssertionError):
        uint8_close(out, golden["BD/infer/hr_uint8_thwc"])


@pytest.mark.parametrize("h, w", [(9, 13), (17, 8), (31, 45)])
def test_any_lr_size(h, w):
    net = FRNet(nf=8, nb=1, degradation="BD")
    lr = np.random.default_rng(0).integers(0, 256, (3, h, w, 3), dtype=np.uint8)
    out = list(infer_sequence(net, lr, num_pad_front=2))
    assert len(out) == 3 and out[0].shape == (4 * h, 4 * w, 3) and out[0].dtype == np.uint8


def test_front_padding():
    assert front_padding_indices(10, 5, "reflect") == [5, 4, 3, 2, 1]
    assert front_padding_indices(10, 3, "replicate") == [0, 0, 0]
    assert front_padding_indices(3, 5, "reflect") == [1, 0, 1, 2, 1]
    assert front_padding_indices(10, 0) == []
