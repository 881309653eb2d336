"""Flow warping and the TensorFlow-style space-to-depth used by FRVSR/TecoGAN."""

import torch
import torch.nn.functional as F


def space_to_depth(x, scale):
    """Equivalent of ``tf.space_to_depth``.

    (n, c, s*h, s*w) -> (n, s*s*c, h, w), channel order (row phase, column phase, c).
    """
    n, c, sh, sw = x.shape
    h, w = sh // scale, sw // scale
    x = x.reshape(n, c, h, scale, w, scale)
    x = x.permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, scale * scale * c, h, w)


def _base_grid(n, h, w, dtype, device):
    xs = torch.linspace(-1.0, 1.0, w, dtype=dtype, device=device).view(1, 1, w).expand(n, h, w)
    ys = torch.linspace(-1.0, 1.0, h, dtype=dtype, device=device).view(1, h, 1).expand(n, h, w)
    return xs, ys


def backward_warp(x, flow):
    """Sample ``x`` at ``position + flow`` (bilinear, border padding).

    x: (n, c, h, w); flow: (n, 2, h, w) in pixels, channel 0 horizontal, 1 vertical.
    Returns (n, c, h, w).
    """
    n, _, h, w = x.shape
    xs, ys = _base_grid(n, h, w, flow.dtype, flow.device)
    gx = xs + flow[:, 0] / ((w - 1.0) / 2.0)
    gy = ys + flow[:, 1] / ((h - 1.0) / 2.0)
    grid = torch.stack([gx, gy], dim=3)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=True)
