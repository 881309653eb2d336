"""The bundled compressed held-out pair demo/val_crf30 (a window of the held-out clip 04_coffee).

    python scripts/make_demo_crf30.py      # after scripts/make_compressed_eval.py

Copies a 40x32 low-res window (x 56..95, y 20..51) of frames 31-35 of
``data/FootageHeldoutCRF30/LR/04_coffee`` (the whole frames were H.264-encoded at CRF 30, so
the window holds real codec blocks) and the aligned 160x128 GT window into
``demo/val_crf30/{LR,GT}/coffee/``.  04_coffee is one of the Apache-2.0 sam2 videos
(demo/ATTRIBUTION.md); it is held out of every training run.
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli

WINDOW = (20, 56, 32, 40)  # low-res y, x, height, width
FRAMES = ("0031.png", "0032.png", "0033.png", "0034.png", "0035.png")


def main(argv=None):
    from tecogan.utils.fileio import read_image_rgb, write_image_rgb

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", default=os.path.join(REPO, "data", "FootageHeldoutCRF30"))
    p.add_argument("--out", default=os.path.join(REPO, "demo", "val_crf30"))
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    y, x, h, w = WINDOW
    for name in FRAMES:
        for sub, s in (("LR", 1), ("GT", 4)):
            path = os.path.join(args.src, sub, "04_coffee", name)
            if not os.path.isfile(path):
                raise UserError(f"{path}: not found (make it with scripts/make_compressed_eval.py)")
            img = read_image_rgb(path)
            write_image_rgb(os.path.join(args.out, sub, "coffee", name), img[y * s : (y + h) * s, x * s : (x + w) * s])
    print(f"{args.out}: {len(FRAMES)} frames, LR {w}x{h}, GT {4 * w}x{4 * h}")
    return 0


if __name__ == "__main__":
    run_cli(main)
