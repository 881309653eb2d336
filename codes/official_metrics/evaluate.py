"""Official TecoGAN metrics of one model's Vid4 and ToS3 results.

    python ./codes/official_metrics/evaluate.py --model TecoGAN_BD_iter500000

For each dataset D (default Vid4 and ToS3), ``results/D/<model>/<seq>`` is compared with
``data/D/GT/<seq>``; the outputs go to ``results/D/<model>/metric_log/`` (metrics.json,
metrics.csv, metricsfile.txt).  A dataset whose folders are missing is reported and skipped.
"""

import argparse
import os
import time

if not __package__:  # run as a file from a clone: import this clone as the package `tecogan`
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "_clone.py"))

from tecogan.utils.errors import exit_on_early_interrupt

if __name__ == "__main__":  # Ctrl-C while torch loads: one line and status 130, not a traceback
    exit_on_early_interrupt()

from tecogan.official_metrics.cli import add_runtime_args, check_metric_outputs, setup_runtime
from tecogan.official_metrics.procedure import evaluate_folders
from tecogan.official_metrics.report import format_summary, write_outputs
from tecogan.utils.errors import UserError, run_cli, warn

DATASET_SEQUENCES = {
    "Vid4": ("calendar", "city", "foliage", "walk"),
    "ToS3": ("bridge", "face", "room"),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Official TecoGAN metrics of results/<dataset>/<model> against data/<dataset>/GT."
    )
    parser.add_argument("--model", required=True, help="results folder name of the model, e.g. TecoGAN_BD_iter500000")
    parser.add_argument(
        "--datasets",
        default="Vid4,ToS3",
        help="comma-separated datasets (default Vid4,ToS3); other names use every sequence folder of <data_root>/<dataset>/GT",
    )
    parser.add_argument("--data_root", default="data", help="folder holding <dataset>/GT (default data)")
    parser.add_argument("--results_root", default="results", help="folder holding <dataset>/<model> (default results)")
    add_runtime_args(parser)
    return parser.parse_args(argv)


def dataset_pairs(dataset, model, data_root, results_root):
    """([(seq, sr_dir, gt_dir)], results_dir) or (None, reason) when the dataset is absent."""
    gt_root = os.path.join(data_root, dataset, "GT")
    res_root = os.path.join(results_root, dataset, model)
    if not os.path.isdir(gt_root):
        return None, f"ground truth {gt_root} not found"
    if not os.path.isdir(res_root):
        return None, f"results {res_root} not found"
    sequences = DATASET_SEQUENCES.get(dataset)
    if sequences is None:
        sequences = sorted(d for d in os.listdir(gt_root) if os.path.isdir(os.path.join(gt_root, d)))
    pairs, missing = [], []
    for seq in sequences:
        sr_dir, gt_dir = os.path.join(res_root, seq), os.path.join(gt_root, seq)
        if os.path.isdir(sr_dir) and os.path.isdir(gt_dir):
            pairs.append((seq, sr_dir, gt_dir))
        else:
            missing.append(seq)
    if missing:
        warn(f"{dataset}: sequence(s) {', '.join(missing)} missing in {res_root} or {gt_root}; averages use the others")
    if not pairs:
        return None, f"no sequence found in both {res_root} and {gt_root}"
    return pairs, res_root


def main(argv=None):
    args = parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not datasets:
        raise UserError("--datasets: empty list (expected e.g. Vid4,ToS3)")
    plan = []
    for dataset in datasets:
        pairs, where = dataset_pairs(dataset, args.model, args.data_root, args.results_root)
        if pairs is None:
            print(f"{dataset}: skipped ({where})", flush=True)
        else:
            plan.append((dataset, pairs, where))
    if not plan:
        raise UserError(
            f"nothing to evaluate for model {args.model}: none of {', '.join(datasets)} "
            f"has both {args.results_root}/<dataset>/{args.model} and "
            f"{args.data_root}/<dataset>/GT"
        )
    check_metric_outputs(
        [os.path.join(where, "metric_log") for _, _, where in plan],  # before the long work
        [p for _, pairs, _ in plan for p in pairs],
        args.overwrite,
        label="metric_log",
        # a metric_log/ in a dataset's GT folder (GT scored against itself) would be taken for
        # one more GT sequence by every later evaluation of that dataset
        gt_roots=sorted({os.path.join(args.data_root, dataset, "GT") for dataset, _, _ in plan}),
    )
    metrics, model, pool, device = setup_runtime(args)
    try:
        for dataset, pairs, res_root in plan:
            t0 = time.time()
            print(f"{dataset}: {len(pairs)} sequence(s) of {res_root}", flush=True)
            report, frame_names, skipped = evaluate_folders(
                pairs,
                model,
                pool=pool,
                batch_size=args.batch_size,
                device=device,
                log=lambda msg: print("  " + msg, flush=True),
                metrics=metrics,
                pair_by=args.pair_by,
            )
            out_dir = os.path.join(res_root, "metric_log")
            title = f"{dataset} / {args.model}"
            write_outputs(out_dir, report, frame_names, title=title, skipped=skipped)
            print(format_summary(report, title=title, skipped=skipped), end="")
            print(f"{dataset}: {time.time() - t0:.1f} s; written to {out_dir}/\n", flush=True)
    finally:
        if pool is not None:
            pool.shutdown()
    return 0


def cli():
    """Console-script entry point: one-line errors, exit status."""
    run_cli(main)


if __name__ == "__main__":
    cli()
