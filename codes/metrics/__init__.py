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
from typing import Any

METRICS = ("PSNR", "SSIM", "LPIPS", "tOF", "tLP100")

# names re-exported on first use: the official procedure (tecogan.official_metrics) builds on
# this package's frame functions, so this package cannot import it while it is being imported
_LAZY = {
    "official_metrics": "tecogan.official_metrics.api",
    "psnr_y": "tecogan.official_metrics.procedure",
    "ssim_y": "tecogan.official_metrics.procedure",
    "crop_8x8": "tecogan.official_metrics.procedure",
    "summarize": "tecogan.official_metrics.report",
    "tof": ("tecogan.metrics.functional", "tof_frame_pair"),
    "psnr_y_uint8": "tecogan.metrics.validation",
    "tof_sequence": "tecogan.metrics.validation",
    "lpips_sequence": "tecogan.metrics.validation",
    "load_lpips": "tecogan.metrics.lpips_loader",
}
__all__ = ["official_metrics", "METRICS", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        target = _LAZY[name]
        module, attr = target if isinstance(target, tuple) else (target, name)
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'tecogan.metrics' has no attribute {name!r}")
