"""Frame-level building blocks shared by the validation and the official metrics.

Frames are uint8 RGB arrays of shape (h, w, 3) unless stated otherwise.
"""

import cv2
import numpy as np

from tecogan.errors import UserError

# BT.601 luma with the [16, 235] offset, as in DUF's ``rgb_to_ycbcr`` (inputs in [0, 255]).
_Y_COEFFS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_Y_OFFSET = 16.0

# cv2.calcOpticalFlowFarneback(prev, next, None, pyr_scale, levels, winsize, iterations,
#                              poly_n, poly_sigma, flags) as used by TecoGAN's tOF.
FARNEBACK_ARGS = (0.5, 3, 15, 3, 5, 1.2, 0)


def rgb_to_y(img):
    """Float64 luma Y in [16, 235] of an RGB image with values in [0, 255] (no rounding)."""
    img = np.asarray(img)
    if img.ndim < 3 or img.shape[-1] != 3:
        raise UserError(f"rgb_to_y: expected (..., 3) RGB, got shape {img.shape}")
    img = img.astype(np.float64, copy=False)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return _Y_OFFSET + _Y_COEFFS[0] * r + _Y_COEFFS[1] * g + _Y_COEFFS[2] * b


def rgb_to_y_uint8(img):
    """Luma Y rounded to the nearest integer and stored as uint8."""
    return np.clip(np.round(rgb_to_y(img)), 0, 255).astype(np.uint8)


def psnr(a, b, data_range=255.0):
    """PSNR in dB from the mean squared error over all elements.

    Identical inputs (MSE 0) give ``inf``, as the official TecoGAN code does
    (``20 * log10(255 / 0)``); no warning is emitted.
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range * data_range / mse))


def to_gray(img):
    """uint8 grey frame (OpenCV's RGB->GRAY weights) of a uint8 RGB frame."""
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)


def farneback_flow(prev_gray, curr_gray):
    """Dense Farneback optical flow prev -> curr, float32 (h, w, 2), TecoGAN's parameters."""
    return cv2.calcOpticalFlowFarneback(np.ascontiguousarray(prev_gray), np.ascontiguousarray(curr_gray), None, *FARNEBACK_ARGS)


def mean_epe(flow_a, flow_b):
    """Mean end-point error (Euclidean distance per pixel) between two flow fields, float32."""
    d = np.asarray(flow_a, dtype=np.float32) - np.asarray(flow_b, dtype=np.float32)
    return float(np.mean(np.sqrt(np.sum(d * d, axis=-1))))


def tof_frame_pair(gt_prev_gray, gt_gray, sr_prev_gray, sr_gray, crop=None):
    """tOF of one frame: mean end-point error between the Farneback flows (previous -> current
    grey frame) of GT and of SR; ``crop(flow)`` cuts both flows first (the official procedure
    uses crop_8x8, validation none).  The one definition of tOF in the project."""
    flow_gt = farneback_flow(gt_prev_gray, gt_gray)
    flow_sr = farneback_flow(sr_prev_gray, sr_gray)
    if crop is not None:
        flow_gt, flow_sr = crop(flow_gt), crop(flow_sr)
    return mean_epe(flow_gt, flow_sr)
