"""The Python API: load a generator, upscale frames and videos (docs/api.md).

    import tecogan
    net = tecogan.load_generator("pretrained_models/FRVSR_BD_footage.pth")
    up = tecogan.Upscaler(net, device="cpu")
    hr_frames = list(up.upscale_frames(lr_frames))       # HxWx3 uint8 RGB in, (sH)x(sW)x3 out
    up.upscale_video("clip.mp4", "clip_x4.mp4")

Frames are (h, w, 3) uint8 RGB numpy arrays (uint16 for more than 8 bits).  By default :meth:`Upscaler.upscale_frames`
runs test mode's procedure (5 reflected frames first), so its frames equal ``test.sh``'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Union

import torch

from tecogan.inference import upscaler as engine
from tecogan.inference.options import InferenceOptions, OptionError
from tecogan.inference.steppers import resolve_device
from tecogan.inference.upscaler import ClipRun, UpscaledFrame
from tecogan.jobs.video_job import upscale_file
from tecogan.jobs.video_options import VideoOptions
from tecogan.networks import build_generator, generator_from_checkpoint, with_metadata
from tecogan.pretrained import resolve_model
from tecogan.utils.errors import short

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["load_generator", "build_generator", "Upscaler", "InferenceOptions", "ClipRun", "UpscaledFrame"]


def load_generator(
    checkpoint: PathLike | Mapping[str, torch.Tensor], device: str | torch.device = "cpu", **overrides: Any
) -> torch.nn.Module:
    """The generator a checkpoint holds, loaded strictly, in eval mode on ``device``.

    ``checkpoint``: a shipped model's name (``"frvsr"``, ``"frvsr-bd"``, ``"tecogan"``: :mod:`tecogan.pretrained`),
    a ``.pth`` path (read with ``weights_only=True``) or a state dict.  The
    architecture (``nf``, ``nb``, BD/BI, scale 2 or 4) is read from its tensors; ``overrides``
    (e.g. ``degradation="BI"``) replace values, and a combination that does not fit the
    tensors raises :class:`tecogan.utils.errors.UserError` naming the mismatch.
    """
    if isinstance(checkpoint, Mapping):
        source = with_metadata(checkpoint, checkpoint)  # a copy that keeps the generator's recorded name
    elif isinstance(checkpoint, (str, os.PathLike)) and os.fspath(checkpoint):
        source = resolve_model(checkpoint, option="checkpoint")
    else:
        raise OptionError(
            f"checkpoint {short(checkpoint)}: expected a shipped model's name, a checkpoint path (.pth) or a state dict"
        )
    net = generator_from_checkpoint(source, **overrides)
    return net.to(resolve_device(device)).eval()


class Upscaler(engine.Upscaler):
    """:class:`tecogan.inference.Upscaler` (frames in, frames out) and, above it, whole files:
    :meth:`upscale_video` runs one job of :mod:`tecogan.jobs`, as ``upscale.py`` does."""

    def upscale_video(self, src: PathLike, dst: PathLike, **video_options: Any) -> None:
        """Super-resolve a video file or a folder of frames into ``dst`` (a video file or a folder
        of PNGs), as ``upscale.py`` does, with this Upscaler's generator and options.

        ``video_options`` are :class:`tecogan.jobs.video_options.VideoOptions` fields (``compare="side.mp4"``,
        ``fps=25``, ``codec=...``, ``overwrite=True``, ``quiet=True`` ...), type-checked.  Bad input
        raises :class:`tecogan.errors.UserError` (a ValueError) naming these arguments (``pass
        overwrite=True``), not upscale.py's flags.
        """
        upscale_file(self, src, dst, VideoOptions.from_keywords(video_options))
