"""The upscaling pipeline in the library: a generator with its :class:`InferenceOptions`
(:class:`Upscaler`), run over clips whose frames keep their metadata.

    up = Upscaler(net, InferenceOptions(tile=128))
    for out in up.upscale_clip(source.frames()):      # Frame(name, image, time) items
        sink.write(out.name, out.image, out.time)     # the output with its frame's name and time

Every call makes its own :class:`ClipRun` (the recurrent state of one clip), so two clips
interleaved on one Upscaler never share a state; a ClipRun's ``state_dict()`` after any frame,
loaded into a new ClipRun, continues bit for bit (resumable jobs).  Frames are (h, w, 3) RGB
arrays of uint8 (or uint16 for more than 8 bits per sample: the output keeps the type).
Test mode, validation, ``upscale.py`` and the API all run :meth:`Upscaler.upscale_clip`.
"""

from __future__ import annotations

import collections
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from tecogan import defaults
from tecogan.inference.auto import OWN_INPUT_FRAMES, resolve_auto
from tecogan.inference.options import InferenceOptions, OptionError
from tecogan.inference.steppers import make_step, make_stepper, resolve_device, run_clip
from tecogan.networks import generator_from_checkpoint
from tecogan.pretrained import PRETRAINED, resolve_model
from tecogan.utils.device import parse_device
from tecogan.utils.errors import short
from tecogan.utils.verbosity import is_quiet, quiet
from tecogan.video.common import Frame


@dataclass(frozen=True)
class UpscaledFrame:
    """One output frame with its input frame's metadata: ``index`` (0-based, in the clip),
    ``name`` (e.g. ``0001.png``), ``time`` (seconds, a Fraction, or None), the LR input and
    the super-resolved ``image``."""

    index: int
    name: str
    time: Fraction | None
    lr: np.ndarray
    image: np.ndarray


def _as_uint8(image):
    """A frame for the auto check (uint16 frames keep their top 8 bits)."""
    image = np.asarray(image)
    return (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image


def as_frames(images: Iterable[np.ndarray]) -> Iterator[Frame]:
    """Plain arrays as :class:`Frame` items named ``0001.png``, ``0002.png`` ... without times."""
    for i, image in enumerate(images):
        yield Frame(f"{i + 1:04d}.png", image, None)


def checked_frames(frames: Iterable[Frame], options: InferenceOptions) -> Iterator[Frame]:
    """Frames checked as they pass: (h, w, 3) uint8/uint16, one size, large enough (OptionError)."""
    shape = dtype = None
    for i, frame in enumerate(frames):
        image = np.asarray(frame.image)
        if image.dtype not in (np.uint8, np.uint16) or image.ndim != 3 or image.shape[2] != 3:
            raise OptionError(f"frame {i}: expected an (h, w, 3) uint8 RGB array (or uint16), got {image.dtype} {image.shape}")
        if shape is None:
            options.check_frame_size(image.shape[0], image.shape[1], where=f"frame {i}")
        elif image.shape != shape or image.dtype != dtype:
            raise OptionError(
                f"frame {i}: {image.shape[1]}x{image.shape[0]} {image.dtype} differs from the first "
                f"frame's {shape[1]}x{shape[0]} {dtype}"
            )
        shape, dtype = image.shape, image.dtype
        yield frame if image is frame.image else frame._replace(image=image)


class ClipRun:
    """The recurrent state of one clip on one :class:`Upscaler`, and the count of its frames done.

    :meth:`run` takes the clip's frames (from the first not yet done) and yields
    :class:`UpscaledFrame` items.  The front padding runs at a clip's start only: a run restored
    from a :meth:`state_dict` continues where the saved run stopped.
    """

    def __init__(self, upscaler: Upscaler):
        self.upscaler = upscaler
        self.stepper = None  # made at the first frame (precision auto may look at the clip's first frames)
        self.done = 0
        self._restored = None

    @property
    def options(self) -> InferenceOptions:
        return self.upscaler.options

    def _start(self, head):
        up = self.upscaler
        if up.step_fn is None:
            up.prepare([f.image for f in head])
        self.stepper = make_stepper(up.generator, up.options, up.device, step_fn=up.step_fn)
        if self._restored is not None:
            self.stepper.load_state_dict(self._restored)
            self._restored = None

    def run(self, frames: Iterable[Frame]) -> Iterator[UpscaledFrame]:
        frames = checked_frames(frames, self.options)
        head = []
        if self.stepper is None:
            if self.upscaler.step_fn is None:  # auto: the own-input check reads the first frames
                head = list(itertools.islice(frames, OWN_INPUT_FRAMES))
            if not head and self.done == 0:
                head = list(itertools.islice(frames, self.options.num_pad_front + 1))
            if not head and self.done == 0:
                return
            self._start(head)
        items = itertools.chain(head, frames)
        pending = collections.deque()  # the frames run_clip has read, waiting for their outputs

        def images():
            for frame in items:
                pending.append(frame)
                yield frame.image

        o = self.options
        for image in run_clip(self.stepper, images(), o.num_pad_front, o.padding_mode, resumed=self.done > 0):
            frame = pending.popleft()
            index, self.done = self.done, self.done + 1
            yield UpscaledFrame(index, frame.name, frame.time, frame.image, image)

    def state_dict(self) -> dict:
        """Everything needed to continue: frames done, the precision and back-end that ran (and, in
        ``requested``, those asked for: ``auto``, None), and the recurrent state (CPU tensors)."""
        stepper = self.stepper.state_dict() if self.stepper is not None else self._restored
        asked = self.upscaler.requested
        return {
            "done": self.done,
            "precision": self.options.precision,
            "backend": self.options.backend,
            "requested": {"precision": asked.precision, "backend": asked.backend},
            "stepper": stepper,
        }

    def load_state_dict(self, state: dict) -> None:
        self.done = int(state["done"])
        up = self.upscaler
        ran = (state.get("precision"), state.get("backend") or defaults.BACKEND)
        # auto: continue in what the saved run ran, also when this Upscaler chose another for an earlier
        # clip (a batch whose partial output was made otherwise: one output, one precision)
        if (
            up.requested.precision == "auto"
            and ran[0]
            and (up.step_fn is None or (up.options.precision, up.options.backend) != ran)
        ):
            up._build(up.requested.replace(precision=ran[0], backend=ran[1]))
        if self.stepper is not None:
            self.stepper.load_state_dict(state["stepper"])
        else:
            self._restored = state["stepper"]


_LEGACY = ("tile", "tile_overlap", "num_pad_front", "padding_mode", "backend", "device", "channels_last", "threads")


def generator_of(generator, option="generator") -> torch.nn.Module:
    """A generator module as it is, or the one a shipped model's name (``"frvsr"``) or a checkpoint
    path holds (on the CPU, as ``upscale.py --model`` loads it); anything else is one line
    saying what is expected."""
    if isinstance(generator, torch.nn.Module):
        if not hasattr(generator, "arch") or not hasattr(generator, "scale"):
            raise OptionError(
                f"{option}: a {type(generator).__name__} is not a TecoGAN/FRVSR generator (expected "
                f"tecogan.load_generator(...)'s network, e.g. an FRNet)"
            )
        return generator
    if isinstance(generator, (str, os.PathLike)) and os.fspath(generator):
        return generator_from_checkpoint(resolve_model(generator, option=option))
    raise OptionError(
        f"{option} {short(generator)}: expected a generator module (tecogan.load_generator(...)), "
        f"a shipped model's name ({', '.join(PRETRAINED)}) or a checkpoint path (.pth)"
    )


class Upscaler:
    """A generator and its :class:`InferenceOptions`: frame-recurrent super-resolution of clips.

    ``Upscaler(net)``, ``Upscaler(net, InferenceOptions(tile=128))`` or, as before,
    ``Upscaler(net, device="cpu", tile=128, half=True, ...)`` (keywords are the options' fields;
    ``half=True`` is ``precision="fp16"``, ignored on the CPU as before).  The step function (the
    network on its device, or its OpenVINO compilation) is built once, here or, for
    ``precision="auto"``, at the first clip's first frames (:meth:`prepare`; its choice is one line
    to ``report``); each clip gets its own :class:`ClipRun`.  ``options`` are the settings as
    they run (auto resolved), ``requested`` as they were asked.
    """

    def __init__(
        self,
        generator: torch.nn.Module | str | os.PathLike,
        options: InferenceOptions | str | None = None,
        *,
        half: bool | None = None,
        report: Callable[[str], None] | None = print,
        **fields,
    ) -> None:
        generator = generator_of(generator)
        if isinstance(options, (str, torch.device)):  # Upscaler(net, "cpu"): the old positional device
            fields.setdefault("device", str(options))
            options = None
        unknown = sorted(set(fields) - set(_LEGACY) - {"precision"})
        if unknown:
            raise TypeError(f"Upscaler: unknown option {unknown[0]!r} (options: {', '.join(_LEGACY)}, precision, half)")
        if half is not None:
            if not isinstance(half, bool):
                raise OptionError(f"half {half!r}: expected True or False")
            if half:
                fields.setdefault("precision", "fp16")
        if options is None:  # from the fields: an explicit precision does not read $TECOGAN_PRECISION
            options = InferenceOptions(**fields)
        elif not isinstance(options, InferenceOptions):
            raise TypeError(f"options: expected an InferenceOptions, got {type(options).__name__}")
        elif fields:
            options = options.replace(**fields)
        self.generator = generator
        self.requested = options  # as asked: precision may be "auto", backend None
        self.options = options  # as run: precision and backend resolved by prepare()
        self.report = report
        if options.device is None:
            self.device = next(generator.parameters()).device
        elif options.device == "auto":
            self.device = parse_device("auto")
        else:
            self.device = resolve_device(options.device)
        if half and self.device.type != "cuda" and options.precision == "fp16":  # as before: ignored on the CPU
            options = options.replace(precision="fp32")
            self.requested = self.options = options
        self.half = False
        if options.threads is not None:  # a process setting: torch's pool, which OpenVINO's follows
            torch.set_num_threads(options.threads)
        self.step_fn = None
        if options.precision != "auto":
            self._build(options)

    def _build(self, options: InferenceOptions) -> None:
        options = options.replace(backend=options.backend or defaults.BACKEND)
        with quiet(self.report is None):  # report=None: NNCF's calibration bars (int8) too
            self.step_fn = make_step(self.generator, self.device, options.backend, options.channels_last, options.precision)
        self.options = options
        self.half = options.precision == "fp16" and self.device.type == "cuda"

    def prepare(self, frames: Iterable[np.ndarray] | None = None) -> InferenceOptions:
        """Resolve ``precision="auto"`` (a checkpoint the measured table does not hold is checked on
        ``frames``, the first frames of the input) and build the step function; the choice and its
        reason go to ``report`` (not in a quiet run: ``upscale_video(..., quiet=True)``,
        ``upscale.py --quiet``).  Runs once, at the first clip's first frames; returns the options
        that run."""
        if self.step_fn is None:
            images = [_as_uint8(f) for f in frames] if frames else None
            with quiet(self.report is None):  # its int8 candidate is calibrated by NNCF (progress bars)
                choice = resolve_auto(self.generator, self.device, self.requested.backend, frames=images)
            if self.report is not None and not is_quiet():
                self.report(choice.reason)
            self._build(self.requested.replace(precision=choice.precision, backend=choice.backend))
        return self.options

    @property
    def scale(self) -> int:
        return self.generator.scale

    # the settings, as attributes of earlier versions
    tile = property(lambda self: self.options.tile)
    tile_overlap = property(lambda self: self.options.tile_overlap)
    num_pad_front = property(lambda self: self.options.num_pad_front)
    padding_mode = property(lambda self: self.options.padding_mode)
    backend = property(lambda self: self.options.backend)
    channels_last = property(lambda self: self.options.channels_last)
    precision = property(lambda self: self.options.precision)

    def new_clip(self) -> ClipRun:
        """A fresh recurrent state (a clip's start)."""
        return ClipRun(self)

    def upscale_clip(self, frames: Iterable[Frame], clip: ClipRun | None = None) -> Iterator[UpscaledFrame]:
        """Super-resolve one clip of :class:`Frame` items ``(name, image, time)``, streaming: yields
        an :class:`UpscaledFrame` per frame.  ``clip``: a (restored) :class:`ClipRun` to continue."""
        yield from (clip or self.new_clip()).run(frames)

    def upscale_frames(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Super-resolve one clip, streaming: yields one (s*h, s*w, 3) frame per (h, w, 3) input frame.

        ``frames``: any iterable of RGB arrays of one size and type (uint8, or uint16 for more
        than 8 bits); only ``num_pad_front + 1`` frames are read ahead (at the first clip of
        ``precision="auto"``: the first 8, which it checks).  Each call is a new clip
        with its own recurrent state.  With ``precision="fp32"`` the frames equal test mode's.
        """
        for out in self.upscale_clip(as_frames(frames)):
            yield out.image
