"""Pure tensor operations: warping, space-to-depth, upsampling, degradations."""
from tecogan.ops.warp import backward_warp, space_to_depth
from tecogan.ops.upsample import BicubicUpsample, bilinear_upsample, bicubic_kernels, make_upsampler
from tecogan.ops.degradation import gaussian_kernel, bd_downsample

__all__ = ["backward_warp", "space_to_depth", "BicubicUpsample", "bilinear_upsample",
           "bicubic_kernels", "make_upsampler", "gaussian_kernel", "bd_downsample"]
