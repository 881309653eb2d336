"""Frames/s of ``codes/upscale.py`` on a clip: the network alone vs end to end.

    python scripts/benchmark_upscale.py [--input demo/videos/juggle_lr.mp4]
        [--model pretrained_models/FRVSR_BD_footage.pth] [--repeat 2] [--lr_size 480x270 --frames 40]

``--lr_size WxH`` first shrinks the input's first ``--frames`` frames to WxH (OpenCV's area
resize) into a temporary H.264 file that both measurements read: 480x270 gives the 1080p
output of issue 33's target (e.g. ``--input ../shared/data/sam2_videos/04_coffee.mp4``).

* network only: the clip is decoded into memory first, then the timer runs over
  ``run_clip`` alone (the same front padding as upscale.py);
* end to end: ``upscale.py`` writing an H.264 .mp4 (its own timer: from the first decoded
  frame to the last frame encoded, the file verified and renamed).

Each runs in a fresh process (the same one-time start-up costs), ``--repeat`` times in turn;
the best of each is kept.  Prints the CPU, both rates and end-to-end / network-only, on the
CPU and, when a GPU is present, on CUDA with and without ``--half``.  Decoding and encoding
overlap the network, so on a machine with spare cores the ratio should be close to 1.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def network_only(path, model, device, half):
    """Runs in a child process: decode everything, then time the network alone."""
    import runpy
    import time

    runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))
    from tecogan.inference.steppers import RecurrentUpscaler, run_clip
    from tecogan.upscale import build_parser, load_network
    from tecogan.utils.device import parse_device
    from tecogan.video import open_source

    args = build_parser().parse_args([path, "unused", "--model", model])
    frames = [frame.image for frame in open_source(path).frames()]
    net = load_network(args)
    upscaler = RecurrentUpscaler(net, parse_device(device), True, half)
    start = time.perf_counter()
    n = sum(1 for _ in run_clip(upscaler, frames, args.num_pad_front, args.padding_mode))
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"{n} frames in {seconds:.2f} s ({n / seconds:.2f} frames/s)")


def shrunk_input(path, size, frames, folder):
    """The first ``frames`` frames of ``path`` resized to ``size`` (w, h) with OpenCV's area filter,
    written as a near-lossless H.264 .mp4 in ``folder``; returns its path."""
    import av
    import cv2

    out_path = os.path.join(folder, f"input_{size[0]}x{size[1]}.mp4")
    with av.open(path) as source, av.open(out_path, "w") as out:
        stream = out.add_stream("libx264", rate=source.streams.video[0].average_rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for i, frame in enumerate(source.decode(video=0)):
            if i == frames:
                break
            image = cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return out_path


def timed(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(r.stderr.strip() or f"{' '.join(cmd)} failed ({r.returncode})")
    m = re.search(r"(\d+) frames in ([0-9.]+) s \(([0-9.]+) frames/s\)", r.stdout)
    if m is None:
        sys.exit(f"no timing in the output of {' '.join(cmd)}:\n{r.stdout}")
    return int(m.group(1)), float(m.group(2)), float(m.group(3))


def measure(args, device, half):
    flag = ["--half"] if half else []
    best_net = best_e2e = None
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            net = timed(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--input",
                    args.input,
                    "--model",
                    args.model,
                    "--network_only",
                    device,
                ]
                + flag
            )
            e2e = timed(
                [
                    sys.executable,
                    os.path.join(REPO, "codes", "upscale.py"),
                    args.input,
                    os.path.join(tmp, "out.mp4"),
                    "--model",
                    args.model,
                    "--device",
                    device,
                    "--overwrite",
                    "--precision",
                    "fp16" if half else "fp32",
                ]
            )  # the network-only run's precision
            best_net = net if best_net is None or net[2] > best_net[2] else best_net
            best_e2e = e2e if best_e2e is None or e2e[2] > best_e2e[2] else best_e2e
    return best_net, best_e2e


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", default=os.path.join(REPO, "demo", "videos", "juggle_lr.mp4"))
    p.add_argument("--model", default=os.path.join(REPO, "pretrained_models", "FRVSR_BD_footage.pth"))
    p.add_argument("--repeat", type=int, default=2, help="runs of each measurement (the best is kept)")
    p.add_argument("--lr_size", metavar="WxH", help="shrink the input to this size first (480x270: a 1080p output)")
    p.add_argument("--frames", type=int, default=40, help="with --lr_size: the input's first frames to keep")
    p.add_argument("--network_only", metavar="DEVICE", help=argparse.SUPPRESS)
    p.add_argument("--half", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.network_only:
        return network_only(args.input, args.model, args.network_only, args.half)
    import runpy

    import torch

    runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`
    from tecogan.pretrained import PRETRAINED, resolve_model
    from tecogan.profiling import cpu_name

    shown_model = args.model if args.model.lower() in PRETRAINED else os.path.relpath(args.model, REPO)
    args.model = resolve_model(args.model)  # a shipped model's name (frvsr-fast) -> its file, as upscale.py does

    settings = [("cpu", False)]
    if torch.cuda.is_available():
        settings += [("cuda", False), ("cuda", True)]
    print(f"CPU {cpu_name()} ({os.cpu_count()} cores visible), torch threads {torch.get_num_threads()}")
    shown_input = os.path.relpath(args.input, REPO)
    with tempfile.TemporaryDirectory() as folder:
        if args.lr_size:
            try:
                size = tuple(int(v) for v in args.lr_size.lower().split("x"))
                if len(size) != 2 or min(size) < 8:
                    raise ValueError
            except ValueError:
                sys.exit(f"error: --lr_size {args.lr_size!r}: expected WxH, e.g. 480x270")
            args.input = shrunk_input(args.input, size, args.frames, folder)
            shown_input += f" (first {args.frames} frames shrunk to {size[0]}x{size[1]})"
        print(f"input {shown_input}, model {shown_model}, H.264 .mp4 output, best of {args.repeat}")
        for device, half in settings:
            (n, s_net, net), (_, s_e2e, e2e) = measure(args, device, half)
            name = device + (" --half" if half else "")
            print(
                f"{name:11s} network only {net:6.2f} frames/s ({n} frames in {s_net:.2f} s) | end to end "
                f"{e2e:6.2f} frames/s ({s_e2e:.2f} s) | end to end / network only = {e2e / net:.2f}"
            )


if __name__ == "__main__":
    main()
