"""End-to-end frames/s of two or more models through ``codes/upscale.py``, measured interleaved.

    python scripts/benchmark_models.py --models frvsr-fast,frvsr [--input demo/videos/juggle_lr.mp4]
        [--rounds 5] [--backends torch,openvino] [--precision fp32] [--threads 1]

Each round runs ``upscale.py`` once per (backend, model) in a fresh process, in turn (A, B, A,
B, ...), so a shared machine's load falls on every model alike; the output is an H.264 .mp4, and
the rate is upscale.py's own (first decoded frame to the last frame encoded, the file verified).
Prints the CPU and its vector/matrix flags, each model's median and best frames/s per backend and
the ratios of the first model to each other one (median to median, best to best). On a machine
shared with other jobs the wall-clock rates move with their load, so it also prints each run's
CPU seconds (the child process's user + system time, start-up and encoding included), which the
load changes far less.
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = re.compile(r"(\d+) frames in ([0-9.]+) s \(([0-9.]+) frames/s\)")


def cpu_flags():
    """The CPU's model name and the flags that decide inference speed."""
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
    name, flags = "unknown CPU", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name == "unknown CPU":
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = [x for x in wanted if x in line.split()]
                    break
    except OSError:
        pass
    return name, flags


def run_once(args, model, backend, out):
    cmd = [
        sys.executable,
        os.path.join(REPO, "codes", "upscale.py"),
        args.input,
        out,
        "--model",
        model,
        "--precision",
        args.precision,
        "--backend",
        backend,
        "--overwrite",
    ]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = RATE.search(r.stdout + r.stderr)
    if r.returncode != 0 or m is None:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{(r.stderr or r.stdout).strip()[-2000:]}")
    return float(m.group(3)), int(m.group(1)), cpu


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="frvsr-fast,frvsr", help="comma-separated; ratios are of the first")
    p.add_argument("--input", default=os.path.join(REPO, "demo", "videos", "juggle_lr.mp4"))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--backends", default="torch")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--threads", type=int, default=0, help="upscale.py --threads (0: its default, all cores)")
    args = p.parse_args()
    models, backends = args.models.split(","), args.backends.split(",")
    rates = {(b, m): [] for b in backends for m in models}
    cpus = {(b, m): [] for b in backends for m in models}
    frames = None
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.mp4")
        for r in range(args.rounds):
            for b in backends:
                for m in models:
                    fps, frames, cpu = run_once(args, m, b, out)
                    rates[(b, m)].append(fps)
                    cpus[(b, m)].append(cpu)
            print(
                f"round {r + 1}: "
                + ", ".join(
                    f"{m}/{b} {rates[(b, m)][-1]:.2f} frames/s ({cpus[(b, m)][-1]:.1f} CPU s)" for b in backends for m in models
                ),
                flush=True,
            )
    name, flags = cpu_flags()
    print(
        f"CPU {name} ({os.cpu_count()} cores visible; {' '.join(flags) or 'no AVX2'}), "
        f"upscale.py --threads {args.threads or 'default'}; input {os.path.relpath(args.input, REPO)} "
        f"({frames} frames), H.264 .mp4 output, --precision {args.precision}, {args.rounds} interleaved rounds"
    )
    for b in backends:
        for m in models:
            v = rates[(b, m)]
            print(
                f"{b:9s} {m:14s} median {statistics.median(v):7.2f} frames/s, best {max(v):7.2f}; "
                f"median {statistics.median(cpus[(b, m)]):.1f} CPU s per run"
            )
        first = models[0]
        for m in models[1:]:
            med = statistics.median(rates[(b, first)]) / statistics.median(rates[(b, m)])
            best = max(rates[(b, first)]) / max(rates[(b, m)])
            per_round = statistics.median(a / c for a, c in zip(rates[(b, first)], rates[(b, m)], strict=True))
            cpu = statistics.median(cpus[(b, m)]) / statistics.median(cpus[(b, first)])
            print(
                f"{b:9s} {first} / {m}: {med:.2f}x (medians), {best:.2f}x (best), {per_round:.2f}x (median of the "
                f"rounds' ratios); CPU seconds per run: {cpu:.2f}x fewer"
            )


if __name__ == "__main__":
    main()
