"""A benchmark table in one command: test-mode inference, the official metrics, a Markdown table and a CSV.

    python scripts/benchmark_table.py --models frvsr-bd,tecogan --datasets FootageHeldout --lr_subdir Gaussian4xLR
    python scripts/benchmark_table.py --models frvsr-bd,demo=pretrained_models/FRVSR_BD_demo.pth \\
        --datasets val --data_root demo --lr_subdir Gaussian4xLR --out results/benchmark_demo_val.md

For every model M of ``--models`` (a shipped name: frvsr, frvsr-bd, tecogan, frvsr-real; a generator
checkpoint such as ``G_iter600.pth`` or ``G_ema_iter600.pth``; ``LABEL=PATH``; or ``bicubic``) and
every dataset D of ``--datasets`` (``<data_root>/D/GT/<seq>`` and ``<data_root>/D/<lr_subdir>/<seq>``):

1. ``scripts/sr_eval_sets.py`` super-resolves D's low-res clips with test mode's inference into
   ``<results_root>/D/<label>/<seq>`` (skipped when every sequence folder already holds one frame
   per low-res frame, unless ``--rerun``);
2. ``codes/official_metrics/evaluate.py`` scores them (``<results_root>/D/<label>/metric_log/``;
   skipped when its metrics.json is newer than the results, unless ``--rerun``);
3. the frame averages of PSNR (Y), SSIM, LPIPS, tOF and tLP100 are printed as a Markdown table, the
   best value of each dataset in bold, and written to ``--out`` (Markdown) and the same name with
   ``.csv`` (full precision).
"""

import argparse
import csv
import io
import json
import os
import runpy
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.official_metrics import METRICS
from tecogan.pretrained import PRETRAINED, resolve_model
from tecogan.utils.errors import UserError, run_cli, short
from tecogan.utils.fileio import atomic_write_json, atomic_write_text, list_images
from tecogan.utils.hashing import file_sha256
from tecogan.utils.outputs import FILE, check_outputs

HIGHER_IS_BETTER = {"PSNR", "SSIM"}
DIGITS = {"PSNR": 2, "SSIM": 3, "LPIPS": 3, "tOF": 3, "tLP100": 3}


def _script(name):
    """``main`` of a sibling script or of the official metrics (the same machinery, in this process)."""
    path = (
        os.path.join(REPO, "codes", "official_metrics", "evaluate.py")
        if name == "evaluate"
        else os.path.join(REPO, "scripts", f"{name}.py")
    )
    return runpy.run_path(path, run_name=f"benchmark_table_{name}")["main"]


def parse_models(text):
    """'frvsr,demo=path.pth,exp/G_iter5.pth' -> [(label, model)]; labels are folder names, unique."""
    models = []
    for item in (m.strip() for m in text.split(",")):
        if not item:
            continue
        label, sep, model = item.partition("=")
        if not sep:
            model = item
            if model.lower() in PRETRAINED or model == "bicubic":
                label = model.lower()
            else:
                label = _checkpoint_label(model)
        label, model = label.strip(), model.strip()
        if not label or any(c in label for c in "/\\\0") or label in (".", ".."):
            raise UserError(f"--models {item}: {label!r} is not a usable results folder name; write LABEL=PATH")
        if model.lower() not in PRETRAINED and model != "bicubic" and not os.path.isfile(model):
            raise UserError(
                f"--models {item}: {model}: neither a shipped model ({', '.join(PRETRAINED)}, bicubic) nor a checkpoint file"
            )
        models.append((label, model))
    if not models:
        raise UserError(f"--models {text!r}: empty list (expected e.g. frvsr-bd,tecogan)")
    labels = [lab for lab, _ in models]
    twice = sorted({lab for lab in labels if labels.count(lab) > 1})
    if twice:
        raise UserError(f"--models: the label {twice[0]} names two models; give one as LABEL=PATH")
    return models


def _checkpoint_label(path):
    """experiments_BD/X/001/train/ckpt/G_iter600.pth -> X_G_iter600; other paths: the file's stem."""
    stem = os.path.splitext(os.path.basename(path))[0]
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    if len(parts) >= 5 and parts[-2] == "ckpt" and parts[-3] == "train":
        return f"{parts[-5]}_{stem}"
    return stem


def results_complete(data_root, dataset, lr_subdir, results_root, label):
    """Every sequence of the dataset has its output folder with one frame per low-res frame."""
    lr_root = os.path.join(data_root, dataset, lr_subdir)
    seqs = sorted(d for d in os.listdir(lr_root) if os.path.isdir(os.path.join(lr_root, d)))
    for seq in seqs:
        out = os.path.join(results_root, dataset, label, seq)
        if not os.path.isdir(out) or len(list_images(out)) != len(list_images(os.path.join(lr_root, seq))):
            return False
    return bool(seqs)


MADE_BY = ".made_by.json"  # in a label's results folder: which model (by its file's SHA-256) made them


def made_by(model, degradation, lr_subdir):
    """What makes a label's results: the checkpoint file's SHA-256 (a shipped name resolved), or
    bicubic and the degradation it assumes."""
    if model == "bicubic":
        return {"model": "bicubic", "degradation": degradation or ("BD" if lr_subdir.startswith("Gaussian") else "BI")}
    return {"model": model, "sha256": file_sha256(resolve_model(model))}


def check_made_by(results_root, dataset, label, wanted):
    """The results of ``label`` there were made by ``wanted`` (or by nothing recorded: made before
    records, or by test.sh, and kept); another model's are one line: a label names one model."""
    path = os.path.join(results_root, dataset, label, MADE_BY)
    try:
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable record of the model that made these results ({err}); --rerun remakes them") from None
    found = found if isinstance(found, dict) else {}
    if {k: found.get(k) for k in wanted if k != "model"} != {k: v for k, v in wanted.items() if k != "model"}:
        what = short(found.get("sha256") or found.get("degradation"), 16)
        raise UserError(
            f"{os.path.dirname(path)}: made by {found.get('model')} ({what}), "
            f"not by {wanted['model']}; give this model another label (LABEL=PATH), or --rerun to replace them"
        )


def _newest_mtime(folder):
    newest = os.path.getmtime(folder)
    for root, _dirs, files in os.walk(folder):
        if os.path.basename(root) == "metric_log":
            continue
        for name in files:
            if name != MADE_BY:
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
    return newest


def metrics_current(results_root, dataset, label):
    res = os.path.join(results_root, dataset, label)
    report = os.path.join(res, "metric_log", "metrics.json")
    return os.path.isfile(report) and os.path.getmtime(report) >= _newest_mtime(res)


def read_summary(results_root, dataset, label):
    """{metric: frame average} of evaluate.py's metrics.json."""
    path = os.path.join(results_root, dataset, label, "metric_log", "metrics.json")
    try:
        with open(path, encoding="utf-8") as f:
            summary = json.load(f)["summary"]
        return {m: summary[m]["frame_avg"] for m in METRICS if m in summary}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a readable metrics.json of evaluate.py ({str(err)[:100]})") from None


def best_values(rows):
    """{(dataset, metric): the best value at the printed precision}."""
    best = {}
    for dataset, _label, values in rows:
        for m, v in values.items():
            if v is None:
                continue
            shown = round(v, DIGITS[m])
            key = (dataset, m)
            if key not in best or (shown > best[key] if m in HIGHER_IS_BETTER else shown < best[key]):
                best[key] = shown
    return best


MD_FIRST_LINE = "| dataset | model | "  # how a file this script wrote is known again (its header)
CSV_FIRST_LINE = "dataset,model,source,"


def _written_here(path):
    """A file this script wrote (its first line says so): a rerun replaces it without --overwrite."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return False
    return first.startswith((MD_FIRST_LINE, CSV_FIRST_LINE))


def markdown(rows, metrics=METRICS):
    """The table: one row per dataset and model, the best value of each dataset and metric in bold."""
    best = best_values(rows)
    arrows = {m: "↑" if m in HIGHER_IS_BETTER else "↓" for m in metrics}
    lines = ["| dataset | model | " + " | ".join(f"{m} {arrows[m]}" for m in metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for dataset, label, values in rows:
        cells = []
        for m in metrics:
            v = values.get(m)
            if v is None:
                cells.append("-")
                continue
            text = f"{v:.{DIGITS[m]}f}"
            cells.append(f"**{text}**" if round(v, DIGITS[m]) == best.get((dataset, m)) else text)
        lines.append(f"| {dataset} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows, models, metrics=METRICS):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "model", "source"] + list(metrics))
    source = dict(models)
    for dataset, label, values in rows:
        writer.writerow([dataset, label, source[label]] + ["" if values.get(m) is None else repr(values[m]) for m in metrics])
    return buf.getvalue()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", required=True, help="comma-separated: shipped names, checkpoint paths, LABEL=PATH, bicubic")
    p.add_argument("--datasets", required=True, help="comma-separated folders under --data_root, each with GT/ and the LR folder")
    p.add_argument("--data_root", default="data")
    p.add_argument(
        "--lr_subdir",
        default="LR",
        help="the low-res folder inside each dataset (default LR; Gaussian4xLR for BD sets, Bicubic4xLR for BI ones)",
    )
    p.add_argument(
        "--degradation",
        choices=("BD", "BI"),
        default=None,
        help="how the low-res frames were made, for the bicubic baseline (default: BD for a Gaussian* --lr_subdir, else BI)",
    )
    p.add_argument("--results_root", default="results")
    p.add_argument(
        "--out",
        default=None,
        help="the Markdown table (default <results_root>/benchmark.md); the CSV goes beside it with the suffix .csv",
    )
    p.add_argument("--rerun", action="store_true", help="super-resolve and score again what is already there")
    p.add_argument("--overwrite", action="store_true", help="replace an --out file (and its .csv) this script did not write")
    p.add_argument("--workers", type=int, default=None, help="evaluate.py's optical-flow threads")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    models = parse_models(args.models)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not datasets:
        raise UserError(f"--datasets {args.datasets!r}: empty list")
    for d in datasets:
        for sub in ("GT", args.lr_subdir):
            folder = os.path.join(args.data_root, d, sub)
            if not os.path.isdir(folder):
                raise UserError(
                    f"{folder}: not found (--datasets {d} --data_root {args.data_root} expects "
                    f"{d}/GT and {d}/{args.lr_subdir} with one folder per sequence)"
                )
    out_md = args.out or os.path.join(args.results_root, "benchmark.md")
    out_csv = os.path.splitext(out_md)[0] + ".csv"
    if out_csv == out_md:
        raise UserError(f"--out {out_md}: expected a file name ending in .md")
    data_inputs = [("--datasets", os.path.join(args.data_root, d)) for d in datasets]
    ours = all(_written_here(path) for path in (out_md, out_csv) if os.path.lexists(path))
    check_outputs([("--out", out_md, FILE), ("--out", out_csv, FILE)], data_inputs, overwrite=args.overwrite or ours)
    sr_eval_sets, evaluate = _script("sr_eval_sets"), _script("evaluate")
    common = ["--data_root", args.data_root, "--results_root", args.results_root]
    identity = {label: made_by(model, args.degradation, args.lr_subdir) for label, model in models}
    if not args.rerun:  # before any work: a label's results made by another model are not credited to this one
        for label, _model in models:
            for d in datasets:
                check_made_by(args.results_root, d, label, identity[label])
    for label, model in models:
        todo = [
            d for d in datasets if args.rerun or not results_complete(args.data_root, d, args.lr_subdir, args.results_root, label)
        ]
        if todo:
            print(f"{label}: super-resolving {', '.join(todo)}", flush=True)
            partial = [d for d in todo if os.path.isdir(os.path.join(args.results_root, d, label))]
            sr_eval_sets(
                ["--model", model, "--label", label, "--datasets", ",".join(todo), "--lr_subdir", args.lr_subdir]
                + (["--degradation", args.degradation] if args.degradation else [])
                + common
                + (["--overwrite"] if partial else [])
            )
            for d in todo:
                atomic_write_json(os.path.join(args.results_root, d, label, MADE_BY), identity[label])
        else:
            print(f"{label}: results of {', '.join(datasets)} already there (--rerun to make them again)", flush=True)
        score = [d for d in datasets if args.rerun or d in todo or not metrics_current(args.results_root, d, label)]
        if score:
            extra = ["--workers", str(args.workers)] if args.workers else []
            evaluate(["--model", label, "--datasets", ",".join(score), "--overwrite"] + common + extra)
    rows = [(d, label, read_summary(args.results_root, d, label)) for d in datasets for label, _ in models]
    table = markdown(rows)
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    atomic_write_text(out_md, table)
    atomic_write_text(out_csv, to_csv(rows, models))
    sys.stdout.write("\n" + table)
    print(f"\nwritten: {out_md}, {out_csv} (frame averages of the official metrics; LPIPS uses AlexNet)", flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
