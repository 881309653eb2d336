"""Speed and quality of every inference precision this machine runs, over whole clips.

    nice python scripts/benchmark_precision.py --models frvsr frvsr-bd tecogan \\
        --clips demo/val/GT/coffee data/FootageHeldout/GT/car-shadow --write_table

For each shipped model and each held-out GT clip (a folder of frames: the bundled
``demo/val/GT/coffee``, or the held-out footage that ``scripts/prepare_footage.py`` writes to
``data/FootageHeldout/GT``), the low-res input is made as the model was trained (BD: Gaussian
blur + subsampling; BI: bicubic imresize), then upscaled as test mode does (5 reflected frames
first) with fp32 through the torch backend and with every (backend, precision) pair this
machine runs natively (tecogan.inference.precision), ``--rounds`` times, interleaved frame by frame (each
pair keeps its own recurrent state), so that all pairs see the same machine load even when it
changes within a clip; the fastest round of each is kept. Printed per pair: frames/s and
its ratio to fp32 torch, Y-PSNR / LPIPS / tOF against GT and their deltas to fp32, and the PSNR
of the output against fp32's output on the first and last 10 frames (drift), with the CPU flags.
Set-up time (conversion, quantization, compiling for each input size) is printed apart or not timed:
it is paid once (cached).

``--write_table`` stores the summary per model and CPU class (weights hash -> class -> rows, with
the machine and the command) in ``codes/inference/precision_table.json``, which ``precision=auto``
reads; the other classes' rows are kept. The class is this CPU's within any ``ONEDNN_MAX_CPU_ISA``
cap, so one machine measures the classes below its own (an AVX2 CPU on an AVX-512 one)::

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        python scripts/benchmark_precision.py --models frvsr --threads 1 --write_table
"""

import argparse
import fcntl
import json
import os
import runpy
import sys
import threading
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

import torch

from tecogan.networks import own_settings
from tecogan.utils.errors import UserError, run_cli

DEFAULT_CLIPS = [
    os.path.join(REPO, "demo", "val", "GT", "coffee"),
    os.path.join(REPO, "data", "FootageHeldout", "GT", "car-shadow"),
]
FLAGS_SHOWN = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_fp16", "avx512_vnni", "avx_vnni", "amx_int8")
# the variables that cap the kernels torch and OpenVINO use (how a lower CPU class is measured)
CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")


def read_clip(folder, scale, degradation, max_frames=0):
    """GT frames (cropped to a multiple of ``scale``) and their low-res input."""
    from tecogan.ops.degradation import degrade_bd
    from tecogan.ops.imresize import imresize
    from tecogan.utils.fileio import read_image_rgb

    if not os.path.isdir(folder):
        raise UserError(f"{folder}: clip folder not found (held-out footage: python scripts/prepare_footage.py)")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg", ".jpeg")))
    if max_frames:
        names = names[:max_frames]
    if len(names) < 2:
        raise UserError(f"{folder}: needs at least 2 frames, found {len(names)}")
    gt, lr = [], []
    for n in names:
        img = read_image_rgb(os.path.join(folder, n))
        h, w = img.shape[0] // scale * scale, img.shape[1] // scale * scale
        img = np.ascontiguousarray(img[:h, :w])
        gt.append(img)
        low = degrade_bd(img, 1.5, scale) if degradation == "BD" else imresize(img, 1.0 / scale)
        lr.append(np.ascontiguousarray(low))
    return np.stack(gt), np.stack(lr)


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def quality(metrics_lpips, gt, out):
    from tecogan.metrics.validation import lpips_sequence, psnr_y_uint8, tof_sequence

    return {
        "psnr": float(np.mean(psnr_y_uint8(gt, out))),
        "lpips": float(np.mean(lpips_sequence(metrics_lpips, gt, out))),
        "tof": float(np.mean(tof_sequence(gt, out))),
    }


def run_model(name, clips, rounds, max_frames, lpips_model, report):
    import tecogan
    from tecogan.inference.auto import native_precisions
    from tecogan.inference.precision import weights_hash
    from tecogan.inference.steppers import RecurrentUpscaler, infer_sequence

    net = tecogan.load_generator(name)
    pairs = native_precisions(torch.device("cpu"))  # fp32 torch first; OpenVINO fp32 included where installed
    upscalers, setup = {}, {}
    for b, p in pairs:
        start = time.perf_counter()
        upscalers[(b, p)] = RecurrentUpscaler(net, "cpu", backend=b, precision=p)
        setup[(b, p)] = time.perf_counter() - start
    report(
        f"{name} ({os.path.basename(tecogan.pretrained.resolve_model(name))}, {net.degradation}, "
        f"{own_settings(net.arch())}): set-up " + ", ".join(f"{b}/{p} {s:.1f} s" for (b, p), s in setup.items())
    )
    totals = {
        bp: {"frames": 0, "seconds": 0.0, "psnr": [], "lpips": [], "tof": [], "drift_first": [], "drift_last": []} for bp in pairs
    }
    for folder in clips:
        gt, lr = read_clip(folder, net.scale, net.degradation, max_frames)
        outputs, best = {}, {bp: float("inf") for bp in pairs}
        for bp in pairs:  # OpenVINO compiles per input size: set-up, paid once per size, not timed
            compile_for = getattr(upscalers[bp].step_fn, "request", None)
            if compile_for is not None:
                compile_for(1, lr.shape[1], lr.shape[2])
        for _ in range(rounds):
            # interleaved frame by frame (each pair keeps its own recurrent state), so that every
            # pair sees the same machine load even when it changes within a clip
            runs = {bp: infer_sequence(None, lr, 5, upscaler=upscalers[bp]) for bp in pairs}
            seconds, frames = dict.fromkeys(pairs, 0.0), {bp: [] for bp in pairs}
            for _ in range(len(lr)):
                for bp in pairs:
                    start = time.perf_counter()
                    frames[bp].append(next(runs[bp]))
                    seconds[bp] += time.perf_counter() - start
            for bp in pairs:
                best[bp] = min(best[bp], seconds[bp])
                outputs.setdefault(bp, np.stack(frames[bp]))
        ref = outputs[pairs[0]]
        k = min(10, len(gt))
        clip_name = os.path.basename(folder.rstrip("/"))
        report(f"  {clip_name}: {len(gt)} frames, LR {lr.shape[2]}x{lr.shape[1]}")
        base = None
        for bp in pairs:
            q = quality(lpips_model, gt, outputs[bp])
            base = base or q
            first, last = psnr(outputs[bp][:k], ref[:k]), psnr(outputs[bp][-k:], ref[-k:])
            t = totals[bp]
            t["frames"] += len(gt)
            t["seconds"] += best[bp]
            for key in ("psnr", "lpips", "tof"):
                t[key].append((q[key], len(gt)))
            t["drift_first"].append(first)
            t["drift_last"].append(last)
            report(
                f"    {bp[0]:8s} {bp[1]:4s} {len(gt) / best[bp]:6.2f} frames/s x{best[pairs[0]] / best[bp]:4.2f} | "
                f"Y-PSNR {q['psnr']:.3f} ({q['psnr'] - base['psnr']:+.3f}) LPIPS {q['lpips']:.4f} "
                f"({_rel(q['lpips'], base['lpips']):+.2%}) tOF {q['tof']:.4f} ({_rel(q['tof'], base['tof']):+.2%}) | "
                f"vs fp32 first/last {k}: {first:.1f}/{last:.1f} dB"
            )
    return net, pairs, totals, weights_hash(net)


def _rel(value, base):
    return (value - base) / base if base else 0.0


def _avg(pairs_weighted):
    return sum(v * n for v, n in pairs_weighted) / sum(n for _, n in pairs_weighted)


def summarize(name, pairs, totals, report):
    from tecogan.inference.auto import within_gate

    base = totals[pairs[0]]
    fps0 = base["frames"] / base["seconds"]
    rows = {}
    report(f"{name}: all clips ({base['frames']} frames), frame averages")
    for bp in pairs:
        t = totals[bp]
        fps = t["frames"] / t["seconds"]
        row = {
            "fps": round(fps, 3),
            "speedup": round(fps / fps0, 3),
            "psnr": round(_avg(t["psnr"]), 4),
            "lpips": round(_avg(t["lpips"]), 5),
            "tof": round(_avg(t["tof"]), 5),
        }
        row.update(
            d_psnr=round(row["psnr"] - _avg(base["psnr"]), 4),
            d_lpips_rel=round(_rel(_avg(t["lpips"]), _avg(base["lpips"])), 5),
            d_tof_rel=round(_rel(_avg(t["tof"]), _avg(base["tof"])), 5),
            drift_first_db=round(min(t["drift_first"]), 2),
            drift_last_db=round(min(t["drift_last"]), 2),
        )
        row["within_gate"] = bool(within_gate(row))
        rows[f"{bp[0]}/{bp[1]}"] = row
        report(
            f"  {bp[0]:8s} {bp[1]:4s} {fps:6.2f} frames/s x{row['speedup']:4.2f} | d Y-PSNR {row['d_psnr']:+.3f} dB, "
            f"d LPIPS {row['d_lpips_rel']:+.2%}, d tOF {row['d_tof_rel']:+.2%}, drift first/last "
            f"{row['drift_first_db']:.1f}/{row['drift_last_db']:.1f} dB | gate: "
            f"{'pass' if row['within_gate'] else 'FAIL'}"
        )
    return rows


def write_table(path, digest, name, cls, record):
    """Store ``record`` as model ``name``'s (weights ``digest``) rows for CPU class ``cls`` in the
    table at ``path``. Runs for several classes may end together: each reads, merges and replaces
    the table under one lock, so none drops another's rows."""
    from tecogan.inference.auto import GATE
    from tecogan.inference.measurements import load_table, merge

    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = merge(load_table(path), digest, name, cls, record, GATE)
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(table, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["frvsr", "frvsr-bd"], help="shipped model names")
    p.add_argument("--clips", nargs="+", default=DEFAULT_CLIPS, help="GT frame folders (held-out clips)")
    p.add_argument("--rounds", type=int, default=1, help="runs of each clip (the fastest is kept per pair)")
    p.add_argument("--max_frames", type=int, default=0, help="at most N frames per clip (0: all)")
    p.add_argument("--lpips_weights", default=os.path.join(REPO, "pretrained_models", "alexnet_imagenet_features.pth"))
    p.add_argument("--write_table", action="store_true", help="store the summary in --table for precision=auto")
    p.add_argument("--table", default=os.path.join(REPO, "codes", "inference", "precision_table.json"))
    p.add_argument("--threads", type=int, default=0, help="torch and OpenVINO threads (0: torch's default)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rounds < 1:
        raise UserError(f"--rounds {args.rounds}: expected at least 1")
    from tecogan.inference.auto import GATE
    from tecogan.metrics.lpips_loader import load_lpips
    from tecogan.profiling import cpu_name
    from tecogan.utils.device import cpu_class, cpu_flags

    flags = cpu_flags() or set()
    cls = cpu_class(flags) or "other"
    shown = " ".join(f for f in FLAGS_SHOWN if f in flags) or "unknown"
    caps = ", ".join(f"{k}={os.environ[k]}" for k in CAPS if os.environ.get(k, "").strip())
    machine = f"{cpu_name()}, {os.cpu_count()} cores visible, torch threads {torch.get_num_threads()}, flags: {shown}" + (
        f", {caps}" if caps else ""
    )

    def report(line):
        print(line, flush=True)

    report(f"CPU {machine}; class {cls}")
    report(
        f"torch {torch.__version__}; gate: Y-PSNR >= -{GATE['psnr_db']} dB, LPIPS/tOF <= +{GATE['lpips_rel']:.0%}, "
        f"last frames vs fp32 >= {GATE['drift_db']:g} dB; {args.rounds} round(s), pairs interleaved frame by frame"
    )
    lpips_model = load_lpips(args.lpips_weights)
    command = " ".join(([caps.replace(", ", " ")] if caps else []) + ["python scripts/benchmark_precision.py"] + sys.argv[1:])
    for name in args.models:
        _, pairs, totals, digest = run_model(name, args.clips, args.rounds, args.max_frames, lpips_model, report)
        rows = summarize(name, pairs, totals, report)
        if args.write_table:  # after each model: the measurements so far are kept if a later one fails
            record = {
                "rows": rows,
                "machine": machine,
                "command": command,
                "weights": "measured on the shipped file",
                "clips": [os.path.relpath(c, REPO) for c in args.clips],
            }
            write_table(args.table, digest, name, cls, record)
            report(f"table written: {os.path.relpath(args.table, REPO)} ({name}, class {cls})")
    return 0


if __name__ == "__main__":
    run_cli(main)
