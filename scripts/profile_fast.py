"""Per-frame cost of FRNet's parts (FNet, SRNet, the warp) for candidate fast architectures.

    python scripts/profile_fast.py --lr_size 108x192 --configs 64:10:32,32:4:16,24:4:8 --rounds 5

Each config is ``nf:nb:fnet_nf`` or ``nf:nb:fnet_nf:hr_nf`` (``hr_nf``: the channels at the output
resolution, ``nf`` when left out). Random weights (speed does not depend on them), one inference
step at a time, fp32 torch, channels-last, as test mode runs it; the configs are timed
interleaved (round-robin, ``--rounds`` rounds, the median kept) so a shared machine's load
affects them alike. Prints milliseconds per frame for FNet, SRNet and the whole step, conv
GFLOPs, and each config's step-rate ratio to the first one.
"""

import argparse
import os
import runpy
import statistics
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.networks.frnet import FRNet
from tecogan.ops.warp import space_to_depth
from tecogan.profiling import count_flops, cpu_name, step_inputs


def parse_config(text):
    """``nf:nb:fnet_nf[:hr_nf]`` -> (nf, nb, fnet_nf, hr_nf)."""
    try:
        values = [int(v) for v in text.split(":")]
    except ValueError:
        values = []
    if len(values) not in (3, 4) or min(values) < 1:
        raise SystemExit(f"error: --configs {text!r}: expected nf:nb:fnet_nf or nf:nb:fnet_nf:hr_nf, positive integers")
    nf, nb, fnet_nf = values[:3]
    return nf, nb, fnet_nf, values[3] if len(values) == 4 else nf


def timed(fn, repeats):
    with torch.inference_mode():
        fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr_size", default="108x192", help="HxW of the LR frame")
    parser.add_argument("--configs", default="64:10:32,32:4:16,32:3:16,24:4:16,32:4:8,16:4:8")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--degradation", default="BI")
    args = parser.parse_args()
    h, w = (int(v) for v in args.lr_size.split("x"))
    configs = [parse_config(c) for c in args.configs.split(",")]
    nets, parts = [], []
    torch.manual_seed(0)
    inputs = tuple(x.contiguous(memory_format=torch.channels_last) for x in step_inputs(3, h, w, 4, torch.device("cpu")))
    lr_curr, lr_prev, hr_prev = inputs
    for nf, nb, fnet_nf, hr_nf in configs:
        net = FRNet(nf=nf, nb=nb, fnet_nf=fnet_nf, hr_nf=hr_nf, degradation=args.degradation).eval()
        net = net.to(memory_format=torch.channels_last)
        s2d = space_to_depth(hr_prev, 4).contiguous(memory_format=torch.channels_last)
        fnet_flops = count_flops(net.fnet, (lr_curr, lr_prev))
        sr_flops = count_flops(net.srnet, (lr_curr, s2d))
        nets.append(net)
        parts.append(
            {
                "fnet": (lambda n=net: n.fnet(lr_curr, lr_prev)),
                "srnet": (lambda n=net, s=s2d: n.srnet(lr_curr, s)),
                "step": (lambda n=net: n(lr_curr, lr_prev, hr_prev)),
                "flops": (fnet_flops, sr_flops),
            }
        )
    times = [{"fnet": [], "srnet": [], "step": []} for _ in configs]
    for _ in range(args.rounds):
        for t, p in zip(times, parts, strict=True):
            for key in ("fnet", "srnet", "step"):
                t[key].append(timed(p[key], args.repeats))
    print(
        f"CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); LR {h}x{w}, "
        f"fp32, channels-last, median of {args.rounds} interleaved rounds"
    )
    base = statistics.median(times[0]["step"])
    print("nf:nb:fnet_nf:hr_nf  params   FNet GFLOP  SRNet GFLOP  FNet ms  SRNet ms  step ms  FNet share  speed-up")
    for (nf, nb, fnet_nf, hr_nf), net, t, p in zip(configs, nets, times, parts, strict=True):
        fn, sr, st = (statistics.median(t[k]) for k in ("fnet", "srnet", "step"))
        params = sum(v.numel() for v in net.parameters())
        print(
            f"{f'{nf}:{nb}:{fnet_nf}:{hr_nf}':<18} {params:>8}  {p['flops'][0] / 1e9:>10.2f}  {p['flops'][1] / 1e9:>11.2f}  "
            f"{fn * 1e3:>7.1f}  {sr * 1e3:>8.1f}  {st * 1e3:>7.1f}  {fn / st:>9.0%}  {base / st:>7.2f}x"
        )


if __name__ == "__main__":
    main()
