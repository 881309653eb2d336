"""The inference settings, checked once: :class:`InferenceOptions`.

One frozen object owns every setting of the frame-recurrent procedure that the commands and
the API share (tiles, front padding, back-end, device, memory format, precision) with its
default (from :mod:`tecogan.defaults`) and its checks.  ``upscale.py`` reads its argparse
defaults from here, :class:`tecogan.inference.upscaler.Upscaler` takes one, test mode builds one from the
YAML.  A bad value raises :class:`OptionError`, which is both a ``ValueError`` (for Python
callers) and a :class:`~tecogan.utils.errors.UserError` (one line on the command line).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from tecogan import defaults
from tecogan.errors import OptionError

# fp32 | bf16 | int8 | fp16 | auto (codes/inference/precision.py); "fp16" is the old ``half=True`` (CUDA autocast)
PRECISIONS = defaults.PRECISIONS
PRECISION = defaults.UPSCALE_PRECISION


def default_precision():
    """The default precision of upscale.py and the API: ``$TECOGAN_PRECISION`` (case and spaces
    aside), else auto; a value that is none of :data:`PRECISIONS` raises an OptionError naming the
    variable (where the default is used: an explicit precision does not read it)."""
    if PRECISION not in PRECISIONS:
        raise OptionError(
            f"${defaults.PRECISION_VARIABLE} {defaults.UPSCALE_PRECISION_TEXT!r}: expected one of "
            f"{', '.join(PRECISIONS)} (or unset it: auto)"
        )
    return PRECISION


def _integer(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            value = int(value)
        else:
            raise OptionError(f"{name} {value!r}: expected an integer")
    if not low <= value <= high:
        raise OptionError(f"{name} {value}: expected an integer in {low}..{high}")
    return value


def _choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise OptionError(f"{name} {value!r}: expected one of {', '.join(choices)}")
    return value


def tiles_per_frame(height, width, tile, overlap):
    """How many tiles cover an ``height`` x ``width`` LR frame (1 without tiles)."""
    if not tile:
        return 1

    def count(size):
        return 1 if tile >= size else 1 + math.ceil((size - tile) / (tile - overlap))

    return count(height) * count(width)


@dataclass(frozen=True)
class InferenceOptions:
    """How a generator is run over a clip.

    ``tile``: LR tile side (0: whole frames), tiles overlapping by ``tile_overlap``;
    ``num_pad_front`` frames run before the first (``padding_mode`` reflect: frames n..1,
    replicate: frame 0), as test mode does; ``backend`` torch or openvino (CPU), or None:
    torch unless ``precision="auto"`` chooses OpenVINO; ``device`` 'cpu', 'cuda', 'cuda:k',
    'auto' (CUDA when present) or None (the generator's device); ``channels_last`` NHWC memory
    format (same numbers, faster); ``precision`` fp32 (exact: equals test mode), bf16, int8
    (OpenVINO), fp16 or auto (the default: the fastest this machine runs natively within the
    measured quality gate; :mod:`tecogan.inference.auto`).
    """

    tile: int = defaults.TILE
    tile_overlap: int = defaults.TILE_OVERLAP
    num_pad_front: int = defaults.NUM_PAD_FRONT
    padding_mode: str = defaults.PADDING_MODE
    backend: str | None = None
    device: str | None = None
    channels_last: bool = defaults.CHANNELS_LAST
    precision: str = PRECISION
    threads: int | None = None

    def __post_init__(self):
        tile = _integer("tile", self.tile, 0, defaults.MAX_TILE)
        if tile and tile < defaults.MIN_LR_SIZE:
            raise OptionError(f"tile {tile}: expected 0 (whole frames) or at least {defaults.MIN_LR_SIZE} LR pixels")
        overlap = _integer("tile_overlap", self.tile_overlap, 0, defaults.MAX_TILE)
        if tile and overlap >= tile:
            raise OptionError(f"tile_overlap {overlap}: expected 0 <= overlap < tile ({tile})")
        object.__setattr__(self, "tile", tile)
        object.__setattr__(self, "tile_overlap", overlap)
        object.__setattr__(self, "num_pad_front", _integer("num_pad_front", self.num_pad_front, 0, defaults.MAX_NUM_PAD_FRONT))
        _choice("padding_mode", self.padding_mode, defaults.PADDING_MODES)
        if self.backend is not None:
            _choice("backend", self.backend, defaults.BACKENDS)
        if self.precision == PRECISION:  # the default: a bad $TECOGAN_PRECISION is named as such
            default_precision()
        _choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.channels_last, bool):
            raise OptionError(f"channels_last {self.channels_last!r}: expected True or False")
        if self.threads is not None:
            _integer("threads", self.threads, 1, defaults.MAX_THREADS)
        if self.device is not None and not isinstance(self.device, str):
            object.__setattr__(self, "device", str(self.device))  # a torch.device

    def replace(self, **changes) -> InferenceOptions:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)

    def check_frame_size(self, height, width, where="frame"):
        """One line when an LR frame is too small for the flow network or needs too many tiles."""
        low = defaults.MIN_LR_SIZE
        if min(height, width) < low:
            raise OptionError(f"{where}: {width}x{height} is smaller than the {low}x{low} minimum of the flow network")
        count = tiles_per_frame(height, width, self.tile, self.tile_overlap)
        if count > defaults.MAX_TILES_PER_FRAME:
            raise OptionError(
                f"tile {self.tile} / tile_overlap {self.tile_overlap}: a {width}x{height} frame would "
                f"need {count} tiles (at most {defaults.MAX_TILES_PER_FRAME}); use larger tiles or a "
                f"smaller overlap"
            )

    def pixels_key(self):
        """The settings that change output pixels (for job manifests and caches)."""
        return {
            "tile": self.tile,
            "tile_overlap": self.tile_overlap,
            "num_pad_front": self.num_pad_front,
            "padding_mode": self.padding_mode,
            "backend": self.backend or defaults.BACKEND,
            "precision": self.precision,
        }


def options_from_flags(values, prefix="--"):
    """InferenceOptions from command-line values (a mapping of field name -> value; missing or
    None: the default); errors name the flag (``--tile 4: ...``)."""
    fields = {f.name for f in dataclasses.fields(InferenceOptions)}
    given = {k: v for k, v in values.items() if k in fields and v is not None}
    try:
        return InferenceOptions(**given)
    except OptionError as err:
        raise OptionError(f"{prefix}{err}") from None
