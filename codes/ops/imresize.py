"""MATLAB's ``imresize(img, scale, 'bicubic')`` in NumPy, for BI low-res data without MATLAB.

Same kernel (cubic convolution, a = -0.5), antialiasing when shrinking (the kernel is
stretched by 1/scale), the same contribution indices, symmetric boundary handling and
the dimension order (rows first when both scales are equal).  For uint8 input every pass
is rounded and saturated to uint8, as MATLAB returns the input's class from each pass.
"""

import math

import numpy as np

from tecogan.errors import UserError


def cubic(x):
    """MATLAB's bicubic kernel (a = -0.5)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def contributions(in_len, out_len, scale, kernel_width=4.0, antialias=True):
    """(weights (out_len, P), indices (out_len, P)) of each output sample, 0-based indices."""
    if scale < 1 and antialias:
        kernel = lambda x: scale * cubic(scale * x)  # noqa: E731
        width = kernel_width / scale
    else:
        kernel, width = cubic, kernel_width
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # symmetric padding: ... 2 1 | 1 2 ... n | n n-1 ...
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _resize_dim(img, dim, out_len, scale, round_uint8):
    weights, indices = contributions(img.shape[dim], out_len, scale)
    moved = np.moveaxis(img.astype(np.float64), dim, 0)
    out = np.einsum("op,op...->o...", weights, moved[indices])
    out = np.moveaxis(out, 0, dim)
    if round_uint8:
        # MATLAB rounds halves away from zero (np.round would round them to even)
        out = np.clip(np.floor(out + 0.5), 0, 255)
    return out


def imresize(img, scale):
    """Resize an (h, w[, c]) image by ``scale`` like MATLAB's bicubic imresize.

    uint8 in -> uint8 out; float in -> float64 out.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise UserError(f"imresize: expected an (h, w) or (h, w, c) image, got shape {img.shape}")
    if not scale > 0:
        raise UserError(f"imresize: scale must be > 0, got {scale}")
    if img.dtype != np.uint8 and not np.issubdtype(img.dtype, np.floating):
        raise UserError(f"imresize: expected uint8 or float pixels, got {img.dtype}")
    is_uint8 = img.dtype == np.uint8
    h, w = img.shape[:2]
    out_h, out_w = int(math.ceil(h * scale)), int(math.ceil(w * scale))
    out = img
    for dim, out_len in ((0, out_h), (1, out_w)):  # one scale for both: MATLAB does rows first
        out = _resize_dim(out, dim, out_len, scale, is_uint8)
    return out.astype(np.uint8) if is_uint8 else out
