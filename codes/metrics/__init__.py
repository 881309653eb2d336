"""Video super-resolution metrics on arrays (frames are (h, w, 3) uint8 RGB numpy arrays).

The official TecoGAN procedure, the numbers of papers (docs/metrics.md)::

    from tecogan import metrics
    scores = metrics.official_metrics(gt_frames, sr_frames)   # LPIPS: the bundled AlexNet weights
    scores["mean"]["PSNR"], scores["per_frame"]["tOF"]
    metrics.official_metrics(gt_frames, sr_frames, metrics=("PSNR", "SSIM", "tOF"))   # no LPIPS network loaded

Frame-level pieces: :func:`psnr_y`, :func:`ssim_y` (on already cropped frames), :func:`crop_8x8`,
:func:`tof`; the validation metrics the trainer logs: :func:`psnr_y_uint8`, :func:`tof_sequence`,
:func:`lpips_sequence`; LPIPS itself: :func:`load_lpips`.

Modules: :mod:`tecogan.metrics.functional` (Y conversion, PSNR, Farneback flow, tOF),
:mod:`tecogan.metrics.lpips_loader` (LPIPS alex v0.1 without internet),
:mod:`tecogan.metrics.validation` (validation metrics), and :mod:`tecogan.official_metrics`
(the official procedure, its reports and commands).
"""
from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

METRICS = ("PSNR", "SSIM", "LPIPS", "tOF", "tLP100")

_LAZY = {
    "psnr_y": "tecogan.official_metrics.procedure", "ssim_y": "tecogan.official_metrics.procedure",
    "crop_8x8": "tecogan.official_metrics.procedure", "summarize": "tecogan.official_metrics.report",
    "tof": ("tecogan.metrics.functional", "tof_frame_pair"),
    "psnr_y_uint8": "tecogan.metrics.validation", "tof_sequence": "tecogan.metrics.validation",
    "lpips_sequence": "tecogan.metrics.validation", "load_lpips": "tecogan.metrics.lpips_loader",
}
__all__ = ["official_metrics", "METRICS", *_LAZY]


def __getattr__(name: str) -> Any:  # imported on use: the official procedure imports this package
    if name in _LAZY:
        target = _LAZY[name]
        module, attr = target if isinstance(target, tuple) else (target, name)
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'tecogan.metrics' has no attribute {name!r}")


def official_metrics(gt_frames: Sequence, sr_frames: Sequence, lpips_weights: str | None = None,
                     metrics: Sequence[str] = METRICS, device: str = "cpu", lpips_model: Any = None) -> dict:
    """The official TecoGAN metrics of one sequence.

    ``gt_frames``/``sr_frames``: equally long sequences of (h, w, 3) uint8 RGB arrays (or
    image paths), at least 5 frames (frames ``[2, n-2)`` are evaluated).  ``metrics``: any
    subset of ``METRICS``; LPIPS and tLP100 use the ImageNet AlexNet weights
    bundled in ``pretrained_models/`` unless ``lpips_weights`` (a file), ``$TECOGAN_LPIPS_WEIGHTS``
    or a loaded ``lpips_model`` is given.  Returns ``{"per_frame": {metric: [values]}, "mean": {metric: value}}``.
    """
    from tecogan.official_metrics.procedure import evaluate_sequence
    from tecogan.official_metrics.report import mean
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics {unknown}: expected a subset of {METRICS}")
    if lpips_model is None and {"LPIPS", "tLP100"} & set(metrics):
        from tecogan.metrics.lpips_loader import load_lpips
        lpips_model = load_lpips(lpips_weights, device=device)
    per_frame = evaluate_sequence(list(gt_frames), list(sr_frames), lpips_model, device=device, metrics=metrics)
    return {"per_frame": per_frame, "mean": {m: mean(v) for m, v in per_frame.items()}}
