"""The official metrics of one sequence from Python: ``tecogan.metrics.official_metrics``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tecogan.errors import UserError
from tecogan.metrics.lpips_loader import load_lpips
from tecogan.official_metrics import METRICS
from tecogan.official_metrics.procedure import evaluate_sequence
from tecogan.official_metrics.report import mean


def official_metrics(
    gt_frames: Sequence,
    sr_frames: Sequence,
    lpips_weights: str | None = None,
    metrics: Sequence[str] = METRICS,
    device: str = "cpu",
    lpips_model: Any = None,
) -> dict:
    """The official TecoGAN metrics of one sequence.

    ``gt_frames``/``sr_frames``: equally long sequences of (h, w, 3) uint8 RGB arrays (or
    image paths), at least 5 frames (frames ``[2, n-2)`` are evaluated).  ``metrics``: any
    subset of ``METRICS``; LPIPS and tLP100 need the ImageNet AlexNet weights
    (``lpips_weights``, ``$TECOGAN_LPIPS_WEIGHTS`` or torchvision's cache) or a loaded
    ``lpips_model``.  Returns ``{"per_frame": {metric: [values]}, "mean": {metric: value}}``.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise UserError(f"metrics {unknown}: expected a subset of {METRICS}")
    if lpips_model is None and {"LPIPS", "tLP100"} & set(metrics):
        lpips_model = load_lpips(lpips_weights, device=device)
    per_frame = evaluate_sequence(list(gt_frames), list(sr_frames), lpips_model, device=device, metrics=metrics)
    return {"per_frame": per_frame, "mean": {m: mean(v) for m, v in per_frame.items()}}
