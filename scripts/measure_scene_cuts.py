"""What ``--scene_cuts on`` changes on a clip made by joining two shots.

    python scripts/measure_scene_cuts.py [--model frvsr] [--shots blackswan car-roundabout] [--frames 12]

Takes ``--frames`` frames of two DAVIS-2016 sequences (../shared/data), centre-cropped to
``--crop`` HR pixels, shrinks them 4x (bicubic) and joins them: shot A then shot B.  Upscales
the joined clip with the recurrence restarted at detected cuts (on) and without (off), and shot
B alone.  Prints where cuts were found, whether the frames after the cut with ``on`` equal shot
B upscaled alone, and the PSNR (against the HR frames) of the first frames after the cut with
and without.
"""

import argparse
import os
import runpy

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.inference.options import InferenceOptions
from tecogan.inference.upscaler import Upscaler
from tecogan.jobs.scene_cuts import CutDetector, upscale_with_cuts
from tecogan.networks import generator_from_checkpoint
from tecogan.pretrained import resolve_model
from tecogan.video.common import Frame

DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "davis2016_val")


def shot(name, frames, crop):
    folder = os.path.join(DATA, name)
    hr = []
    for f in sorted(os.listdir(folder))[:frames]:
        img = cv2.imread(os.path.join(folder, f))[..., ::-1]
        h, w = img.shape[:2]
        y, x = (h - crop[0]) // 2, (w - crop[1]) // 2
        hr.append(np.ascontiguousarray(img[y : y + crop[0], x : x + crop[1]]))
    lr = [cv2.resize(f, (crop[1] // 4, crop[0] // 4), interpolation=cv2.INTER_CUBIC) for f in hr]
    return hr, lr


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def run(upscaler, lr, cuts=False, found=None):
    frames = [Frame(f"{i:04d}.png", f, None) for i, f in enumerate(lr)]
    on_cut = (lambda f: found.append(int(f.name[:4]))) if found is not None else None
    return [o.image for o in upscale_with_cuts(upscaler, frames, CutDetector() if cuts else None, on_cut)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="frvsr")
    p.add_argument("--shots", nargs=2, default=["blackswan", "car-roundabout"])
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--crop", type=int, nargs=2, default=[256, 384], help="HR crop height width")
    p.add_argument("--after", type=int, default=6, help="frames after the cut to report")
    args = p.parse_args()
    upscaler = Upscaler(generator_from_checkpoint(resolve_model(args.model)), InferenceOptions(device="cpu", precision="fp32"))
    hr_a, lr_a = shot(args.shots[0], args.frames, args.crop)
    hr_b, lr_b = shot(args.shots[1], args.frames, args.crop)
    found = []
    on = run(upscaler, lr_a + lr_b, cuts=True, found=found)
    off = run(upscaler, lr_a + lr_b)
    alone = run(upscaler, lr_b)
    n = args.frames
    print(f"{args.model}: {args.shots[0]} ({n}) + {args.shots[1]} ({n}), LR {lr_a[0].shape[1]}x{lr_a[0].shape[0]}")
    print(f"cuts found at frames {found} (the join is at {n})")
    same = all(np.array_equal(a, b) for a, b in zip(on[n:], alone, strict=True))
    print(f"frames after the cut with on == shot B upscaled alone: {same}")
    print(f"shot A unchanged by on: {all(np.array_equal(a, b) for a, b in zip(on[:n], off[:n], strict=True))}")
    print("frame after cut | PSNR off (dB) | PSNR on (dB) | on - off | PSNR off vs on (the ghost)")
    for k in range(min(args.after, n)):
        p_off, p_on = psnr(off[n + k], hr_b[k]), psnr(on[n + k], hr_b[k])
        print(f"{k:15d} | {p_off:13.2f} | {p_on:12.2f} | {p_on - p_off:+8.2f} | {psnr(off[n + k], on[n + k]):.2f}")
    rest_off = np.mean([psnr(off[n + k], hr_b[k]) for k in range(n)])
    rest_on = np.mean([psnr(on[n + k], hr_b[k]) for k in range(n)])
    print(f"mean over shot B: off {rest_off:.2f} dB, on {rest_on:.2f} dB")


if __name__ == "__main__":
    main()
