"""Training criteria of FRVSR/TecoGAN (docs/architecture.md, "Losses and one training step")."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from tecogan.errors import UserError
from tecogan.metrics.grid import GREY_WEIGHTS, PERIOD, lattice, peaks_and_rings, phase_edges


class CharbonnierLoss(nn.Module):
    """sqrt((x - y)^2 + eps), mean or sum."""

    def __init__(self, eps=1e-6, reduction="mean"):
        super().__init__()
        self.eps, self.reduction = eps, reduction

    def forward(self, x, y):
        loss = torch.sqrt((x - y) ** 2 + self.eps)
        return loss.sum() if self.reduction == "sum" else loss.mean()


class CosineSimilarityLoss(nn.Module):
    """1 - mean(cosine_similarity(x, y, dim=1))."""

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x, y):
        return 1 - F.cosine_similarity(x, y, dim=1, eps=self.eps).mean()


class VanillaGANLoss(nn.Module):
    """BCE with logits against an all-real or all-fake target."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.crit = nn.BCEWithLogitsLoss(reduction=reduction)

    def forward(self, logits, real):
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return self.crit(logits, target)


class LSGANLoss(VanillaGANLoss):
    """MSE on the logits."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.crit = nn.MSELoss(reduction=reduction)


class LatticeLoss(nn.Module):
    """The output's period-``period`` mesh against the ground truth's.

    Each (.., c, H, W) frame is cut to multiples of ``period`` (top-left kept); the mean of the
    pixels at each of the ``period`` x ``period`` phases, less the frame's mean, is the mesh the
    frame carries: the 4x4 pattern whose power sits on the lattice frequencies that
    :mod:`tecogan.metrics.grid` scores (a mesh over the whole frame, as a 4x upsampler draws it).
    The loss is the mean square of the output's mesh minus the ground truth's, so periodic
    texture that is really there costs nothing.  On the bundled BD clip the shipped GAN model's
    term is 4x that of FRVSR on 128x128 crops.

    With ``pool`` the meshes are averaged over every leading dimension (the batch and the
    frames) before the difference is squared: what is left is the mesh the network draws on
    every crop, without the phase means that each crop's own texture gives its output and its
    ground truth (on natural crops those are far larger than a faint mesh of a tenth of a grey
    level, and only add noise to the gradient).
    """

    def __init__(self, period=4, reduction="mean", pool=False):
        super().__init__()
        self.period, self.reduction, self.pool = period, reduction, pool

    def mesh(self, x):
        """(.., c, H, W) -> (.., c, period, period): the phase means of each frame, centred."""
        p = self.period
        h, w = x.shape[-2] // p * p, x.shape[-1] // p * p
        if h == 0 or w == 0:
            raise UserError(f"LatticeLoss: frames of {x.shape[-1]}x{x.shape[-2]} are smaller than one {p}x{p} period")
        x = x[..., :h, :w].reshape(*x.shape[:-2], h // p, p, w // p, p)
        phases = x.mean(dim=(-4, -2))
        return phases - phases.mean(dim=(-2, -1), keepdim=True)

    def forward(self, x, y):
        diff = self.mesh(x) - self.mesh(y)
        if self.pool:
            diff = diff.reshape(-1, *diff.shape[-3:]).mean(dim=0)
        loss = diff**2
        return loss.sum() if self.reduction == "sum" else loss.mean()


def lattice_power(x, period=PERIOD, floor=1e-6):
    """(.., 3, H, W) RGB (or (.., 1, H, W) grey) in [0, 1] -> (peaks, rings), each
    (.., period**2 - 1): the power at each lattice frequency ``(a*H/period, b*W/period)`` but
    (0, 0), and the mean power of its 8 neighbours two bins away
    (:func:`tecogan.metrics.grid.peaks_and_rings`), of the frame as
    :func:`tecogan.metrics.grid.grid_score_frame` sees it (grey, cut to multiples of
    ``period``, mean removed, 2-D Hann window).  ``floor`` (relative to the frame's mean power)
    keeps logs of them finite on flat frames.
    """
    p = period
    h, w = x.shape[-2] // p * p, x.shape[-1] // p * p
    if min(h, w) < 2 * p:
        raise UserError(f"GridPeak: frames of {x.shape[-1]}x{x.shape[-2]} are smaller than two {p}x{p} periods")
    if x.shape[-3] not in (1, 3):
        raise UserError(f"GridPeak: frames of {x.shape[-3]} channels; expected RGB (3) or grey (1)")
    weights = x.new_tensor(GREY_WEIGHTS if x.shape[-3] == 3 else (1.0,)).view(-1, 1, 1)
    grey = (x[..., :h, :w] * weights).sum(dim=-3)
    grey = grey - grey.mean(dim=(-2, -1), keepdim=True)
    window = torch.outer(
        torch.hann_window(h, periodic=False, dtype=x.dtype, device=x.device),
        torch.hann_window(w, periodic=False, dtype=x.dtype, device=x.device),
    )
    power = torch.fft.fft2(grey * window).abs() ** 2
    eps = floor * power.mean(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    peaks, rings = zip(*peaks_and_rings(power + eps, p), strict=True)
    return torch.stack(peaks, dim=-1), torch.stack(rings, dim=-1)


def lattice_peaks(x, period=PERIOD, floor=1e-6, ring_grad=True):
    """(.., 3, H, W) RGB or (.., 1, H, W) grey in [0, 1] -> (.., period**2 - 1): the grid
    score's terms, differentiable: log10 of each lattice frequency's power over its
    neighbours' (:func:`lattice_power`).  Without ``ring_grad`` the neighbours are constants:
    the gradient lowers a peak and never raises the power beside it.
    """
    return peak_ratios(*lattice_power(x, period, floor), ring_grad=ring_grad)


def peak_ratios(peaks, rings, ring_grad=True):
    """log10(peaks / rings) (:func:`lattice_power`'s pair); without ``ring_grad`` the rings are constants."""
    return torch.log10(peaks / (rings if ring_grad else rings.detach()))


def demesh(x, reference, period=PERIOD, width=1):
    """(.., c, H, W) frames -> the same frames with their mesh taken out, per channel, in the
    Fourier domain: at each lattice frequency ``(a*H/period, b*W/period)`` but (0, 0), and at the
    bins within ``width`` of it, the power is lowered (never raised) to at most its ring's (the
    mean power two bins from the lattice frequency, :func:`tecogan.metrics.grid.peaks_and_rings`)
    times ``reference``'s own power there over ``reference``'s ring.  Phases are kept, so
    whatever is not a mesh stays as it was; ``reference`` (the ground truth) keeps its own
    periodic texture: ``demesh(y, y)`` is ``y`` (to rounding).  H and W must be multiples of ``period``.
    """
    h, w = x.shape[-2:]
    if h % period or w % period or min(h, w) < 2 * period:
        raise UserError(f"demesh: frames of {w}x{h}; expected sides that are multiples of {period}, {2 * period} at least")
    spectrum = torch.fft.fft2(x.double())
    power = spectrum.abs() ** 2
    power_ref = torch.fft.fft2(reference.double()).abs() ** 2
    tiny = torch.finfo(torch.float64).tiny
    scale = torch.ones_like(power)
    rings = [ring for _, ring in peaks_and_rings(power, period)]
    rings_ref = [ring for _, ring in peaks_and_rings(power_ref, period)]
    for (a, b), ring, ring_ref in zip(lattice(period), rings, rings_ref, strict=True):
        y0, x0 = a * h // period, b * w // period
        for dy in range(-width, width + 1):
            for dx in range(-width, width + 1):
                y, x_ = (y0 + dy) % h, (x0 + dx) % w
                allowed = ring * power_ref[..., y, x_] / ring_ref.clamp_min(tiny)
                scale[..., y, x_] = (allowed / power[..., y, x_].clamp_min(tiny)).clamp(max=1.0).sqrt()
    return torch.fft.ifft2(spectrum * scale).real.to(x.dtype)


class GridPeakLoss(nn.Module):
    """How far the output's lattice frequencies stand above their neighbours, beyond the
    ground truth's: the mean of ``relu(peaks(x) - peaks(y))`` over frames and lattice bins
    (:func:`lattice_peaks`, the grid score's terms).

    Unlike :class:`LatticeLoss`, which squares the phase means' difference in grey levels, each
    term here is a ratio of powers: a faint mesh over dense texture (where the crop's own phase
    means are far larger than the mesh) costs as much as the same peak over a flat wall.  Peaks
    the ground truth has (periodic texture really there) cost nothing.

    With ``pool_time`` each (n, t, c, H, W) clip is averaged over its t frames first: a mesh
    that stays on the pixel lattice keeps its power while moving texture blurs, so on a
    128x128 crop the peak stands out more as it does on a whole frame (a crop alone has too
    few pixels for a faint mesh to stand above the texture beside it).

    With ``ring_grad: false`` the ratio's denominator is held constant, so the loss can only be
    lowered by taking power off the lattice frequencies, not by adding power two bins beside
    them (a mesh whose phase drifts across the crop, which a crop's ratio counts as gone).

    With ``keep_rings`` a second term, ``relu(log10(rings(y)) - log10(rings(x)))``, charges
    the output for having less power than the ground truth two bins beside each lattice
    frequency: the ratio can then not be lowered by smoothing away the texture around the mesh
    (what the grid-loss runs of session 42 did on 05_default_juggle).
    """

    def __init__(self, period=PERIOD, reduction="mean", pool_time=False, ring_grad=True, keep_rings=False):
        super().__init__()
        self.period, self.reduction, self.pool_time = period, reduction, pool_time
        self.ring_grad, self.keep_rings = ring_grad, keep_rings

    def forward(self, x, y):
        if self.pool_time:
            if x.dim() != 5:
                raise UserError(f"GridPeak: pool_time needs (n, t, c, H, W) clips, not {x.dim()}-D frames")
            x, y = x.mean(dim=1), y.mean(dim=1)
        peaks_x, rings_x = lattice_power(x, self.period)
        peaks_y, rings_y = lattice_power(y, self.period)
        excess = torch.relu(peak_ratios(peaks_x, rings_x, self.ring_grad) - peak_ratios(peaks_y, rings_y))
        if self.keep_rings:
            excess = excess + torch.relu(torch.log10(rings_y) - torch.log10(rings_x))
        return excess.sum() if self.reduction == "sum" else excess.mean()


def block_ranges(x, period=PERIOD, floor=1e-3 / 255):
    """(.., 3, H, W) RGB or (.., 1, H, W) grey in [0, 1] -> (..): the block score's terms,
    differentiable: per axis, log10 of the strongest lattice phase's edges over the weakest's
    (:func:`tecogan.metrics.grid.phase_edges`), averaged over the two axes.  ``floor`` (the
    metric's 0.001 grey levels) keeps the log finite on flat frames."""
    if x.shape[-3] not in (1, 3):
        raise UserError(f"BlockEdge: frames of {x.shape[-3]} channels; expected RGB (3) or grey (1)")
    if min(x.shape[-2:]) < 2 * period:
        raise UserError(f"BlockEdge: frames of {x.shape[-1]}x{x.shape[-2]} are smaller than two {period}x{period} periods")
    weights = x.new_tensor(GREY_WEIGHTS if x.shape[-3] == 3 else (1.0,)).view(-1, 1, 1)
    grey = (x * weights).sum(dim=-3)
    edges = torch.log10(torch.stack([torch.stack(pair, dim=-1) for pair in phase_edges(grey, period)], dim=-2) + floor)
    return (edges.amax(dim=-2) - edges.amin(dim=-2)).mean(dim=-1)


class BlockEdgeLoss(nn.Module):
    """How much more the output's edges gather on one phase of the 4-pixel lattice than the
    ground truth's: the mean of ``relu(block_ranges(x) - block_ranges(y))`` over frames.

    A GAN's 4x4 blocks have edges of every sign, so their lattice peaks (the grid score,
    :class:`GridPeakLoss`) stay low while the blocks are plain at 3x zoom; the mean size of the
    edges at each phase sees them on any crop."""

    def __init__(self, period=PERIOD, reduction="mean"):
        super().__init__()
        self.period, self.reduction = period, reduction

    def forward(self, x, y):
        excess = torch.relu(block_ranges(x, self.period) - block_ranges(y, self.period))
        return excess.sum() if self.reduction == "sum" else excess.mean()


def phase_jitter(x, y, step, period=4):
    """``x`` and ``y`` (.., H, W) cut alike by ``period - 1`` rows and columns, at the offset
    (dy, dx) that iteration ``step`` takes in turn (every one of the period x period offsets
    once in ``period**2`` iterations).

    A feature network that starts with a stride-``period`` convolution (AlexNet's conv1: 11x11,
    stride 4) samples the output on a 4x4 lattice aligned with the upsampler's, so its
    gradient treats the 16 phases unequally and can draw a mesh; cut at a moving offset, each
    phase is seen alike over the iterations.  Deterministic in ``step``: an exact resume cuts
    the same.
    """
    dy, dx = step % period, (step // period) % period
    h, w = x.shape[-2] - (period - 1), x.shape[-1] - (period - 1)
    return x[..., dy : dy + h, dx : dx + w], y[..., dy : dy + h, dx : dx + w]


def frame_changes(frames):
    """(n, t, c, h, w) -> (n, t-1, c, h, w): each frame minus the one before it.

    A distance between two sequences' changes ignores an error that stays put and counts one
    that comes and goes (flicker), which is what the temporal metrics see."""
    return frames[:, 1:] - frames[:, :-1]


# YAML ``type`` -> (a function of the reduction making the criterion, what it compares): "distance"
# (images and features), "feature" (features only), "adversarial" (logits), "lattice" (the
# output's 4x4 mesh against the ground truth's), "peak" (its lattice peaks) or "block" (its
# block edges).  Each *_crit section
# of the config accepts the names of its kinds from here: a new criterion is a class above plus
# one entry.
CRITERIA = {
    "MSE": (lambda reduction: nn.MSELoss(reduction=reduction), "distance"),
    "L1": (lambda reduction: nn.L1Loss(reduction=reduction), "distance"),
    "CB": (lambda reduction: CharbonnierLoss(reduction=reduction), "distance"),
    "CosineSimilarity": (lambda _reduction: CosineSimilarityLoss(), "feature"),
    "GAN": (VanillaGANLoss, "adversarial"),
    "LSGAN": (LSGANLoss, "adversarial"),
    "Lattice": (lambda reduction, pool=False: LatticeLoss(reduction=reduction, pool=pool), "lattice"),
    "GridPeak": (lambda reduction, **options: GridPeakLoss(reduction=reduction, **options), "peak"),
    "BlockEdge": (lambda reduction: BlockEdgeLoss(reduction=reduction), "block"),
}


def criterion_names(*kinds):
    """The criterion names of the given kinds, in table order."""
    return tuple(name for name, (_, kind) in CRITERIA.items() if kind in kinds)


def build_criterion(cfg):
    """A criterion from its YAML section ({type, weight, reduction}); None when absent."""
    if not cfg:
        return None
    if cfg["type"] not in CRITERIA:
        raise UserError(f"unknown criterion type {cfg['type']!r}")
    # the lattice and grid criteria's own keys
    options = {key: cfg[key] for key in ("pool", "pool_time", "ring_grad", "keep_rings") if key in cfg}
    return CRITERIA[cfg["type"]][0](cfg["reduction"], **options)
