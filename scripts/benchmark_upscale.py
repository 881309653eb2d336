"""Frames/s of ``codes/upscale.py`` end to end (decode, network, encode) on a clip.

    python scripts/benchmark_upscale.py [--input demo/videos/juggle_lr.mp4] [--model pretrained_models/FRVSR_BD_footage.pth]

Runs on the CPU, and on CUDA with and without ``--half`` when a GPU is present; prints one
line per setting.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, device, half):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, os.path.join(REPO, "codes", "upscale.py"), args.input, os.path.join(tmp, "out.mp4"),
               "--model", args.model, "--device", device] + (["--half"] if half else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr.strip() or f"upscale.py failed ({r.returncode})")
        m = re.search(r"(\d+) frames in ([0-9.]+) s \(([0-9.]+) frames/s\)", r.stdout)
        return m.groups()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", default=os.path.join(REPO, "demo", "videos", "juggle_lr.mp4"))
    p.add_argument("--model", default=os.path.join(REPO, "pretrained_models", "FRVSR_BD_footage.pth"))
    args = p.parse_args()
    import torch
    settings = [("cpu", False)]
    if torch.cuda.is_available():
        settings += [("cuda", False), ("cuda", True)]
    print(f"input {args.input}, model {args.model}, torch threads {torch.get_num_threads()}")
    for device, half in settings:
        n, s, fps = run(args, device, half)
        print(f"{device}{' --half' if half else '':7s}: {n} frames in {s} s = {fps} frames/s end to end")


if __name__ == "__main__":
    main()
