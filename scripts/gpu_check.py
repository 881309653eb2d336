"""Exercise every CUDA path of the project in one command (under 8 minutes) and print a report.

    python scripts/gpu_check.py [--gpu 0] [--skip torchrun,profile]

Checks, each with its time and PASS/FAIL (a failure does not stop the others):

* ``test-mode``: the shipped ``frvsr-bd`` on the bundled clip (demo/val) through test mode's
  procedure on CUDA equals the CPU's output within float32 noise (PSNR >= 50 dB);
* ``precision``: fp16 and bf16 (CUDA autocast, channels-last) against CUDA fp32 on the same clip:
  output PSNR and the Y-PSNR delta against GT (the quality gate of docs/precision.md: within
  0.05 dB, no drift);
* ``train``: one FRVSR and one TecoGAN training step with AMP (bf16, and fp16 with its loss
  scaler), saved and resumed into a fresh model, then another step;
* ``torchrun``: ``torchrun --nproc_per_node=<GPUs>`` with the NCCL backend: an all-reduce and a
  DistributedDataParallel step of FRNet;
* ``profile``: ``bash profile.sh BD TecoGAN 3x134x320`` (the reference's benchmark setting): FPS;
* ``upscale``: frames/s of upscaling 270x480 -> 1080x1920 (to 1080p) in fp32 and fp16.

Without CUDA it says so and exits 0 (nothing to check).
"""

import argparse
import copy
import os
import re
import runpy
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

import torch

from tecogan.utils.errors import UserError, run_cli

CHECKS = ("test-mode", "precision", "train", "torchrun", "profile", "upscale")
BUDGET_S = 8 * 60


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def bundled_clip(frames=10):
    """GT frames of demo/val and their BD low-res input (as the shipped BD models expect)."""
    from tecogan.ops.degradation import degrade_bd
    from tecogan.utils.fileio import read_image_rgb

    folder = os.path.join(REPO, "demo", "val", "GT", "coffee")
    names = sorted(os.listdir(folder))[:frames]
    gt = np.stack([read_image_rgb(os.path.join(folder, n)) for n in names])
    return gt, np.stack([degrade_bd(g, 1.5, 4) for g in gt])


def upscale(net, lr, device, precision="fp32", pad=2):
    from tecogan.inference.steppers import RecurrentUpscaler, infer_sequence

    up = RecurrentUpscaler(net, device, precision=precision)
    return np.stack(list(infer_sequence(None, lr, pad, upscaler=up)))


def check_test_mode(ctx):
    import tecogan

    _, lr = bundled_clip(ctx.clip_frames)
    cpu = upscale(tecogan.load_generator(ctx.model), lr, torch.device("cpu"))
    gpu = upscale(tecogan.load_generator(ctx.model), lr, ctx.device)
    value = psnr(cpu, gpu)
    return value >= 50.0, f"CUDA vs CPU fp32: {value:.1f} dB, max {np.abs(cpu.astype(int) - gpu).max()} grey levels"


def check_precision(ctx):
    import tecogan
    from tecogan.inference.auto import supported
    from tecogan.metrics.validation import psnr_y_uint8

    gt, lr = bundled_clip(ctx.clip_frames)
    net = tecogan.load_generator(ctx.model)
    ref = upscale(net, lr, ctx.device)
    base = float(np.mean(psnr_y_uint8(gt, ref)))
    ok, parts = True, []
    for name in ("fp16", "bf16"):
        if not supported(name, ctx.device):
            parts.append(f"{name}: not supported on this GPU")
            continue
        out = upscale(net, lr, ctx.device, name)
        delta, drift = float(np.mean(psnr_y_uint8(gt, out))) - base, psnr(out[-3:], ref[-3:])
        ok &= delta >= -0.05 and drift >= 40.0
        parts.append(f"{name}: {psnr(out, ref):.1f} dB vs fp32, Y-PSNR {delta:+.3f} dB, last frames {drift:.1f} dB")
    return ok, "; ".join(parts)


def _train_opt(name, crop):
    from tecogan.experiment import load_config

    path = {"FRVSR": "experiments_BD/FRVSR_footage/001/train.yml", "TecoGAN": "experiments_BD/TecoGAN/001/train.yml"}
    opt = copy.deepcopy(load_config(os.path.join(REPO, path[name])))
    opt["train"].pop("feature_crit", None)  # ImageNet VGG weights: not bundled
    opt["model"]["generator"]["load_path"] = None
    opt["dataset"]["train"].update(crop_size=crop, batch_size=2)
    opt["train"]["tempo_extent"] = 4
    return opt


def check_train(ctx):
    from tecogan.models import build_model

    parts, ok = [], True
    for name in ("FRVSR", "TecoGAN"):
        for precision in ("bf16", "fp16"):
            opt = _train_opt(name, ctx.crop)
            opt["train"]["precision"] = precision
            torch.manual_seed(0)
            model = build_model(opt, ctx.device)
            border = 2 * int(3.0 * opt["dataset"]["degradation"]["sigma"])
            batch = {"gt": torch.rand(2, 4, 3, ctx.crop + border, ctx.crop + border)}
            log = model.train_step(batch)
            resumed = build_model(opt, ctx.device)
            resumed.load_state_dict(copy.deepcopy(model.state_dict()))
            log2 = resumed.train_step(batch)
            finite = all(np.isfinite(float(v)) for v in list(log.values()) + list(log2.values()))
            ok &= finite
            parts.append(f"{name} {precision}: {'finite losses' if finite else 'NON-FINITE'}, resumed")
    return ok, "; ".join(parts)


TORCHRUN_SCRIPT = """
import os, runpy, sys
runpy.run_path(os.path.join(sys.argv[1], "codes", "_clone.py"))
import torch, torch.distributed as dist
from tecogan.networks.frnet import FRNet
dist.init_process_group("nccl")
rank = dist.get_rank(); torch.cuda.set_device(rank % torch.cuda.device_count())
t = torch.ones(1, device="cuda") * (rank + 1); dist.all_reduce(t)
net = torch.nn.parallel.DistributedDataParallel(FRNet(nf=16, nb=2).cuda(), device_ids=[torch.cuda.current_device()])
x = [torch.rand(2, 3, 32, 32, device="cuda"), torch.rand(2, 3, 32, 32, device="cuda"), torch.rand(2, 3, 128, 128, device="cuda")]
net(*x).mean().backward()
if rank == 0:
    print(f"allreduce {t.item():g} over {dist.get_world_size()} ranks, DDP step done")
dist.destroy_process_group()
"""


def check_torchrun(ctx):
    n = max(1, torch.cuda.device_count())
    script = os.path.join(ctx.tmp, "ddp_check.py")
    with open(script, "w") as f:
        f.write(TORCHRUN_SCRIPT)
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", script, REPO],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    line = (r.stdout.strip().splitlines() or [""])[-1]
    return r.returncode == 0 and "DDP step done" in line, line or (r.stderr.strip().splitlines() or ["no output"])[-1]


def check_profile(ctx):
    r = subprocess.run(
        ["bash", os.path.join(REPO, "profile.sh"), "BD", "TecoGAN", "3x134x320", str(ctx.gpu)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    m = re.search(r"Speed \(FPS\): ([0-9.]+)", r.stdout)
    return r.returncode == 0 and m is not None, (
        f"{float(m.group(1)):.1f} FPS (3x134x320)" if m else (r.stderr.strip().splitlines() or ["no output"])[-1]
    )


def check_upscale(ctx):
    import tecogan
    from tecogan.inference.steppers import RecurrentUpscaler, infer_sequence

    net = tecogan.load_generator(ctx.model)
    h, w = ctx.size
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(ctx.frames)]
    from tecogan.inference.auto import supported

    parts = []
    for precision in ("fp32", "fp16"):
        if not supported(precision, ctx.device):
            parts.append(f"{precision}: not supported here")
            continue
        up = RecurrentUpscaler(net, ctx.device, precision=precision)
        list(infer_sequence(None, frames[:2], 0, upscaler=up))  # warm-up: kernels chosen, memory allocated
        start = time.perf_counter()
        n = sum(1 for _ in infer_sequence(None, frames, 0, upscaler=up))
        parts.append(f"{precision} {n / (time.perf_counter() - start):.2f} frames/s")
    return True, f"{h}x{w} -> {4 * h}x{4 * w}: " + ", ".join(parts)


RUNNERS = {
    "test-mode": check_test_mode,
    "precision": check_precision,
    "train": check_train,
    "torchrun": check_torchrun,
    "profile": check_profile,
    "upscale": check_upscale,
}


def run_checks(ctx, names, report=print):
    """Runs ``names`` in order; returns {name: (ok, detail, seconds)}. A check that raises fails."""
    results = {}
    start = time.perf_counter()
    for name in names:
        if time.perf_counter() - start > BUDGET_S:
            results[name] = (False, f"not run: the {BUDGET_S // 60}-minute budget is spent", 0.0)
        else:
            t0 = time.perf_counter()
            try:
                ok, detail = RUNNERS[name](ctx)
            except Exception as e:  # noqa: BLE001 - one broken path must not hide the others
                ok, detail = False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            results[name] = (bool(ok), detail, time.perf_counter() - t0)
        ok, detail, seconds = results[name]
        report(f"{'PASS' if ok else 'FAIL'}  {name:10s} {seconds:6.1f} s  {detail}")
    return results


def parse_names(skip):
    names = [s for s in (skip or "").split(",") if s]
    unknown = [s for s in names if s not in CHECKS]
    if unknown:
        raise UserError(f"--skip {skip}: unknown check(s) {', '.join(unknown)}; expected {', '.join(CHECKS)}")
    return [c for c in CHECKS if c not in names]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gpu", type=int, default=0, help="CUDA device index")
    p.add_argument("--skip", default="", help=f"comma-separated checks to leave out ({', '.join(CHECKS)})")
    p.add_argument("--model", default="frvsr-bd", help=argparse.SUPPRESS)
    p.add_argument("--device", default=None, help=argparse.SUPPRESS)  # tests: run the checks' logic on the CPU
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    names = parse_names(args.skip)
    if args.device is None and not torch.cuda.is_available():
        print("gpu_check: no CUDA device on this machine (torch.cuda.is_available() is False): nothing to check")
        return 0
    import tempfile

    device = torch.device(args.device or f"cuda:{args.gpu}")
    small = device.type == "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        ctx = argparse.Namespace(
            device=device,
            gpu=args.gpu,
            model=args.model,
            tmp=tmp,
            crop=32 if small else 128,
            size=(16, 24) if small else (270, 480),
            frames=3 if small else 30,
            clip_frames=3 if small else 10,
        )
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        print(f"gpu_check on {device} ({name}), torch {torch.__version__}, CUDA {torch.version.cuda}")
        results = run_checks(ctx, names)
    failed = [n for n, (ok, _, _) in results.items() if not ok]
    print(f"{len(results) - len(failed)}/{len(results)} checks passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    run_cli(main)
