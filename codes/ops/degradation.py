"""BD degradation: Gaussian blur then 4x subsampling, as used on the fly in training."""

import cv2
import numpy as np
import torch.nn.functional as F

from tecogan import defaults


def bd_kernel_radius(sigma):
    """The BD blur's radius ``int(3*sigma)``: the kernel is ``1 + 2*radius`` wide, training GT
    crops carry that border, and test data is blurred with the same size (one rule for all)."""
    return int(3.0 * sigma)


def bd_kernel_size(sigma):
    return 1 + 2 * bd_kernel_radius(sigma)


def gaussian_kernel(sigma, size=None):
    """Normalised 2-D Gaussian, side :func:`bd_kernel_size` by default. numpy (k, k) float32."""
    if size is None:
        size = bd_kernel_size(sigma)
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma * sigma))
    return (g / g.sum()).astype(np.float32)


def bd_downsample(gt_with_border, kernel, scale):
    """Blur and subsample each channel with a strided conv, no padding.

    gt_with_border: (n, t, c, H, W) HR frames including a border of int(3*sigma)
    pixels on each side; kernel: (k, k) tensor.  Returns LR (n, t, c, h, w).
    """
    n, t, c, hh, ww = gt_with_border.shape
    k = kernel.shape[-1]
    weight = kernel.to(gt_with_border).reshape(1, 1, k, k).expand(c, 1, k, k)
    lr = F.conv2d(gt_with_border.reshape(n * t, c, hh, ww), weight, stride=scale, groups=c)
    return lr.reshape(n, t, c, lr.shape[-2], lr.shape[-1])


def degrade_bd(img, sigma=defaults.BD_SIGMA, scale=4):
    """BD low-res test data from an (h, w, 3) uint8 frame: ``cv2.GaussianBlur`` with the BD kernel
    size, then every ``scale``-th pixel from the top-left (the reference's test sets)."""
    size = bd_kernel_size(sigma)
    blurred = cv2.GaussianBlur(img, (size, size), sigmaX=sigma)
    return blurred[::scale, ::scale]


def crop_border(frames, border):
    """Drop ``border`` pixels on each side of (..., h, w)."""
    if border == 0:
        return frames
    return frames[..., border:-border, border:-border]
