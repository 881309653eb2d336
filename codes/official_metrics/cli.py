"""Options and set-up shared by the official-metrics commands (evaluate.py, metrics.py)."""

import os
from concurrent.futures import ThreadPoolExecutor

import cv2

from tecogan.metrics.lpips_loader import load_lpips
from tecogan.official_metrics.procedure import METRICS
from tecogan.utils.device import parse_device
from tecogan.utils.errors import UserError
from tecogan.utils.outputs import FILE, PARENT, check_outputs


def make_pool(workers):
    """Thread pool for the optical flows (OpenCV releases the GIL), or None for ``workers`` <= 1."""
    if workers is None or workers <= 1:
        return None
    workers = min(int(workers), 64)

    cv2.setNumThreads(1)
    return ThreadPoolExecutor(max_workers=int(workers))


def default_workers():
    return max(1, min(4, os.cpu_count() or 1))


def add_runtime_args(parser):
    """Options shared by evaluate.py and metrics.py."""
    parser.add_argument(
        "--lpips_weights",
        default=None,
        metavar="PATH",
        help="ImageNet AlexNet 'features.*' state dict for LPIPS (default: "
        "$TECOGAN_LPIPS_WEIGHTS, else the bundled "
        "pretrained_models/alexnet_imagenet_features.pth)",
    )
    parser.add_argument("--device", default="auto", help="device for LPIPS: auto (default), cpu, cuda or cuda:<k>")
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="threads computing optical flows in parallel (default: min(4, CPU count); 1 = no extra thread)",
    )
    parser.add_argument("--batch_size", type=int, default=4, help="frames per LPIPS batch (default 4)")
    parser.add_argument(
        "--metrics",
        default=",".join(METRICS),
        help=f"comma-separated subset of {','.join(METRICS)} (default: all); without "
        f"LPIPS and tLP100 no AlexNet network is loaded",
    )
    parser.add_argument(
        "--pair_by",
        choices=("name", "position"),
        default="name",
        help="pair SR and GT frames by name (default: the same stem, or the same last number "
        "as in output_0001.png / col_high_0001.png) or by position (sorted order, as the "
        "official code)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing metrics.json / metrics.csv / metricsfile.txt (kept otherwise)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


OUTPUT_FILES = ("metrics.json", "metrics.csv", "metricsfile.txt")


def check_metric_outputs(out_dirs, pairs, overwrite=False, label="--output", gt_roots=()):
    """Before the long work: each output folder and its three files are safe to write (not an
    input, not existing without ``overwrite``, writable); ``gt_roots``: folders of GT sequences
    (a dataset's ``GT/``) no output may lie in."""
    outputs = []
    for out_dir in out_dirs:
        outputs.append((label, out_dir, PARENT))
        outputs += [("", os.path.join(out_dir, name), FILE) for name in OUTPUT_FILES]
    inputs = [(opt, folder) for _, sr_dir, gt_dir in pairs for opt, folder in (("--results", sr_dir), ("--targets", gt_dir))]
    inputs += [("--targets", root) for root in gt_roots]
    check_outputs(outputs, inputs, overwrite)


def parse_metrics(text):
    """'PSNR,SSIM,tOF' -> ('PSNR', 'SSIM', 'tOF') in the report's order; unknown names are one error."""
    names = [m.strip() for m in str(text).split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise UserError(f"--metrics {text}: expected a comma-separated subset of {','.join(METRICS)}")
    return tuple(m for m in METRICS if m in names)


def setup_runtime(args):
    """(metrics, lpips_model or None, pool, device) from the shared options."""

    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: expected an integer >= 1")
    if args.batch_size < 1:
        raise UserError(f"--batch_size {args.batch_size}: expected an integer >= 1")
    metrics = parse_metrics(args.metrics)
    device = parse_device(args.device)
    model = load_lpips(args.lpips_weights, device=device) if {"LPIPS", "tLP100"} & set(metrics) else None
    return metrics, model, make_pool(args.workers), device
