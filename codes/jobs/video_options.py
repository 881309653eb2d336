"""The files' side of a job: :class:`VideoOptions` (timing window, encoder, audio, the comparison
video, the final size, overwriting) with their checks, and the final frame size they ask for
(:func:`output_size`, :func:`resize_frame`).  :mod:`tecogan.jobs.video_job` runs a job with them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2

from tecogan import defaults
from tecogan.config.limits import check_number
from tecogan.errors import OptionError
from tecogan.jobs.scene_cuts import SCENE_CUTS
from tecogan.utils.errors import UserError

MAX_FPS = defaults.MAX_FPS
MAX_SECONDS = defaults.MAX_SECONDS  # --start / --duration: about 115 days
MAX_OUTSCALE = 16
MAX_SIDE = defaults.MAX_OUTPUT_SIDE  # output frames: 16K a side
SCENE_CUTS_DEFAULT = defaults.SCENE_CUTS_DEFAULT  # docs/upscale.md, "Scene cuts": the measurement behind it


@dataclass(frozen=True)
class VideoOptions:
    """The files' side of a job.

    ``fps``: frame rate of a folder of frames (default 25), or re-timing of a video;
    ``start``/``duration``: a window in seconds; ``codec``/``crf``/``preset``/``pix_fmt``: the
    output video's encoder (defaults per codec, see ``upscale.py --help``); ``audio``: keep the
    input's audio and subtitles; ``compare``: also write a side-by-side (bicubic | super-resolved)
    video there; ``overwrite``: replace existing outputs (only on success); ``deinterlace``: run
    interlaced video through FFmpeg's bwdif first (interlaced input without it: a warning).
    """

    fps: float | None = None
    start: float | None = None
    duration: float | None = None
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    audio: bool = True
    compare: str | None = None
    overwrite: bool = False
    outscale: float | None = None
    target_height: int | None = None
    target_width: int | None = None
    quiet: bool = False
    deinterlace: bool = False
    scene_cuts: str = SCENE_CUTS_DEFAULT

    def __post_init__(self):
        if self.scene_cuts not in SCENE_CUTS:
            raise OptionError(f"scene_cuts {self.scene_cuts!r}: expected one of {', '.join(SCENE_CUTS)}")
        for name in ("audio", "overwrite", "quiet", "deinterlace"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(f"{name} {getattr(self, name)!r}: expected True or False")
        for name in ("codec", "preset", "pix_fmt", "compare"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                if name == "compare" and hasattr(value, "__fspath__"):
                    object.__setattr__(self, name, value.__fspath__())
                    continue
                raise OptionError(f"{name} {value!r}: expected a string")
        for name in ("crf", "target_height", "target_width"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise OptionError(f"{name} {value!r}: expected an integer")
        for name in ("fps", "start", "duration", "outscale"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise OptionError(f"{name} {value!r}: expected a number")
        try:
            check_number("fps", self.fps, minimum=0, maximum=MAX_FPS, strict_minimum=True)
            check_number("start", self.start, minimum=0, maximum=MAX_SECONDS)
            check_number("duration", self.duration, minimum=0, maximum=MAX_SECONDS, strict_minimum=True)
            check_number("outscale", self.outscale, minimum=0, maximum=MAX_OUTSCALE, strict_minimum=True)
            check_number("target_height", self.target_height, minimum=2, maximum=MAX_SIDE, integer=True)
            check_number("target_width", self.target_width, minimum=2, maximum=MAX_SIDE, integer=True)
        except UserError as err:
            raise OptionError(str(err)) from None
        sizes = [n for n in ("outscale", "target_height", "target_width") if getattr(self, n) is not None]
        if len(sizes) > 1:
            raise OptionError(
                f"{' and '.join(sizes)}: give one of outscale, target_height, target_width "
                "(the other side follows the aspect ratio)"
            )

    @classmethod
    def from_keywords(cls, values):
        """From the API's keywords (``Upscaler.upscale_video(src, dst, codec="h265", ...)``);
        ``no_audio=True`` is ``audio=False``.  An unknown keyword is a TypeError naming it."""
        values = dict(values)
        if "no_audio" in values:
            values["audio"] = not values.pop("no_audio")
        names = {f.name for f in dataclasses.fields(cls)}
        for name in values:
            if name not in names:
                raise TypeError(
                    f"upscale_video: unknown or fixed option {name!r} (video options: "
                    f"{', '.join(sorted(names))}; set device, tile, precision ... on the Upscaler)"
                )
        return cls(**values)

    def encoding(self):
        return dict(codec=self.codec, crf=self.crf, preset=self.preset, pix_fmt=self.pix_fmt)


def _even(x):
    """``x`` pixels rounded to an even number, at least 2 (the encoders' 4:2:0 needs even sides)."""
    return max(2, 2 * int(round(x / 2)))


def output_size(width, height, scale, video):
    """(W, H) of the final frames for an input of ``width`` x ``height`` and a network of ``scale``,
    or None when they are the network's own size."""
    if video.outscale is not None:
        size = (_even(width * video.outscale), _even(height * video.outscale))
    elif video.target_height is not None:
        size = (_even(width * video.target_height / height), _even(video.target_height))
    elif video.target_width is not None:
        size = (_even(video.target_width), _even(height * video.target_width / width))
    else:
        return None
    if max(size) > MAX_SIDE:
        raise OptionError(f"the output would be {size[0]}x{size[1]}, larger than {MAX_SIDE} pixels a side")
    return None if size == (width * scale, height * scale) else size


def resize_frame(image, size):
    """``image`` resized to ``size`` (W, H): Lanczos when it grows, pixel area when it shrinks."""
    h, w = image.shape[:2]
    grows = size[0] * size[1] >= w * h
    return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4 if grows else cv2.INTER_AREA)
