"""The frame engine: frames in, frames out; it knows nothing of files or jobs (those are
:mod:`tecogan.jobs`, above it).

* :mod:`~tecogan.inference.options`: :class:`InferenceOptions`, checked once;
* :mod:`~tecogan.inference.precision` and :mod:`~tecogan.inference.auto`: fp32/bf16/int8/fp16
  and the automatic choice (``precision_table.json``, rows per CPU class:
  :mod:`~tecogan.inference.measurements`);
* :mod:`~tecogan.inference.backends`: the OpenVINO step;
* :mod:`~tecogan.inference.steppers`: the recurrent state of whole frames or tiles, and
  :func:`run_clip`, the one driver of the frame-recurrent procedure;
* :mod:`~tecogan.inference.upscaler`: :class:`Upscaler` (a generator with its options) and
  :class:`ClipRun` (one clip's state, saved and restored exactly).
"""

from tecogan.inference import steppers
from tecogan.inference.options import InferenceOptions, OptionError
from tecogan.inference.steppers import (
    RecurrentUpscaler,
    TiledUpscaler,
    front_padding_indices,
    infer_sequence,
    make_step,
    make_stepper,
    resolve_device,
    run_clip,
)
from tecogan.inference.upscaler import ClipRun, UpscaledFrame, Upscaler

__all__ = [
    "InferenceOptions",
    "OptionError",
    "Upscaler",
    "ClipRun",
    "UpscaledFrame",
    "RecurrentUpscaler",
    "TiledUpscaler",
    "front_padding_indices",
    "run_clip",
    "infer_sequence",
    "make_step",
    "make_stepper",
    "resolve_device",
]


def __getattr__(name):
    """The other names of 1.2's ``tecogan.inference`` module (``to_frame``, ``tile_starts`` ...), now in steppers."""
    if hasattr(steppers, name):
        return getattr(steppers, name)
    raise AttributeError(f"module 'tecogan.inference' has no attribute {name!r}")
