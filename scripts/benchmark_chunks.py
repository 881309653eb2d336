"""Scaling of one video's chunks (issue 35): two ``upscale.py --worker`` processes of one thread
each vs one single-machine ``--scene_cuts on`` process of one thread, on one input of ``--shots``
shots (synthetic: each shot its own pattern and colours, so every cut is found).

    python scripts/benchmark_chunks.py [--shots 8] [--shot_frames 12] [--size 48x64] [--model frvsr]
        [--rounds 2] [--codec ffv1]

Each run is a fresh command (as a user runs them), with OMP_NUM_THREADS=1 and --threads 1;
the single run and the pair of workers alternate ``--rounds`` times (interleaved: the machine's
load changes both alike) and the best time of each is kept.  Prints the CPU, the load average
before and after, each time and the speed-up single / pair (the chunked output is checked to
decode to the single run's frames).  On a machine shared with other work the speed-up says as
much about the load as about the chunks: report the load with it.
"""

import argparse
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))
sys.path.insert(0, os.path.join(REPO, "tests"))

import numpy as np  # noqa: E402
from avclips import decode_rgb, make_clip  # noqa: E402
from test_jobs_chunks import scenes  # noqa: E402

from tecogan.profiling import cpu_name  # noqa: E402

UPSCALE = [sys.executable, os.path.join(REPO, "codes", "upscale.py")]


def timed(commands, env):
    started = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            sys.exit(f"failed: {err.strip().splitlines()[-1] if err.strip() else p.returncode}")
    return time.perf_counter() - started


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shots", type=int, default=8)
    p.add_argument("--shot_frames", type=int, default=12)
    p.add_argument("--size", default="48x64", help="LR frame size HxW")
    p.add_argument("--model", default="frvsr")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--codec", default="ffv1")
    args = p.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    work = tempfile.mkdtemp(prefix="bench-chunks-")
    env = dict(os.environ, OMP_NUM_THREADS="1", TECOGAN_PRECISION="fp32")
    try:
        clip = os.path.join(work, "in.mp4")
        frames = scenes([args.shot_frames] * args.shots, h=h, w=w)
        make_clip(clip, frames, rate=24, codec="ffv1", pix_fmt="bgr0", fmt="matroska")
        base = [
            "--model",
            args.model,
            "--device",
            "cpu",
            "--threads",
            "1",
            "--precision",
            "fp32",
            "--scene_cuts",
            "on",
            "--chunk_frames",
            str(args.shot_frames),
            "--codec",
            args.codec,
            "--quiet",
        ]
        load_before = os.getloadavg()
        single, pair = [], []
        for r in range(args.rounds):
            one, two = os.path.join(work, f"one{r}.mkv"), os.path.join(work, f"two{r}.mkv")
            single.append(timed([UPSCALE + [clip, one, *base]], env))
            pair.append(timed([UPSCALE + [clip, two, *base, "--worker", "--lease", "20"]] * 2, env))
            same = all(np.array_equal(a, b) for a, b in zip(decode_rgb(one), decode_rgb(two), strict=True))
            print(f"round {r}: one process {single[-1]:.1f} s, two workers {pair[-1]:.1f} s, same frames: {same}", flush=True)
        load_after = os.getloadavg()
        print(
            f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; load average before "
            f"{load_before[0]:.2f}, after {load_after[0]:.2f}"
        )
        print(f"{args.shots} shots x {args.shot_frames} frames at {w}x{h}, model {args.model}, {args.codec}")
        print(
            f"best: one process of one thread {min(single):.1f} s, two --worker processes of one thread "
            f"{min(pair):.1f} s: speed-up {min(single) / min(pair):.2f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
