"""Official TecoGAN metrics of SR sequence folders against their ground truth.

    python ./codes/official_metrics/metrics.py --output DIR \
        --results results/Vid4/MODEL/calendar,results/Vid4/MODEL/walk \
        --targets data/Vid4/GT/calendar,data/Vid4/GT/walk

Writes ``DIR/metrics.json``, ``DIR/metrics.csv`` and ``DIR/metricsfile.txt`` and prints
the summary.  See docs/metrics.md for the procedure and the output formats.
"""

import argparse
import os

if not __package__:  # run as a file from a clone: import this clone as the package `tecogan`
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "_clone.py"))

from tecogan.official_metrics.cli import add_runtime_args, check_metric_outputs, setup_runtime
from tecogan.official_metrics.procedure import evaluate_folders
from tecogan.official_metrics.report import format_summary, write_outputs
from tecogan.utils.errors import UserError, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Official TecoGAN metrics (PSNR, SSIM, LPIPS, tOF, tLP100) per sequence.")
    parser.add_argument("--output", required=True, help="folder receiving metrics.json, metrics.csv and metricsfile.txt")
    parser.add_argument("--results", required=True, help="comma-separated SR sequence folders (one folder of frames each)")
    parser.add_argument("--targets", required=True, help="comma-separated GT sequence folders, in the same order")
    add_runtime_args(parser)
    return parser.parse_args(argv)


def _split(value, option):
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UserError(f"{option}: empty list (expected comma-separated folders)")
    return items


def sequence_pairs(results, targets):
    """[(name, sr_dir, gt_dir)] with the name taken from the SR folder (made unique)."""
    if len(results) != len(targets):
        raise UserError(
            f"--results has {len(results)} folders but --targets has {len(targets)} (expected one GT folder per SR folder)"
        )
    pairs, seen = [], {}
    for sr_dir, gt_dir in zip(results, targets, strict=False):
        for folder, option in ((sr_dir, "--results"), (gt_dir, "--targets")):
            if not os.path.isdir(folder):
                raise UserError(f"{option}: {folder}: folder not found")
        name = os.path.basename(os.path.normpath(sr_dir))
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        pairs.append((name, sr_dir, gt_dir))
    return pairs


def main(argv=None):
    args = parse_args(argv)
    pairs = sequence_pairs(_split(args.results, "--results"), _split(args.targets, "--targets"))
    check_metric_outputs([args.output], pairs, args.overwrite)  # before the long work
    metrics, model, pool, device = setup_runtime(args)
    try:
        report, frame_names, skipped = evaluate_folders(
            pairs, model, pool=pool, batch_size=args.batch_size, device=device, metrics=metrics, pair_by=args.pair_by
        )
    finally:
        if pool is not None:
            pool.shutdown()
    write_outputs(args.output, report, frame_names, skipped=skipped)
    print(format_summary(report, skipped=skipped), end="")
    print(f"written: {os.path.join(args.output, 'metrics.json')}, metrics.csv, metricsfile.txt")
    return 0


def cli():
    """Console-script entry point: one-line errors, exit status."""
    run_cli(main)


if __name__ == "__main__":
    cli()
