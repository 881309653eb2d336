"""Limits on every number that sizes work, in one place: the command lines, the YAML schema
(:mod:`tecogan.config`) and the API read them from here (docs/errors.md lists them).

They are set generously: hours-long videos, 8K frames processed in tiles and long trainings
stay well inside; what they stop is a typo or a hostile value that would hang the machine or
fill its memory before any other check is reached (``num_pad_front: 100000000``,
``end_iter: 1e11`` with ``test_freq: 1``, ``nb: 200000``, ``--tile 8 --tile_overlap 7`` on a
large frame).
"""
import math

from tecogan.utils.errors import UserError

# frames and images
MAX_IMAGE_SIDE = 32768                # pixels, either side of any image read (an 8K frame is 7680x4320)
MAX_IMAGE_PIXELS = 1 << 28            # 268 Mpx (16384 x 16384), 805 MB as 8-bit RGB
MAX_IMAGE_FILE_BYTES = 2 << 30        # 2 GiB: no frame file is larger (a 6 GB sparse PNG is not a frame)
MIN_FRAME_SIDE = 8                    # LR frames (the flow network needs 8x8)
MAX_CLIP_FRAMES = 10_000_000          # frames of one sequence or video (about 46 h at 60 frame/s)

# inference
MAX_TILE = 16384                      # --tile (LR pixels); 0 = no tiles
MAX_TILES_PER_FRAME = 65536           # tiles of one frame (8K LR frames with 64-pixel tiles need ~8,000)
MAX_NUM_PAD_FRONT = 1000              # test.num_pad_front / --num_pad_front
MAX_FPS = 1000.0                      # --fps
MAX_SECONDS = 10_000_000.0            # --start / --duration (115 days; 1e30 or inf would overflow a timestamp)
MAX_OUTPUT_SIDE = 16384               # a video encoder's frame side (x264/x265 stop at 16384 or less)

# networks (checked against a checkpoint before anything is built)
MAX_NF = 1024                         # model.generator.nf / --nf (the shipped models use 64)
MAX_NB = 256                          # model.generator.nb / --nb (the shipped models use 10 or 16)

# training and test series
MAX_ITER = 100_000_000                # train.total_iter, start_iter, test.start_iter/end_iter, frequencies
MAX_TEST_CHECKPOINTS = 10_000         # checkpoints one test run may list (end_iter - start_iter) / test_freq
MAX_TEMPO_EXTENT = 1000               # train.tempo_extent
MAX_BATCH_SIZE = 65536                # dataset.*.batch_size
MAX_CROP_SIZE = 16384                 # dataset.train.crop_size / gt_crop_size
MAX_WORKERS = 256                     # num_workers


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
    if tile and overlap >= tile:
        raise UserError(f"{where} {tile} with overlap {overlap}: the overlap must be smaller than the tile")
    n = tile_count(height, width, tile, overlap)
    if n > MAX_TILES_PER_FRAME:
        raise UserError(f"{where} {tile} with overlap {overlap}: {n} tiles for a {width}x{height} frame, more than "
                        f"{MAX_TILES_PER_FRAME}; use larger tiles or a smaller overlap")
    return n


def check_number(option, value, minimum=None, maximum=None, integer=False, strict_minimum=False):
    """Validate a number from the command line or the API before any library sees it (a real
    number, not a bool or a string; finite; in range).  Returns it."""
    if value is None:
        return value
    what = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__index__") \
            and not hasattr(value, "__float__"):
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
