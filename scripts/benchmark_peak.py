"""How close one FRNet step runs to this CPU's convolution peak, per layer group.

    python scripts/benchmark_peak.py                     # 144x180 LR, nf 64, nb 10, BD, 2 rounds
    python scripts/benchmark_peak.py --lr_size 134x320 --rounds 3

Measured in one run, interleaved (so the ratios hold on a noisy machine):

* the machine's peak: a 64->64 3x3 convolution, channels-last, at 288x360 (oneDNN's best case);
* the FRNet step through the public API: ``tecogan.Upscaler.upscale_frames`` on uint8 frames
  (conversion, network, rounding), seconds per frame in steady state, for each ``--backend``
  (default: torch and openvino);
* per layer group of the torch backend (FNet, conv_in, residual blocks, upsampling convolutions, output conv, the
  BD upsampler, warping and the rest), time and FLOPs (``torch.utils.flop_counter``).

It prints GFLOP/s and the fraction of peak for each, so the next bottleneck is visible on any
machine. Weights are random: speed does not depend on them.
"""

import argparse
import os
import runpy
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.profiling import cpu_name
from tecogan.utils.errors import UserError, run_cli

GROUPS = {
    "FNet": "fnet",
    "conv_in": "srnet.conv_in",
    "residual blocks": "srnet.resblocks",
    "upsampling convs": "srnet.conv_up",
    "output conv": "srnet.conv_out",
    "BD upsampler": "upsample_func",
}


def conv_peak(repeats=5):
    """GFLOP/s of a channels-last 64->64 3x3 convolution at 288x360 (best of ``repeats``)."""
    import torch

    conv = torch.nn.Conv2d(64, 64, 3, 1, 1).to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, 288, 360).contiguous(memory_format=torch.channels_last)
    flops = 2 * 64 * 9 * 64 * 288 * 360
    with torch.inference_mode():
        conv(x)
        best = min(_timed(lambda: conv(x)) for _ in range(repeats))
    return flops / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step_flops(net, h, w):
    """Total and per-group FLOPs of one step (torch.utils.flop_counter)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tecogan.profiling import step_inputs

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        net(*step_inputs(3, h, w, net.scale, torch.device("cpu")))
    counts = counter.get_flop_counts()
    per_group = {}
    for label, prefix in GROUPS.items():
        key = next((k for k in counts if k.endswith("." + prefix) or k == prefix or k.split(".", 1)[-1] == prefix), None)
        per_group[label] = sum(counts[key].values()) if key else 0
    return counter.get_total_flops(), per_group


def api_seconds_per_frame(upscaler, frames):
    """Steady-state seconds per frame of ``upscale_frames`` (uint8 in and out)."""
    out = upscaler.upscale_frames(frames)
    next(out)  # the first frame warms up (and runs the padded frames)
    start = time.perf_counter()
    n = sum(1 for _ in out)
    return (time.perf_counter() - start) / n


def group_seconds(net, h, w, repeats=3):
    """Seconds per layer group inside one step, by forward hooks (the rest is warping & glue)."""
    import torch

    from tecogan.profiling import step_inputs

    times = {label: 0.0 for label in GROUPS}
    started = {}
    hooks = []
    modules = dict(net.named_modules())
    for label, prefix in GROUPS.items():
        module = modules[prefix]
        hooks.append(module.register_forward_pre_hook(lambda m, a, label=label: started.__setitem__(label, time.perf_counter())))
        hooks.append(
            module.register_forward_hook(
                lambda m, a, o, label=label: times.__setitem__(label, times[label] + time.perf_counter() - started[label])
            )
        )
    x = [t.contiguous(memory_format=torch.channels_last) for t in step_inputs(3, h, w, net.scale, torch.device("cpu"))]
    try:
        with torch.inference_mode():
            net(*x)
            for label in times:
                times[label] = 0.0
            total = 0.0
            for _ in range(repeats):
                total += _timed(lambda: net(*x))
    finally:
        for hook in hooks:
            hook.remove()
    seconds = {label: t / repeats for label, t in times.items()}
    seconds["warping and the rest"] = total / repeats - sum(seconds.values())
    return seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lr_size", default="144x180", help="LR frame size HxW")
    p.add_argument("--frames", type=int, default=8, help="frames per API measurement")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best of)")
    p.add_argument("--nf", type=int, default=64)
    p.add_argument("--nb", type=int, default=10)
    p.add_argument("--backend", default="torch,openvino", help="comma-separated inference backends to measure")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    try:
        h, w = (int(v) for v in args.lr_size.lower().split("x"))
    except ValueError:
        raise UserError(f"--lr_size {args.lr_size}: expected HxW, e.g. 144x180") from None
    if min(h, w) < 8 or args.frames < 2 or args.rounds < 1:
        raise UserError("--lr_size sides >= 8, --frames >= 2, --rounds >= 1")
    import numpy as np
    import torch

    import tecogan

    torch.manual_seed(0)
    net = tecogan.build_generator("FRNet", nf=args.nf, nb=args.nb, degradation="BD", scale=4).eval()
    flops, per_group = step_flops(net, h, w)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    upscalers = {b: tecogan.Upscaler(net, device="cpu", num_pad_front=0, backend=b, precision="fp32") for b in backends}
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(args.frames)]
    print(
        f"{cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; FRNet nf {args.nf} nb "
        f"{args.nb}, LR {h}x{w} -> {4 * h}x{4 * w}: {flops / 1e9:.1f} GFLOP per step"
    )
    peaks, steps = [], {b: [] for b in backends}
    for _ in range(args.rounds):
        peaks.append(conv_peak())
        for b, upscaler in upscalers.items():
            steps[b].append(api_seconds_per_frame(upscaler, frames))
    peak = max(peaks)
    print(
        f"conv peak (64->64 3x3, channels-last, 288x360): {peak:.1f} GFLOP/s (rounds: "
        + ", ".join(f"{v:.0f}" for v in peaks)
        + ")"
    )
    for b in backends:
        step = min(steps[b])
        print(
            f"FRNet step via tecogan.Upscaler(backend={b!r}) (uint8 in/out): {step * 1e3:.1f} ms/frame, "
            f"{flops / step / 1e9:.1f} GFLOP/s = {flops / step / 1e9 / peak:.2f} of peak"
        )
    if "torch" not in backends:
        return 0
    print("per layer group, torch backend:")
    seconds = group_seconds(upscalers["torch"].generator, h, w)  # the Upscaler prepared it (memory format)
    print(f"{'group':22s} {'ms':>8s} {'GFLOP':>8s} {'GFLOP/s':>9s} {'of peak':>8s}")
    for label, s in seconds.items():
        g = per_group.get(label, 0) / 1e9
        rate = g / s if s > 0 and g else 0.0
        print(f"{label:22s} {s * 1e3:8.1f} {g:8.2f} {rate:9.1f} {rate / peak if rate else 0:8.2f}")
    return 0


if __name__ == "__main__":
    run_cli(main)
