"""The two upsamplers of the generator: TF-style bicubic (BD) and bilinear (BI)."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from tecogan.errors import UserError


def bicubic_kernels(scale, a=-0.75):
    """4-tap cubic-convolution weights for each output phase d/scale, d = 0..scale-1.

    Returns a (scale, 4) float32 tensor; row d weights input taps at offsets -1, 0, 1, 2.
    """
    # rows: taps -1, 0, 1, 2; columns: coefficients of 1, t, t^2, t^3
    coeffs = torch.tensor(
        [
            [0.0, a, -2.0 * a, a],
            [1.0, 0.0, -(a + 3.0), a + 2.0],
            [0.0, -a, 2.0 * a + 3.0, -(a + 2.0)],
            [0.0, 0.0, a, -a],
        ],
        dtype=torch.float32,
    )
    rows = []
    for d in range(scale):
        t = d / scale
        powers = torch.tensor([1.0, t, t * t, t * t * t], dtype=torch.float32)
        rows.append(coeffs @ powers)
    return torch.stack(rows)


class BicubicUpsample(nn.Module):
    """Separable bicubic upsampling matching TecoGAN-TensorFlow (a = -0.75).

    The kernels are a registered buffer (``kernels``, shape (scale, 4)) because the
    published checkpoints store them.  (n, c, h, w) -> (n, c, s*h, s*w).
    """

    def __init__(self, scale, a=-0.75):
        super().__init__()
        self.scale = scale
        self.register_buffer("kernels", bicubic_kernels(scale, a))

    def forward(self, x):
        n, c, h, w = x.shape
        s = self.scale
        # channels folded into the batch: the kernels do not depend on c, so the graph
        # traces (OpenVINO backend) for any input size
        x = F.pad(x, (1, 2, 1, 2), mode="replicate").reshape(n * c, 1, h + 3, w + 3)
        k = self.kernels.to(x.dtype)
        y = F.conv2d(x, k.view(s, 1, 4, 1))  # height: one output channel per phase (n*c, s, h, w+3)
        y = y.transpose(1, 2).reshape(n * c, 1, h * s, w + 3)
        y = F.conv2d(y, k.view(s, 1, 1, 4))  # width (n*c, s, s*h, w)
        return y.permute(0, 2, 3, 1).reshape(n, c, h * s, w * s)


def bd_bicubic_frame(frame, scale):
    """(h, w, 3) uint8 -> (s*h, s*w, 3) uint8 with the BD bicubic upsampler: sample-aligned,
    LR pixel (i, j) stays on HR pixel (s*i, s*j) as in BD data and BD generators' outputs
    (a centre-aligned resize sits (s-1)/2 px down-right of them: 1.5 px at 4x)."""
    peak = 65535.0 if frame.dtype == np.uint16 else 255.0  # uint16 frames (more than 8 bits) keep their type
    x = torch.from_numpy(np.ascontiguousarray(frame).astype(np.float32)).permute(2, 0, 1)[None] / peak
    with torch.inference_mode():
        y = BicubicUpsample(scale)(x).clamp_(0, 1)
    return (y[0].permute(1, 2, 0) * peak).round_().numpy().astype(frame.dtype)


def bilinear_upsample(x, scale):
    """BI upsampling: ``F.interpolate`` bilinear, align_corners=False."""
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


class BilinearUpsample:
    """Callable (not a module, so it adds no state-dict entries) for BI."""

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, x):
        return bilinear_upsample(x, self.scale)


def make_upsampler(degradation, scale):
    """``BicubicUpsample`` for 'BD', a bilinear callable for 'BI'."""
    if degradation == "BD":
        return BicubicUpsample(scale)
    if degradation == "BI":
        return BilinearUpsample(scale)
    raise UserError(f"unknown degradation {degradation!r} (expected BD or BI)")
