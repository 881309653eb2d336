"""Inference speed of the generator, end to end (decode, network, encode).

    python scripts/benchmark.py --lr_size 144x180 --frames 12 --device cpu

Writes ``--frames`` LR PNG frames of the given size into a temporary folder, then
super-resolves them twice:

* ``reference-style``: what the reference's test loop does: NCHW tensors,
  ``torch.no_grad``, all frames decoded first, the network run frame by frame, the
  outputs encoded after the sequence;
* ``ours``: this project's test mode: channels-last, ``torch.inference_mode``, the PNG
  encoding overlapped with the network in a writer thread; and the same with
  ``--backend openvino`` (its one-off model conversion included in the time);
  ``--precisions`` adds lower precisions, and ``auto`` (what ``test.precision: auto`` runs:
  the choice made on the first frames, its checks and the backend's set-up in the time).

It prints frames/s end to end, the network's seconds per step and the achieved
GFLOP/s (conv FLOPs as counted by profile mode).  Weights are random (speed does not
depend on them) unless ``--model`` names a shipped model or a checkpoint: ``auto`` finds a
shipped model's measurements in the precision table, and checks other weights on the first
frames.
"""

import argparse
import os
import queue
import runpy
import tempfile
import threading
import time

import cv2
import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan import defaults
from tecogan.api import load_generator
from tecogan.config.limits import check_number
from tecogan.inference.auto import OWN_INPUT_FRAMES, resolve_auto
from tecogan.inference.steppers import RecurrentUpscaler, infer_sequence
from tecogan.networks.frnet import FRNet
from tecogan.profiling import count_flops, step_inputs
from tecogan.utils.device import parse_device
from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.fileio import read_image_rgb, write_image_rgb


def make_frames(folder, n, h, w, seed=0):
    """Smooth moving pattern plus noise, written as PNG (like a real LR clip)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    paths = []
    for i in range(n):
        base = 127 + 60 * np.sin((xx + 2 * i) / 9.0)[..., None] * np.cos((yy - i) / 7.0)[..., None]
        img = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"{i:04d}.png")
        cv2.imwrite(path, img)
        paths.append(path)
    return paths


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_reference_style(net, paths, out_dir, device):
    """Decode all, infer frame by frame (NCHW, no_grad), then encode all."""
    start = time.perf_counter()
    lr = np.stack([read_image_rgb(p) for p in paths])
    lr_t = torch.from_numpy(lr).permute(0, 3, 1, 2).float() / 255.0
    net = net.to(device).eval().to(memory_format=torch.contiguous_format)
    s = net.scale
    _, c, h, w = lr_t.shape
    outputs = []
    net_seconds = 0.0
    with torch.no_grad():
        lr_prev = torch.zeros(1, c, h, w, device=device)
        hr_prev = torch.zeros(1, c, s * h, s * w, device=device)
        for i in range(len(paths)):
            lr_curr = lr_t[i : i + 1].to(device)
            t0 = time.perf_counter()
            hr_curr = net(lr_curr, lr_prev, hr_prev)
            sync(device)
            net_seconds += time.perf_counter() - t0
            lr_prev, hr_prev = lr_curr, hr_curr
            frame = hr_curr.squeeze(0).cpu().numpy().transpose(1, 2, 0)
            outputs.append(np.uint8(np.clip(np.round(frame * 255), 0, 255)))
    for i, frame in enumerate(outputs):
        cv2.imwrite(os.path.join(out_dir, f"{i:04d}.png"), frame[..., ::-1])
    return time.perf_counter() - start, net_seconds / len(paths)


def run_ours(net, paths, out_dir, device, half=False, backend="torch", precision="fp32"):
    """This project's pipeline (what `main.py --mode test` runs), backend set-up included."""
    start = time.perf_counter()
    lr = np.stack([read_image_rgb(p) for p in paths])
    if precision == "auto":  # as test mode: chosen once, on the first frames (backend None: auto's choice)
        choice = resolve_auto(net, device, backend, frames=list(lr[:OWN_INPUT_FRAMES]))
        print(f"  {choice.reason}")
        backend, precision = choice.backend, choice.precision
    backend = backend or "torch"
    upscaler = RecurrentUpscaler(net, device, channels_last=True, half=half, backend=backend, precision=precision)
    writes = queue.Queue(maxsize=8)

    def writer():
        while (item := writes.get()) is not None:
            write_image_rgb(*item)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    for i, hr in enumerate(infer_sequence(net, lr, num_pad_front=0, upscaler=upscaler)):
        writes.put((os.path.join(out_dir, f"{i:04d}.png"), hr))
    writes.put(None)
    thread.join()
    total = time.perf_counter() - start
    # network alone, steady state
    x = step_inputs(3, lr.shape[1], lr.shape[2], net.scale, device)
    x = [a.contiguous(memory_format=torch.channels_last) for a in x]
    step = upscaler.step_fn
    with (
        torch.inference_mode(),
        torch.autocast("cuda", dtype=torch.float16) if upscaler.half else torch.autocast("cpu", enabled=False),
    ):
        step(*x)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(3):
            step(*x)
        sync(device)
    return total, (time.perf_counter() - t0) / 3


def parse_size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        assert h >= 8 and w >= 8
    except (ValueError, AssertionError):
        raise UserError(f"--lr_size {text}: expected HxW with both sides >= 8, e.g. 144x180") from None
    return h, w


def parse_precisions(text):
    """``'auto,openvino:bf16'`` -> [(None, 'auto'), ('openvino', 'bf16')], checked before any run."""
    pairs = []
    for pair in filter(None, text.split(",")):
        backend, _, prec = pair.partition(":") if ":" in pair else (None, None, pair)
        if backend not in (None, *defaults.BACKENDS) or prec not in defaults.PRECISIONS:
            raise UserError(
                f"--precisions {pair}: expected BACKEND:PRECISION (backend {', '.join(defaults.BACKENDS)}; "
                f"precision {', '.join(defaults.PRECISIONS)}) or auto"
            )
        pairs.append((backend, prec))
    return pairs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lr_size", default="144x180", help="LR frame size HxW")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:k")
    p.add_argument("--half", action="store_true", help="also time CUDA autocast fp16")
    p.add_argument(
        "--backend", default="torch,openvino", help="'torch,openvino' (default) also times the OpenVINO backend; 'torch' skips it"
    )
    p.add_argument(
        "--precisions",
        default="",
        help="also time test mode in these BACKEND:PRECISION pairs (tecogan.inference.precision), set-up "
        "included, e.g. openvino:bf16,openvino:int8,torch:bf16; 'auto' as test.precision: auto",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a shipped model's name or a .pth (its architecture replaces --nf/--nb); random weights by default",
    )
    p.add_argument("--nf", type=int, default=64)
    p.add_argument("--nb", type=int, default=10)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    check_number("--frames", args.frames, minimum=2, maximum=10_000, integer=True)
    check_number("--nf", args.nf, minimum=1, maximum=1024, integer=True)
    check_number("--nb", args.nb, minimum=1, maximum=256, integer=True)
    h, w = parse_size(args.lr_size)
    device = parse_device(args.device)
    pairs = parse_precisions(args.precisions)
    torch.manual_seed(0)
    net = load_generator(args.model) if args.model else FRNet(nf=args.nf, nb=args.nb, degradation="BD")
    flops = count_flops(net, step_inputs(3, h, w, net.scale, torch.device("cpu")))
    print(
        f"device: {device} | threads: {torch.get_num_threads()} | LR {h}x{w} -> HR {net.scale * h}x{net.scale * w} | "
        f"{args.frames} frames | {flops / 1e9:.2f} GFLOP per frame step"
    )
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "lr")
        os.makedirs(src)
        paths = make_frames(src, args.frames, h, w)
        runs = [
            ("reference-style (NCHW, no_grad, sequential I/O)", lambda o: run_reference_style(net, paths, o, device)),
            ("ours (channels-last, inference_mode, overlapped I/O)", lambda o: run_ours(net, paths, o, device)),
        ]
        if "openvino" in args.backend.split(","):
            runs.append(
                ("ours --backend openvino (set-up included)", lambda o: run_ours(net, paths, o, device, backend="openvino"))
            )
        for backend, prec in pairs:
            label = f"ours precision {prec}" + (f" --backend {backend}" if backend else "")
            runs.append(
                (
                    f"{label} (set-up included)",
                    lambda o, b=backend, q=prec: run_ours(net, paths, o, device, backend=b, precision=q),
                )
            )
        if args.half:
            runs.append(("ours --half (CUDA autocast fp16)", lambda o: run_ours(net, paths, o, device, half=True)))
        results = {}
        for name, fn in runs:
            out = os.path.join(tmp, f"out{len(results)}")
            os.makedirs(out)
            total, step = fn(out)
            results[name] = total
            print(
                f"{name:55s} {args.frames / total:7.3f} frames/s end to end | "
                f"network {step:.3f} s/step = {flops / step / 1e9:7.1f} GFLOP/s"
            )
        ref = list(results.values())[0]
        for name, total in list(results.items())[1:]:
            print(f"speed-up end to end vs reference-style: {ref / total:.2f}x  {name}")
    return 0


if __name__ == "__main__":
    run_cli(main)
