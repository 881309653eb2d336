"""What tiling costs: ``--tile`` against whole frames, and against the overlap's own cost.

    python scripts/benchmark_tiles.py                      # 12 frames 320x180, tile 64, overlap 8
    python scripts/benchmark_tiles.py --tile 96 --tile_overlap 16 --backend torch

Both run through ``tecogan.Upscaler.upscale_frames`` (what upscale.py runs), interleaved over
``--rounds`` rounds (best of each), on the same frames, for each backend.  The overlap's own
cost is the LR area the tiles cover divided by the frame's area: tiling cannot be cheaper
than that, and should not cost much more.  Weights are random: speed does not depend on them.
"""

import argparse
import os
import runpy
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.inference.steppers import tile_starts
from tecogan.profiling import cpu_name
from tecogan.utils.errors import UserError, run_cli


def seconds_per_clip(upscaler, frames):
    start = time.perf_counter()
    for _ in upscaler.upscale_frames(frames):
        pass
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="320x180", help="LR frame size WxH")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--tile", type=int, default=64)
    p.add_argument("--tile_overlap", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--backend", default="torch,openvino", help="comma-separated inference backends")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {args.size}: expected WxH, e.g. 320x180") from None
    if min(w, h) < 8 or args.frames < 1 or args.rounds < 1 or not 0 <= args.tile_overlap < args.tile:
        raise UserError("--size sides >= 8, --frames >= 1, --rounds >= 1, 0 <= --tile_overlap < --tile")
    import numpy as np
    import torch

    import tecogan

    torch.manual_seed(0)
    net = tecogan.build_generator("FRNet", nf=64, nb=10, degradation="BD", scale=4).eval()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(args.frames)]
    th, tw = min(args.tile, h), min(args.tile, w)
    covered = len(tile_starts(h, args.tile, args.tile_overlap)) * th * len(tile_starts(w, args.tile, args.tile_overlap)) * tw
    overlap_cost = covered / (h * w)
    print(
        f"{cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; {args.frames} frames "
        f"{w}x{h}, tile {args.tile} overlap {args.tile_overlap}: tiles cover {overlap_cost:.2f}x the frame"
    )
    for backend in [b.strip() for b in args.backend.split(",") if b.strip()]:
        whole = tecogan.Upscaler(net, backend=backend, precision="fp32")
        tiled = tecogan.Upscaler(net, tile=args.tile, tile_overlap=args.tile_overlap, backend=backend, precision="fp32")
        seconds_per_clip(whole, frames[:1]), seconds_per_clip(tiled, frames[:1])  # compile/warm up
        t_whole, t_tiled = [], []
        for _ in range(args.rounds):
            t_whole.append(seconds_per_clip(whole, frames))
            t_tiled.append(seconds_per_clip(tiled, frames))
        a, b = min(t_whole), min(t_tiled)
        print(
            f"{backend:9s} whole frames {a:6.2f} s | tiled {b:6.2f} s | tiled / whole = {b / a:.2f} "
            f"(the overlap alone: {overlap_cost:.2f})"
        )
    return 0


if __name__ == "__main__":
    run_cli(main)
