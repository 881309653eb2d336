"""How YUV video and RGB frames are converted into each other (swscale flags through PyAV), for
the video reader and writer, the Real degradation and the compressed evaluation sets alike."""

import av
import numpy as np
from av.video.reformatter import Interpolation

# swscale's colour conversions, rounded: its default YUV -> RGB path truncates (a flat Y=100 gave
# RGB 97 for 97.8), about one grey level darker per pass; full-chroma interpolation with accurate
# rounding has no bias (a round trip of a footage frame: 52.1 dB against the source RGB, 45.1
# before). Bicubic, not bilinear: bilinear full chroma gave 10-bit video 16-bit RGB with green near 0
TO_RGB = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
FROM_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND


def rgb_to_bt601(rgb, pix_fmt):
    """An (h, w, 3) uint8 RGB array as a BT.601 limited-range frame of ``pix_fmt``, for the synthetic
    codec round trips (the Real degradation, the compressed evaluation sets). Every setting is
    stated: PyAV reuses conversion contexts whose unstated settings follow an earlier frame."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(
        format=pix_fmt, src_colorspace="ITU601", dst_colorspace="ITU601", dst_color_range="MPEG", interpolation=FROM_RGB
    )


def bt601_to_rgb(frame):
    """A decoded BT.601 limited-range frame as (h, w, 3) uint8 RGB (the inverse of :func:`rgb_to_bt601`)."""
    return frame.reformat(
        format="rgb24",
        src_colorspace="ITU601",
        dst_colorspace="ITU601",
        src_color_range="MPEG",
        dst_color_range="JPEG",
        interpolation=TO_RGB,
    ).to_ndarray()
