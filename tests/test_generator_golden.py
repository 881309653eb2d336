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
