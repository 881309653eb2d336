"""End-to-end cost of resumable jobs: a plain ``upscale.py`` run written in recorded segments
(each its own encoder, the recurrent state saved after each, the file assembled by stream copy)
vs the one-go writer of earlier versions (still used with ``--compare`` and by the API).

    python scripts/benchmark_resume.py [--input demo/videos/juggle_lr.mp4] [--frames 320]
        [--lr_width 96] [--model frvsr] [--rounds 2] [--segment_frames 250] [--precision fp32]

The input is looped back and forth (no hard cut) to ``--frames`` frames and shrunk by pixel area
to ``--lr_width`` (a small size keeps the run short on a busy machine), encoded losslessly once.
Both ways run in this one process on one Upscaler (``--precision``, fp32 by default; ``auto``
as a plain ``upscale.py`` run, chosen once in the warm-up: a faster network makes the
segments' share of the time larger), interleaved ``--rounds`` times after
a warm-up; the best time of each is kept.  Prints the CPU, both times and segmented / one-go.
"""

import argparse
import os
import runpy
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))

import av  # noqa: E402
import cv2  # noqa: E402
import torch  # noqa: E402

from tecogan import defaults  # noqa: E402
from tecogan.inference.options import InferenceOptions  # noqa: E402
from tecogan.inference.upscaler import Upscaler  # noqa: E402
from tecogan.jobs.video_job import prepare_job, run_job  # noqa: E402
from tecogan.jobs.video_options import VideoOptions  # noqa: E402
from tecogan.networks import generator_from_checkpoint  # noqa: E402
from tecogan.pretrained import resolve_model  # noqa: E402
from tecogan.profiling import cpu_name  # noqa: E402


def make_clip(src, dst, frames, width):
    """``src`` looped back and forth to ``frames`` frames at ``width`` pixels wide (area shrink)."""
    with av.open(src) as c:
        images = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    h, w = images[0].shape[:2]
    size = (width, 2 * round(width * h / w / 2))
    images = [cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in images]
    loop = images + images[-2:0:-1]
    with av.open(dst, "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "bgr0"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(loop[i % len(loop)], format="rgb24").reformat(format="bgr0")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return size


def one_run(upscaler, src, dst, resume, segment_frames):
    video = VideoOptions(overwrite=True, quiet=True)
    start = time.perf_counter()
    job = prepare_job(src, dst, video, resume=resume, segment_frames=segment_frames)
    frames = run_job(upscaler, job, report=lambda _line: None, progress=False)
    return frames, time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", default=os.path.join(REPO, "demo", "videos", "juggle_lr.mp4"))
    p.add_argument("--frames", type=int, default=320)
    p.add_argument("--lr_width", type=int, default=96)
    p.add_argument("--model", default="frvsr")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--segment_frames", type=int, default=defaults.SEGMENT_FRAMES)
    p.add_argument("--precision", default="fp32", choices=defaults.PRECISIONS)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.mkv")
        size = make_clip(args.input, src, args.frames, args.lr_width)
        net = generator_from_checkpoint(resolve_model(args.model))
        upscaler = Upscaler(net, InferenceOptions(precision=args.precision, device="cpu"), report=None)
        print(
            f"CPU {cpu_name()} ({os.cpu_count()} cores visible), torch threads {torch.get_num_threads()}; "
            f"model {args.model}; {args.frames} frames {size[0]}x{size[1]} -> x4, H.264 crf 18 medium; "
            f"segments of {args.segment_frames}",
            flush=True,
        )
        one_run(upscaler, src, os.path.join(tmp, "warm.mp4"), None, args.segment_frames)
        print(f"precision {args.precision}: runs {upscaler.options.precision} through {upscaler.options.backend}", flush=True)
        best = {"one go": float("inf"), "segmented": float("inf")}
        for r in range(args.rounds):
            order = [("one go", None), ("segmented", False)]
            for name, resume in order if r % 2 == 0 else order[::-1]:
                n, seconds = one_run(upscaler, src, os.path.join(tmp, "out.mp4"), resume, args.segment_frames)
                best[name] = min(best[name], seconds)
                print(f"round {r + 1} {name}: {n} frames in {seconds:.2f} s ({n / seconds:.2f} frames/s)", flush=True)
        ratio = best["segmented"] / best["one go"]
        print(
            f"best: one go {best['one go']:.2f} s, segmented {best['segmented']:.2f} s: segmented / one go = "
            f"{ratio:.3f} ({(ratio - 1) * 100:+.1f}%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
