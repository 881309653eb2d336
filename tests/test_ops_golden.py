"""ops/* and the upsamplers against the reference's own outputs (GOLDEN.md)."""
import numpy as np
import torch

from ops import backward_warp, bilinear_upsample, BicubicUpsample, space_to_depth, bicubic_kernels

ATOL = 1e-5


def close(a, b):
    np.testing.assert_allclose(a, b, atol=ATOL, rtol=1e-4)


def test_space_to_depth(golden):
    out = space_to_depth(torch.from_numpy(golden["ops/space_to_depth/in"]), 4)
    close(out.numpy(), golden["ops/space_to_depth/out"])


def test_space_to_depth_channel_order():
    # one 1-channel 4x4 image -> 16 channels ordered (row phase, column phase)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert space_to_depth(x, 4).flatten().tolist() == list(range(16))
    x = torch.arange(2 * 16.0).view(1, 2, 4, 4)
    out = space_to_depth(x, 4).flatten().tolist()
    assert out[:4] == [0, 16, 1, 17]  # channel is the fastest index


def test_backward_warp(golden):
    out = backward_warp(torch.from_numpy(golden["ops/space_to_depth/in"]),
                        torch.from_numpy(golden["ops/backward_warp/flow"]))
    close(out.numpy(), golden["ops/backward_warp/out"])


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
    out = BicubicUpsample(4)(torch.from_numpy(golden["BD/upsample/in"]))
    close(out.numpy(), golden["BD/upsample/out"])


def test_bd_kernels_shape_and_partition_of_unity():
    k = bicubic_kernels(4)
    assert k.shape == (4, 4)
    torch.testing.assert_close(k.sum(1), torch.ones(4))
    assert k[0].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_bi_upsample(golden):
    out = bilinear_upsample(torch.from_numpy(golden["BI/upsample/in"]), 4)
    close(out.numpy(), golden["BI/upsample/out"])


def test_bd_degradation(golden):
    from ops import bd_downsample, gaussian_kernel
    from ops.degradation import crop_border
    kernel = gaussian_kernel(1.5)
    # the reference's kernel is a (3, 3, 9, 9) per-channel (diagonal) weight
    ref = golden["bd/kernel"]
    for c in range(3):
        close(ref[c, c], kernel)
    gt = torch.from_numpy(golden["bd/gt_with_border"])
    lr = bd_downsample(gt, torch.from_numpy(kernel), 4)
    close(lr.numpy(), golden["bd/lr"])
    close(crop_border(gt, 4).numpy(), golden["bd/gt"])
