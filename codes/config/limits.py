"""Checks of the numbers that size work; the limits themselves are constants of
:mod:`tecogan.defaults` (the one home of defaults and limits, read by the YAML schema, the
command lines and the API).  docs/errors.md lists them.

They stop a typo or a hostile value that would hang the machine or fill its memory before any
other check is reached (``num_pad_front: 100000000``, ``end_iter: 1e11`` with ``test_freq: 1``,
``nb: 200000``, ``--tile 8 --tile_overlap 7`` on a large frame, ``--start 1e30``).
"""

import math

from tecogan import defaults
from tecogan.utils.errors import UserError


def tile_count(height, width, tile, overlap):
    """Tiles the tiled upscaler makes for one ``height`` x ``width`` LR frame (0 when ``tile`` is 0)."""
    if not tile:
        return 0

    def along(size):
        if tile >= size:
            return 1
        return -(-(size - tile) // (tile - overlap)) + 1

    return along(height) * along(width)


def check_tiles(height, width, tile, overlap, where="--tile"):
    """Refuse a tile layout of more than MAX_TILES_PER_FRAME tiles (one line naming the values)."""
    if tile and not 0 <= overlap < tile:
        raise UserError(f"{where} {tile} with overlap {overlap}: the overlap must be >= 0 and smaller than the tile")
    n = tile_count(height, width, tile, overlap)
    if n > defaults.MAX_TILES_PER_FRAME:
        raise UserError(
            f"{where} {tile} with overlap {overlap}: {n} tiles for a {width}x{height} frame, more than "
            f"{defaults.MAX_TILES_PER_FRAME}; use larger tiles or a smaller overlap"
        )
    return n


def check_number(option, value, minimum=None, maximum=None, integer=False, strict_minimum=False):
    """Validate a number from the command line or the API before any library sees it (a real
    number, not a bool or a string; finite; in range).  Returns it."""
    if value is None:
        return value
    what = "an integer" if integer else "a number"
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) or hasattr(value, "__index__") or hasattr(value, "__float__")
    ):
        raise UserError(f"{option} {value!r}: expected {what}")
    try:
        finite = math.isfinite(value)
    except (TypeError, OverflowError, ValueError):
        finite = False
    if not finite or (integer and int(value) != value):
        raise UserError(f"{option} {value}: expected {'an integer' if integer else 'a finite number'}")
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if strict_minimum else '>='} {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    low = minimum is not None and (value <= minimum if strict_minimum else value < minimum)
    high = maximum is not None and value > maximum
    if low or high:
        raise UserError(f"{option} {value}: expected {what} {' and '.join(bounds)}")
    return value
