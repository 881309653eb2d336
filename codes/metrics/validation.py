"""Validation metrics reported by the trainer (docs/metrics.md, "Validation metrics (training)").

These are NOT the official paper numbers (see :mod:`official_metrics`): every frame is
used, there is no border crop, and PSNR uses Y rounded to uint8.

Sequences are uint8 RGB numpy arrays of shape (t, h, w, 3), GT and SR of the same shape.

* :func:`psnr_y_uint8` -- per-frame PSNR on Y (BT.601 [16, 235] as DUF's ``rgb_to_ycbcr``,
  rounded to uint8), data range 255; identical frames give ``inf``.
* :func:`psnr_rgb_uint8` -- per-frame PSNR on the RGB values (``colorspace: rgb``).
* :func:`lpips_sequence` -- per-frame LPIPS (alex v0.1) on RGB in [-1, 1].
* :func:`tof_sequence` -- per-frame tOF from the second frame on: mean end-point error
  between Farneback flows (previous -> current grey frame) of GT and SR.
* ``Grid`` -- the spectral grid score of the SR frames (:mod:`tecogan.metrics.grid`): a 4x4
  mesh drawn by the network scores above 1, ground truth about -0.1.
* ``Block`` -- the block score of the SR frames (:mod:`tecogan.metrics.grid`): 4x4 blocks whose
  edges have every sign (which ``Grid`` misses) score 0.3 and more, ground truth about 0.01.
* :class:`ValidationMetrics` -- per-sequence averages (then averages over sequences) of the
  metrics named in the ``metric`` section of a training config.

Example::

    vm = ValidationMetrics({'PSNR': {'colorspace': 'y'}, 'LPIPS': {}, 'tOF': {}})   # bundled AlexNet
    vm.evaluate_sequence(gt, sr)            # {'PSNR': 27.1, 'LPIPS': 0.21, 'tOF': 0.25}
    vm.evaluate({'calendar': (gt1, sr1), 'city': (gt2, sr2)})   # mean over sequences
    vm.per_sequence                         # {'calendar': {...}, 'city': {...}}
"""

import json
import os
from collections.abc import Mapping

import numpy as np
import torch

from tecogan.config.schema import NUM, Key, Section, fill_section
from tecogan.metrics.functional import psnr, rgb_to_y_uint8, to_gray, tof_frame_pair
from tecogan.metrics.grid import block_score_frame, grid_score_frame
from tecogan.metrics.lpips_loader import load_lpips, uint8_to_lpips_input
from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import atomic_write_json


def _as_sequence(arr, what):
    arr = np.asarray(arr)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise UserError(f"{what}: expected uint8 RGB of shape (t, h, w, 3), got {arr.dtype} {arr.shape}")
    return arr


def _pair(gt, sr):
    gt = _as_sequence(gt, "gt")
    sr = _as_sequence(sr, "sr")
    if gt.shape != sr.shape:
        raise UserError(f"gt {gt.shape} and sr {sr.shape} differ (expected the same (t, h, w, 3))")
    return gt, sr


def psnr_y_uint8(gt, sr):
    """Per-frame PSNR (dB, float64 array of length t) on uint8-rounded Y, no border crop."""
    gt, sr = _pair(gt, sr)
    return np.array([psnr(rgb_to_y_uint8(g), rgb_to_y_uint8(s)) for g, s in zip(gt, sr, strict=False)])


def psnr_rgb_uint8(gt, sr):
    """Per-frame PSNR (dB) on the RGB values, no border crop."""
    gt, sr = _pair(gt, sr)
    return np.array([psnr(g, s) for g, s in zip(gt, sr, strict=False)])


def tof_sequence(gt_seq, sr_seq):
    """Per-frame tOF (float array of length t - 1; empty for a single frame)."""
    gt, sr = _pair(gt_seq, sr_seq)
    values = []
    prev = None
    for g, s in zip(gt, sr, strict=False):
        cur = (to_gray(g), to_gray(s))
        if prev is not None:
            values.append(tof_frame_pair(prev[0], cur[0], prev[1], cur[1]))
        prev = cur
    return np.array(values, dtype=np.float64)


def lpips_sequence(model, gt_seq, sr_seq, batch_size=8):
    """Per-frame LPIPS (float array of length t); ``model`` from :func:`metrics.lpips_loader.load_lpips`."""
    gt, sr = _pair(gt_seq, sr_seq)
    device = next(model.parameters()).device
    values = []
    with torch.inference_mode():
        for i in range(0, len(gt), batch_size):
            x = uint8_to_lpips_input(gt[i : i + batch_size], device)
            y = uint8_to_lpips_input(sr[i : i + batch_size], device)
            values.extend(model(x, y).reshape(-1).cpu().tolist())
    return np.array(values, dtype=np.float64)


def _psnr_values(vm, gt, sr):
    return psnr_rgb_uint8(gt, sr) if vm.config["PSNR"]["colorspace"] == "rgb" else psnr_y_uint8(gt, sr)


def _lpips_values(vm, gt, sr):
    return lpips_sequence(vm.lpips_model, gt, sr)


def _tof_values(vm, gt, sr):
    return tof_sequence(gt, sr)


def _grid_values(vm, gt, sr):
    """The spectral grid score of the SR frames alone (ground truth scores about -0.1)."""
    return [grid_score_frame(f) for f in sr]


def _block_values(vm, gt, sr):
    """The block score of the SR frames alone (ground truth scores about 0.01)."""
    return [block_score_frame(f) for f in sr]


_MULT = {"mult": Key(NUM, default=1.0)}
# name -> (per-frame values of a (gt, sr) sequence pair, its options in a config's ``metric``
# section).  The config's metric section is built from this table: a new validation metric is
# a function plus one entry here.
METRICS = {
    "PSNR": (_psnr_values, Section(dict(_MULT, colorspace=Key(str, default="y", choices=("y", "rgb"))))),
    "LPIPS": (
        _lpips_values,
        Section(
            dict(
                _MULT,
                model=Key(str, default="net-lin", choices=("net-lin",)),
                net=Key(str, default="alex", choices=("alex",)),
                colorspace=Key(str, default="rgb", choices=("rgb",)),
                spatial=Key(bool, default=False, choices=(False,)),
                version=Key((str, float), default="0.1", check=lambda v: str(v) == "0.1", expect="0.1"),
                weights=Key(str),
            )
        ),
    ),
    "tOF": (_tof_values, Section(dict(_MULT, colorspace=Key(str, default="rgb", choices=("rgb",))))),
    "Grid": (_grid_values, Section(dict(_MULT))),
    "Block": (_block_values, Section(dict(_MULT))),
}


class _Options(Mapping):
    """The metrics' option sections, read live from :data:`METRICS` (the config's ``metric`` keys)."""

    def __getitem__(self, name):
        return METRICS[name][1]

    def __iter__(self):
        return iter(METRICS)

    def __len__(self):
        return len(METRICS)


METRIC_OPTIONS = _Options()
KNOWN_METRICS = tuple(METRICS)  # the shipped ones (docs, official procedure)


def _mean(values):
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size else float("nan")


class ValidationMetrics:
    """Per-sequence validation metrics from a config's ``metric`` section.

    ``config``: ``{'PSNR': {'colorspace': 'y'|'rgb', 'mult': 1.0}, 'LPIPS': {'weights': PATH,
    'mult': 1.0, ...}, 'tOF': {'mult': 1.0}}`` -- any subset; None or an empty dict for a
    metric means its defaults.  ``mult`` scales the reported value (default 1).
    ``lpips_weights``: AlexNet weights for LPIPS when ``config['LPIPS']`` has no ``weights``
    (default: the bundled file; see :func:`metrics.lpips_loader.load_lpips`).  The LPIPS model is
    loaded here, so a missing backbone is reported before training starts.
    """

    def __init__(self, config, lpips_weights=None, device="cpu"):
        config = dict(config or {})
        unknown = [k for k in config if k not in METRICS]
        if unknown:
            raise UserError(f"metric: unknown metric(s) {', '.join(unknown)} (expected {', '.join(METRICS)})")
        self.config = fill_section(Section(METRIC_OPTIONS), config, "metric")  # the schema's defaults and checks
        self.names = [k for k in METRICS if k in self.config]
        self.lpips_model = None
        if "LPIPS" in self.config:
            path = self.config["LPIPS"].get("weights") or lpips_weights
            self.lpips_model = load_lpips(path, device=device)
        self.per_sequence = {}
        self._said = set()  # (metric, sequences) left out of an average, already said

    def _mult(self, name):
        mult = self.config[name]["mult"]
        return 1.0 if mult is None else float(mult)

    def evaluate_sequence(self, gt_seq, sr_seq):
        """``{metric: mean over the sequence's frames * mult}`` (tOF of one frame: NaN)."""
        gt, sr = _pair(gt_seq, sr_seq)
        result = {}
        for name in self.names:
            values = METRICS[name][0](self, gt, sr)
            result[name] = _mean(values) * self._mult(name)
        return result

    def evaluate(self, sequences):
        """Mean over sequences of the per-sequence averages.

        ``sequences``: ``{name: (gt, sr)}`` or an iterable of ``(name, gt, sr)``.  The
        per-sequence results are kept in ``self.per_sequence``.
        """
        items = sequences.items() if isinstance(sequences, dict) else ((name, (gt, sr)) for name, gt, sr in sequences)
        self.per_sequence = {}
        for name, (gt, sr) in items:
            self.per_sequence[name] = self.evaluate_sequence(gt, sr)
        return {name: self._average(name) for name in self.names}

    def _average(self, metric):
        """The mean over the sequences that have a value (tOF needs two frames: a one-frame
        sequence has none, and would make the average NaN); those left out are said once."""
        values = {seq: r[metric] for seq, r in self.per_sequence.items()}
        missing = sorted(seq for seq, v in values.items() if not np.isfinite(v))
        if missing and len(missing) < len(values) and (metric, tuple(missing)) not in self._said:
            self._said.add((metric, tuple(missing)))
            warn(f"{metric}: {', '.join(missing)} left out of the average (too few frames for it)")
        return _mean([v for v in values.values() if np.isfinite(v)] if len(missing) < len(values) else list(values.values()))


def update_avg_json(path, key, values):
    """Add/replace ``key`` (e.g. ``'G_iter10000'``) in the JSON file ``path`` (atomic).

    The file maps keys to ``{metric: value}``, as ``<json_dir>/<dataset>_avg.json``.
    """
    data = {}
    if os.path.isfile(path):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: cannot be read as JSON ({err})") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a JSON object of {{iteration: metrics}}")
    data[key] = {k: float(v) for k, v in values.items()}
    atomic_write_json(path, data)
    return data


def build_metric_calculator(opt, device, logger):
    """The validation metrics of the config's ``metric`` section (LPIPS dropped with a warning
    when its AlexNet weights are not available and no file was named)."""
    config = dict(opt.get("metric") or {})
    if not config:
        return None
    try:
        return ValidationMetrics(config, device=device)
    except UserError as err:
        if "LPIPS" not in config or (config["LPIPS"] or {}).get("weights"):
            raise  # not about LPIPS, or an explicit weights file that is wrong: the user's to fix
        warn(f"validation LPIPS disabled: {err}")
        logger.info(f"validation LPIPS disabled: {err}")
        config.pop("LPIPS")
        return ValidationMetrics(config, device=device) if config else None
