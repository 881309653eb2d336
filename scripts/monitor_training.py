"""Plot the loss curves of a training log and the validation-metric curves.

    python scripts/monitor_training.py --degradation BD --model TecoGAN --dataset Vid4
    python scripts/monitor_training.py --exp_dir experiments_BD/FRVSR_demo/001 --dataset demo_val
    python scripts/monitor_training.py --exp_dir experiments_BD/FRVSR_footage/001 --baseline PSNR=24.13:bicubic
    python scripts/monitor_training.py --exp_dir experiments_BI/FRVSR_real/001 --label Real \
        --compare "H.264 only=experiments_BI/FRVSR_real_h264/001" --dataset FootageValCRF30

Reads ``<exp_dir>/train/train.log`` and ``<exp_dir>/test/metrics/<dataset>_avg.json`` and
writes ``<exp_dir>/plots/losses.png`` and ``<exp_dir>/plots/metrics_<dataset>.png``.
``--baseline METRIC=VALUE[:LABEL]`` (repeatable) draws a dashed reference line, e.g. the
bicubic score of the validation set, into that metric's panel.  ``--compare LABEL=EXP_DIR``
(repeatable) draws other experiments' validation curves on the same dataset into the same panels
(``--label`` names this experiment's curve), for comparing recipes.
"""

import argparse
import json
import os
import re
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli, short, warn

LINE_RE = re.compile(r"\[epoch: (\d+) \| iter: (\d+)(?: \| [^\]]*)?\] (.*)$")


def parse_log(path):
    """{name: ([iters], [values])} from the trainer's log lines."""
    from tecogan.utils.fileio import check_regular_file

    check_regular_file(path, "training log")
    curves = {}
    with open(path, encoding="utf-8", errors="replace") as f:  # a damaged byte costs one line, not the plot
        for line in f:
            m = LINE_RE.search(line.strip())
            if not m:
                continue
            it = int(m.group(2))
            for part in m.group(3).split(", "):
                name, _, value = part.partition(": ")
                try:
                    v = float(value)
                except ValueError:
                    continue
                xs, ys = curves.setdefault(name.strip(), ([], []))
                while xs and xs[-1] >= it:  # a resumed run logs again from its checkpoint: its points replace
                    xs.pop()  # those the stopped run logged past it
                    ys.pop()
                xs.append(it)
                ys.append(v)
    return curves


def parse_metrics(path, series="G"):
    """{metric: ([iters], [values])} from a <dataset>_avg.json file
    (``{"G_iter<N>": {"<metric>": number, ...}, ...}``, as the trainer writes it); ``series``
    "G_ema" reads the EMA generator's entries (``G_ema_iter<N>``, train.ema_decay) instead."""
    expected = 'expected {"G_iter<N>": {"<metric>": number, ...}, ...} as the trainer writes it'
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not readable JSON ({str(err)[:120]}; truncated?); {expected}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: holds a {type(data).__name__}; {expected}")
    rows = []
    for k, values in data.items():
        digits = re.sub(r"\D", "", k)
        if (
            not digits
            or len(digits) > 12
            or not isinstance(values, dict)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values())
        ):
            raise UserError(f"{path}: entry {short(k)}: {short(values)}; {expected}")
        if k.startswith("G_ema_") == (series == "G_ema"):
            rows.append((int(digits), values))
    rows.sort(key=lambda r: r[0])
    curves = {}
    for it, values in rows:
        for name, v in values.items():
            xs, ys = curves.setdefault(name, ([], []))
            xs.append(it)
            ys.append(v)
    return curves


def parse_baseline(text):
    """``'PSNR=24.13:bicubic'`` -> ``('PSNR', 24.13, 'bicubic')`` (the label defaults to the text)."""
    name, sep, rest = text.partition("=")
    value, _, label = rest.partition(":")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not sep or not name or number is None or number != number or abs(number) > PLOT_MAX:
        raise UserError(f"--baseline {text!r}: expected METRIC=VALUE[:LABEL] with a finite VALUE, e.g. PSNR=24.13:bicubic")
    return name, number, label or f"{name} = {value}"


PLOT_MAX = 1e30  # larger values (1e308, inf, nan, 10**400) cannot be drawn: left out with a warning


def _plottable(xs, ys, where):
    """The points of one curve that can be drawn; a warning names the curve when some cannot."""

    keep_x, keep_y, dropped = [], [], []
    for x, y in zip(xs, ys, strict=False):
        try:
            ok = abs(float(y)) <= PLOT_MAX  # False for nan; OverflowError for huge integers
        except OverflowError:
            ok = False
        if ok:
            keep_x.append(x)
            keep_y.append(float(y))
        else:
            dropped.append((x, y))
    if dropped:
        x, y = dropped[0]
        warn(f"{where}: {len(dropped)} value(s) too large or not finite to plot (e.g. {short(y)} at iteration {x}); left out")
    return keep_x, keep_y


def parse_compare(text):
    """``'H.264 only=experiments_BI/X/001'`` -> ``('H.264 only', 'experiments_BI/X/001')``."""
    label, sep, exp_dir = text.partition("=")
    if not sep or not label.strip() or not exp_dir.strip():
        raise UserError(f"--compare {text!r}: expected LABEL=EXP_DIR, e.g. 'H.264 only=experiments_BI/FRVSR_real_h264/001'")
    if not os.path.isdir(exp_dir):
        raise UserError(f"--compare {text!r}: {exp_dir}: experiment folder not found")
    return label.strip(), exp_dir


def plot(curves, title, out_path, baselines=(), others=(), label=None):
    """One panel per curve of ``curves`` ({name: (xs, ys)}); ``others``: (label, curves) drawn
    into the panels of the same names, ``label`` naming ``curves`` then."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tecogan.utils.fileio import atomic_write

    names = sorted(curves)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        series = [(label, curves[name])] + [(lab, c[name]) for lab, c in others if name in c]
        for lab, curve in series:
            xs, ys = _plottable(*curve, f"{title}: {name}" + (f" ({lab})" if lab else ""))
            ax.plot(xs, ys, marker="." if len(xs) < 30 else None, label=lab if len(series) > 1 else None)
        lines = [(v, lab) for metric, v, lab in baselines if metric == name]
        for k, (v, lab) in enumerate(lines):
            ax.axhline(v, linestyle=("--", ":", "-.")[k % 3], color="gray", label=lab)
        if lines or len(series) > 1:
            ax.legend(loc="best", fontsize="small")
        ax.set_title(name)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(out_path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"), suffix=".png")
    plt.close(fig)
    print(out_path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--degradation", default="BD")
    p.add_argument("--model", default="TecoGAN")
    p.add_argument("--dataset", default=None, help="validation dataset name (default: every *_avg.json)")
    p.add_argument("--exp_dir", default=None, help="experiment folder (default experiments_<deg>/<model>/001)")
    p.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="METRIC=VALUE[:LABEL]",
        help="dashed reference line in a metric's validation panel (repeatable)",
    )
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=EXP_DIR",
        help="another experiment's validation curves in the same panels (repeatable)",
    )
    p.add_argument("--label", default="this run", help="this experiment's curve label when --compare is given")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    baselines = [parse_baseline(b) for b in args.baseline]
    compares = [parse_compare(c) for c in args.compare]
    exp_dir = args.exp_dir or os.path.join("experiments_" + args.degradation, args.model, "001")
    if not args.exp_dir and not os.path.isdir(exp_dir) and os.path.isdir(os.path.join(REPO, exp_dir)):
        exp_dir = os.path.join(REPO, exp_dir)  # run from outside the repository
    if not os.path.isdir(exp_dir):
        raise UserError(f"{exp_dir}: experiment folder not found")
    out_dir = os.path.join(exp_dir, "plots")
    losses = parse_log(os.path.join(exp_dir, "train", "train.log"))
    if not losses:
        raise UserError(f"{os.path.join(exp_dir, 'train', 'train.log')}: no loss lines yet")
    plot(losses, f"{exp_dir}: training losses (running averages)", os.path.join(out_dir, "losses.png"))
    metric_dir = os.path.join(exp_dir, "test", "metrics")
    names = (
        [args.dataset]
        if args.dataset
        else sorted(
            f[: -len("_avg.json")]
            for f in (os.listdir(metric_dir) if os.path.isdir(metric_dir) else [])
            if f.endswith("_avg.json")
        )
    )
    plotted = set()
    for name in names:
        path = os.path.join(metric_dir, f"{name}_avg.json")
        if not os.path.isfile(path):
            raise UserError(f"{path}: no validation metrics for dataset {name}")
        others = []
        for lab, other_dir in compares:
            other = os.path.join(other_dir, "test", "metrics", f"{name}_avg.json")
            if not os.path.isfile(other):
                raise UserError(f"--compare {lab}={other_dir}: {other}: no validation metrics for dataset {name}")
            others.append((lab, parse_metrics(other)))
        ema = parse_metrics(path, "G_ema")
        if ema:  # train.ema_decay: the EMA generator's curves in the same panels
            others.insert(0, ("EMA of G", ema))
        metrics = parse_metrics(path)
        if not metrics:
            raise UserError(
                f"{path}: no validation values of the generator G (expected entries such as "
                '"G_iter400": {"PSNR": ...}); nothing to plot'
            )
        plotted.update(metrics)
        plot(
            metrics,
            f"{exp_dir}: validation on {name}",
            os.path.join(out_dir, f"metrics_{name}.png"),
            baselines,
            others,
            args.label if compares else ("G" if ema else None),
        )
    unused = sorted({metric for metric, _, _ in baselines} - plotted)
    if unused:
        warn(f"--baseline {', '.join(unused)}: no validation panel of that name (panels: {', '.join(sorted(plotted)) or 'none'})")
    return 0


if __name__ == "__main__":
    run_cli(main)
