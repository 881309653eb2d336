"""The spectral grid score: how strongly a frame carries a period-4 (and period-2) mesh.

A 4x video super-resolution network that draws a faint 4x4 pattern over whole frames puts
power on the lattice frequencies ``(a*H/4, b*W/4)``.  Per frame:

1. grey (OpenCV's luma weights; RGB input, the same values as BGR2GRAY on a BGR frame),
   cut to multiples of 4 (top-left kept), the mean removed, times a 2-D Hann window;
2. the power spectrum ``|FFT2|^2``;
3. for the 15 lattice bins ``(a*H/4, b*W/4)``, a, b in 0..3 except (0, 0): log10 of the bin's
   power over the mean power of its 8 neighbours two bins away (offsets in {-2, 0, 2}^2
   without (0, 0), indices wrapping);
4. the mean over the 15 bins.

The score of a sequence is the mean over its frames.  Ground-truth frames score about -0.1
(natural images have less power at those frequencies than two bins off, because of the window
and the falling spectrum); a visible mesh scores above 1.
"""

import numpy as np

from tecogan.errors import UserError
from tecogan.metrics.functional import to_gray

PERIOD = 4  # the x4 upsampler's lattice
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # RGB -> luma: OpenCV's RGB2GRAY weights, for float frames
NEIGHBOURS = tuple((dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2) if (dy, dx) != (0, 0))


def lattice(period=PERIOD):
    """The lattice bins (a, b), a, b in 0..period-1 except (0, 0), in row order."""
    return tuple((a, b) for a in range(period) for b in range(period) if (a, b) != (0, 0))


LATTICE = lattice(PERIOD)


def peaks_and_rings(power, period=PERIOD):
    """[(peak, ring)] for each lattice bin of a (.., h, w) power spectrum (numpy or torch):
    the power at ``(a*h/period, b*w/period)`` and the mean power of its 8 neighbours two bins
    away (indices wrapping).  The metric and the training loss (models/losses.py) both read the
    lattice through this one function."""
    h, w = power.shape[-2], power.shape[-1]
    pairs = []
    for a, b in lattice(period):
        y0, x0 = a * h // period, b * w // period
        ring = sum(power[..., (y0 + dy) % h, (x0 + dx) % w] for dy, dx in NEIGHBOURS) / len(NEIGHBOURS)
        pairs.append((power[..., y0, x0], ring))
    return pairs


def grid_score_frame(frame):
    """Grid score of one (h, w, 3) uint8 RGB frame (or an (h, w) grey one)."""
    frame = np.asarray(frame)
    grey = to_gray(frame) if frame.ndim == 3 else frame
    h, w = grey.shape[0] // PERIOD * PERIOD, grey.shape[1] // PERIOD * PERIOD
    if min(h, w) < 2 * PERIOD:  # two lattice periods at least
        raise UserError(
            f"grid_score_frame: a {grey.shape[1]}x{grey.shape[0]} frame is too small ({2 * PERIOD}x{2 * PERIOD} at least)"
        )
    x = grey[:h, :w].astype(np.float64)
    x -= x.mean()
    x *= np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(x)) ** 2
    tiny = np.finfo(np.float64).tiny
    return float(np.mean([np.log10(max(peak, tiny) / max(ring, tiny)) for peak, ring in peaks_and_rings(power)]))


def phase_edges(grey, period=PERIOD):
    """[(edges across columns, edges across rows)] for each phase p of the ``period``-pixel
    lattice, of (.., h, w) grey frames (numpy or torch): the mean absolute difference between
    pixels ``period*k + p`` and ``period*k + p + 1`` along each axis.  A network that draws its
    output in ``period`` x ``period`` blocks puts its edges at one phase, whatever their signs;
    natural frames have the same edges at every phase.  The block score and the block loss
    (models/losses.py) both read the edges through this one function."""
    across_columns = abs(grey[..., :, 1:] - grey[..., :, :-1])
    across_rows = abs(grey[..., 1:, :] - grey[..., :-1, :])
    return [
        (across_columns[..., :, p::period].mean(-1).mean(-1), across_rows[..., p::period, :].mean(-1).mean(-1))
        for p in range(period)
    ]


def block_score_frame(frame):
    """Block score of one (h, w, 3) uint8 RGB frame (or an (h, w) grey one): per axis, log10 of
    the strongest phase's edges over the weakest's (:func:`phase_edges`), averaged over the two
    axes.  Ground truth scores about 0.01, `frvsr-bd` about 0.15, a GAN drawing 4x4 blocks
    (incoherent ones too, which the grid score's lattice peaks do not see) 0.3 and more."""
    frame = np.asarray(frame)
    grey = (to_gray(frame) if frame.ndim == 3 else frame).astype(np.float64)
    if min(grey.shape) < 2 * PERIOD:
        raise UserError(
            f"block_score_frame: a {grey.shape[1]}x{grey.shape[0]} frame is too small ({2 * PERIOD}x{2 * PERIOD} at least)"
        )
    tiny = 1e-3  # grey levels: a flat frame scores 0
    edges = np.log10(np.array(phase_edges(grey)) + tiny)  # (period, 2)
    return float(np.mean(edges.max(axis=0) - edges.min(axis=0)))


def block_score(frames):
    """Mean block score over the frames of a sequence ((t, h, w, 3) uint8 RGB, or a list)."""
    values = [block_score_frame(f) for f in frames]
    if not values:
        raise UserError("block_score: no frames")
    return float(np.mean(values))


def grid_score(frames):
    """Mean grid score over the frames of a sequence ((t, h, w, 3) uint8 RGB, or a list)."""
    values = [grid_score_frame(f) for f in frames]
    if not values:
        raise UserError("grid_score: no frames")
    return float(np.mean(values))
