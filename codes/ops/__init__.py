"""Pure tensor operations: warping, space-to-depth, upsampling, degradations."""

from tecogan.ops.degradation import bd_downsample, gaussian_kernel
from tecogan.ops.upsample import BicubicUpsample, bicubic_kernels, bilinear_upsample, make_upsampler
from tecogan.ops.warp import backward_warp, space_to_depth

__all__ = [
    "backward_warp",
    "space_to_depth",
    "BicubicUpsample",
    "bilinear_upsample",
    "bicubic_kernels",
    "make_upsampler",
    "gaussian_kernel",
    "bd_downsample",
]
