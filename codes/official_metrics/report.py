"""Reports of the official metrics: summary averages, metrics.json / metrics.csv /
metricsfile.txt, and the printed tables (docs/metrics.md, "Output files")."""

import csv
import io
import math
import os

import numpy as np

from tecogan.official_metrics import METRICS, TEMPORAL
from tecogan.utils.fileio import atomic_write_json, atomic_write_text

CONVENTION = (
    "official TecoGAN metrics: frames [2, n-2) per sequence, crop_8x8, Y-PSNR, "
    "Y-SSIM (skimage, data_range=max-min of SR), LPIPS alex v0.1 on [-1,1] RGB, "
    "tOF Farneback(0.5,3,15,3,5,1.2,0) on grey frames, "
    "tLP100=|LPIPS(gt_prev,gt)-LPIPS(sr_prev,sr)|*100"
)


def mean(values):
    return float(np.mean(np.asarray(values, dtype=np.float64))) if len(values) else None


def summarize(per_sequence):
    """``{metric: {frame_avg, folder_avg, n_frames}}`` from ``{seq: {metric: [values]}}``.

    An average over no values (e.g. tOF of 5-frame sequences only) is None.
    """
    summary = {}
    seqs = list(per_sequence)
    metrics = [m for m in METRICS if seqs and all(m in per_sequence[s] for s in seqs)]
    for m in metrics:
        lists = [per_sequence[s][m] for s in seqs]
        values = [v for vals in lists for v in vals]
        seq_means = [mean(vals) for vals in lists if len(vals)]
        summary[m] = {"frame_avg": mean(values), "folder_avg": mean(seq_means), "n_frames": len(values)}
    return summary


def build_report(per_sequence):
    """The metrics.json structure: sequences, per_sequence, summary, convention."""
    per = {s: {m: [float(v) for v in vals] for m, vals in d.items()} for s, d in per_sequence.items()}
    return {"sequences": list(per), "per_sequence": per, "summary": summarize(per), "convention": CONVENTION}


def fmt(value, digits=6):
    if value is None:
        return "-"
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return str(value)
    return f"{value:.{digits}f}"


def format_summary(report, title=None, skipped=None):
    """Human-readable tables: per-sequence means, then frames / frame_avg / folder_avg."""
    summary = report["summary"]
    metrics = list(summary)
    lines = []
    if title:
        lines.append(title)
    width = max([8] + [len(s) for s in report["sequences"]])
    lines.append("sequence".ljust(width) + "".join(m.rjust(12) for m in metrics))
    for s in report["sequences"]:
        vals = report["per_sequence"][s]
        lines.append(s.ljust(width) + "".join(fmt(mean(vals[m])).rjust(12) for m in metrics))
    lines.append("")
    lines.append("metric".ljust(8) + "frames".rjust(8) + "frame_avg".rjust(14) + "folder_avg".rjust(14))
    for m in metrics:
        s = summary[m]
        lines.append(m.ljust(8) + str(s["n_frames"]).rjust(8) + fmt(s["frame_avg"]).rjust(14) + fmt(s["folder_avg"]).rjust(14))
    for seq, why in skipped or []:
        lines.append(f"skipped {seq}: {why}")
    return "\n".join(lines) + "\n"


def _csv_value(value):
    if value is None:
        return ""
    return repr(float(value))


def format_csv(report, frame_names=None):
    """metrics.csv: one row per evaluated frame, then per-sequence means, frame_avg, folder_avg.

    Columns ``sequence,frame,<metrics>``; temporal cells of a sequence's first evaluated
    frame are empty.  ``frame_names``: optional ``{seq: [GT file name per evaluated frame]}``.
    """
    metrics = list(report["summary"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sequence", "frame"] + metrics)
    for s in report["sequences"]:
        vals = report["per_sequence"][s]
        n_spatial = len(vals[metrics[0]]) if metrics else 0
        names = (frame_names or {}).get(s) or [str(i + 2) for i in range(n_spatial)]
        for j in range(n_spatial):
            row = [s, names[j]]
            for m in metrics:
                k = j - 1 if m in TEMPORAL else j
                row.append(_csv_value(vals[m][k]) if 0 <= k < len(vals[m]) else "")
            writer.writerow(row)
    for s in report["sequences"]:
        writer.writerow([s, "mean"] + [_csv_value(mean(report["per_sequence"][s][m])) for m in metrics])
    for key in ("frame_avg", "folder_avg"):
        writer.writerow(["ALL", key] + [_csv_value(report["summary"][m][key]) for m in metrics])
    return buf.getvalue()


def write_outputs(out_dir, report, frame_names=None, title=None, skipped=None):
    """Write metrics.json, metrics.csv and metricsfile.txt into ``out_dir`` (atomically)."""
    texts = {  # all made before any is written: a failure leaves no partial set
        "metrics.csv": format_csv(report, frame_names),
        "metricsfile.txt": format_summary(report, title=title, skipped=skipped),
    }
    os.makedirs(out_dir, exist_ok=True)
    for name, text in texts.items():
        atomic_write_text(os.path.join(out_dir, name), text)
    atomic_write_json(os.path.join(out_dir, "metrics.json"), report, indent=1)  # last: what tells a complete set
