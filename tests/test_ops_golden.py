"""ops/* and the upsamplers against the reference's own outputs (GOLDEN.md).

Each float op is also run in float64: the comparison allows GOLDEN.md's base tolerance
plus the measured float32 error (tests/golden_check.py).
"""

import numpy as np
import pytest
import torch
from golden_check import assert_golden, golden_close

from tecogan.ops import BicubicUpsample, backward_warp, bicubic_kernels, bilinear_upsample, space_to_depth


def check(op, inputs, expected, name):
    """``op(*inputs)`` in float32 against ``expected``, with the float64 run as the exact value."""
    ours = op(*[torch.from_numpy(np.asarray(x, np.float32)) for x in inputs])
    exact = op(*[torch.from_numpy(np.asarray(x, np.float64)) for x in inputs])
    assert_golden(ours, expected, exact, atol=1e-5, rtol=1e-4, name=name)


def test_space_to_depth(golden):
    check(lambda x: space_to_depth(x, 4), [golden["ops/space_to_depth/in"]], golden["ops/space_to_depth/out"], "space_to_depth")


def test_space_to_depth_channel_order():
    # one 1-channel 4x4 image -> 16 channels ordered (row phase, column phase)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert space_to_depth(x, 4).flatten().tolist() == list(range(16))
    x = torch.arange(2 * 16.0).view(1, 2, 4, 4)
    out = space_to_depth(x, 4).flatten().tolist()
    assert out[:4] == [0, 16, 1, 17]  # channel is the fastest index


def test_backward_warp(golden):
    check(
        backward_warp,
        [golden["ops/space_to_depth/in"], golden["ops/backward_warp/flow"]],
        golden["ops/backward_warp/out"],
        "backward_warp",
    )


WRONG_OPS = {
    # channel order (c, row phase, column phase) instead of tf's (row, column, c)
    "space_to_depth_order": (
        lambda g: torch.nn.functional.pixel_unshuffle(torch.from_numpy(g["ops/space_to_depth/in"]), 4),
        "ops/space_to_depth/out",
    ),
    # the flow's x and y swapped
    "warp_flow_swapped": (
        lambda g: backward_warp(
            torch.from_numpy(g["ops/space_to_depth/in"]), torch.from_numpy(g["ops/backward_warp/flow"]).flip(1)
        ),
        "ops/backward_warp/out",
    ),
    # the flow's sign flipped (forward instead of backward warping)
    "warp_flow_sign": (
        lambda g: backward_warp(torch.from_numpy(g["ops/space_to_depth/in"]), -torch.from_numpy(g["ops/backward_warp/flow"])),
        "ops/backward_warp/out",
    ),
    # MATLAB's a = -0.5 instead of TensorFlow's a = -0.75
    "bicubic_a": (lambda g: BicubicUpsample(4, a=-0.5)(torch.from_numpy(g["BD/upsample/in"])), "BD/upsample/out"),
    # bilinear with align_corners=True
    "bilinear_corners": (
        lambda g: torch.nn.functional.interpolate(
            torch.from_numpy(g["BI/upsample/in"]), scale_factor=4, mode="bilinear", align_corners=True
        ),
        "BI/upsample/out",
    ),
}


@pytest.mark.parametrize("variant", sorted(WRONG_OPS))
def test_wrong_op_variants_fail(golden, variant):
    op, key = WRONG_OPS[variant]
    assert not golden_close(op(golden), golden[key], 1e-5, 1e-4, 0.0)


def test_backward_warp_zero_flow_is_identity():
    x = torch.rand(1, 3, 9, 11)
    torch.testing.assert_close(backward_warp(x, torch.zeros(1, 2, 9, 11)), x, atol=1e-6, rtol=0)


def test_backward_warp_integer_shift():
    x = torch.rand(1, 1, 6, 8)
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0] = 1.0  # sample one pixel to the right
    out = backward_warp(x, flow)
    torch.testing.assert_close(out[..., :-1], x[..., 1:], atol=1e-5, rtol=0)


def test_bd_upsample(golden):
    check(BicubicUpsample(4).double(), [golden["BD/upsample/in"]], golden["BD/upsample/out"], "BD/upsample")


def test_bd_kernels_shape_and_partition_of_unity():
    k = bicubic_kernels(4)
    assert k.shape == (4, 4)
    torch.testing.assert_close(k.sum(1), torch.ones(4))
    assert k[0].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_bi_upsample(golden):
    check(lambda x: bilinear_upsample(x, 4), [golden["BI/upsample/in"]], golden["BI/upsample/out"], "BI/upsample")


def test_bd_degradation(golden):
    from tecogan.ops import bd_downsample, gaussian_kernel
    from tecogan.ops.degradation import crop_border

    kernel = gaussian_kernel(1.5)
    # the reference's kernel is a (3, 3, 9, 9) per-channel (diagonal) weight
    ref = golden["bd/kernel"]
    for c in range(3):
        assert_golden(kernel, ref[c, c], name="bd/kernel")
        assert not ref[c, (c + 1) % 3].any()
    check(lambda x, k: bd_downsample(x, k, 4), [golden["bd/gt_with_border"], kernel], golden["bd/lr"], "bd/lr")
    gt = torch.from_numpy(golden["bd/gt_with_border"])
    assert_golden(crop_border(gt, 4), golden["bd/gt"], name="bd/gt")
