"""Pictures of a job: the latest upscaled frame while it runs, and the before/after comparison of
a chosen frame (the input enlarged by bicubic, or pixel by pixel, against the result), cropped
around a chosen point to zoom in.  Frames are read as upload.py reads them (:func:`open_source`),
so the comparison's input frame is the one the model saw (``start``/``duration`` included)."""

from __future__ import annotations

import os
import threading

import av
import cv2
import numpy as np

from tecogan.ops.upsample import bd_bicubic_frame
from tecogan.pretrained import PRETRAINED
from tecogan.utils.errors import UserError
from tecogan.utils.fileio import write_image_rgb
from tecogan.utils.yuv import TO_RGB
from tecogan.video import open_source

BEFORE = ("bicubic", "input")  # the comparison's left side: bicubic upsampling, or the input's pixels enlarged
ZOOMS = (1, 2, 4, 8)
_made = {}  # preview png -> the segment it shows
_mutex = threading.Lock()


def last_frame_png(video, png):
    """The last frame of ``video`` (a finished segment) written to ``png``, once per segment; the
    png's path (None when the segment cannot be read: it is replaced as the job goes on)."""
    with _mutex:
        if _made.get(png) == video and os.path.isfile(png):
            return png
        frame = None
        try:
            with av.open(video) as container:
                for decoded in container.decode(video=0):
                    frame = decoded
        except (OSError, av.error.FFmpegError):
            return png if os.path.isfile(png) else None
        if frame is None:
            return None
        write_image_rgb(png, frame.reformat(format="rgb24", interpolation=TO_RGB).to_ndarray())
        _made[png] = video
        return png


def nth_frame(path, index, start=None, duration=None):
    """Frame ``index`` (from 0) of a video file or frames folder, RGB; a one-line error past the end."""
    source = open_source(path, start=start, duration=duration)
    if not 0 <= index < source.count:
        raise UserError(f"frame {index + 1}: expected a frame from 1 to {source.count}")
    for i, frame in enumerate(source.frames()):
        if i == index:
            return np.ascontiguousarray(frame.image)
    raise UserError(f"frame {index + 1}: not found in {os.path.basename(path)}")


def to_uint8(image):
    return (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image


def before_image(lr, size, how, model):
    """The input frame ``lr`` at the output's ``size`` (w, h): bicubic (placed as the model places
    its pixels: sample-aligned for BD models at their own scale) or pixel by pixel."""
    w, h = size
    if how == "input":
        return cv2.resize(lr, (w, h), interpolation=cv2.INTER_NEAREST)
    shipped = PRETRAINED.get(model)
    lh, lw = lr.shape[:2]
    if shipped is not None and shipped.kind == "BD" and (w, h) == (4 * lw, 4 * lh):
        return bd_bicubic_frame(lr, 4)
    return cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC)


def crop(image, zoom, cx, cy):
    """The part of ``image`` a ``zoom`` times enlargement around (cx, cy) (fractions of the size) shows."""
    if zoom <= 1:
        return image
    h, w = image.shape[:2]
    cw, ch = max(8, int(w / zoom)), max(8, int(h / zoom))
    x0 = int(round(min(max(cx * w - cw / 2, 0), w - cw)))
    y0 = int(round(min(max(cy * h - ch / 2, 0), h - ch)))
    return image[y0 : y0 + ch, x0 : x0 + cw]


def comparison(record, src, dst, folder, index, how="bicubic", zoom=1, cx=0.5, cy=0.5):
    """``(before.png, after.png)`` of frame ``index`` of a finished job, written in ``folder``."""
    if how not in BEFORE:
        raise UserError(f"comparison {how!r}: expected one of {', '.join(BEFORE)}")
    if zoom not in ZOOMS:
        raise UserError(f"zoom {zoom!r}: expected one of {', '.join(map(str, ZOOMS))}")
    if not os.path.exists(dst):
        raise UserError(f"job {record['id']}: no result yet ({record['state']})")
    s = record["settings"]
    after = to_uint8(nth_frame(dst, index))
    lr = to_uint8(nth_frame(src, index, s.get("start"), s.get("duration")))
    before = before_image(lr, (after.shape[1], after.shape[0]), how, s.get("model"))
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, image in (("before", before), ("after", after)):
        path = os.path.join(folder, f"{name}_{index + 1:05d}_{how}_z{zoom}_{cx:.2f}_{cy:.2f}.png")
        write_image_rgb(path, crop(image, zoom, cx, cy))
        paths.append(path)
    return tuple(paths)
