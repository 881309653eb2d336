"""How YUV video and RGB frames are converted into each other (swscale flags through PyAV), for
the video reader and writer, the Real degradation and the compressed evaluation sets alike."""

from av.video.reformatter import Interpolation

# swscale's colour conversions, rounded: its default YUV -> RGB path truncates (a flat Y=100 gave
# RGB 97 for 97.8), about one grey level darker per pass; full-chroma interpolation with accurate
# rounding has no bias (a round trip of a footage frame: 52.1 dB against the source RGB, 45.1
# before). Bicubic, not bilinear: bilinear full chroma gave 10-bit video 16-bit RGB with green near 0
TO_RGB = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
FROM_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND
