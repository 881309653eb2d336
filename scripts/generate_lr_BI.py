"""BI low-res frames: MATLAB-style bicubic 1/4 resize of every GT frame, no MATLAB needed.

    python scripts/generate_lr_BI.py --gt_dir data/VimeoTecoGAN/GT --lr_dir data/VimeoTecoGAN/Bicubic4xLR
    python scripts/generate_lr_BI.py --gt_dir G --lr_dir data/FootageHeldout/Area4xLR --method area

``--method imresize`` (default): the BI data of the papers. ``--method area``: OpenCV's
pixel-area average (``cv2.INTER_AREA``), what ordinary tools (FFmpeg, image editors) do
when shrinking; both are centre-aligned, for judging models on video shrunk the usual way.
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli


def main():
    from tecogan.ops.imresize import imresize
    from tecogan.utils.sequences import transform_sequences

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gt_dir", required=True, help="<gt_dir>/<sequence>/*.png")
    p.add_argument("--lr_dir", required=True)
    p.add_argument("--scale", type=int, default=4, help="downscaling factor (1..16)")
    p.add_argument(
        "--method",
        default="imresize",
        choices=("imresize", "area"),
        help="imresize: MATLAB-style bicubic (BI data); area: cv2.INTER_AREA (ordinary tools)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --lr_dir")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    from tecogan.config.limits import check_number

    check_number("--scale", args.scale, minimum=1, maximum=16, integer=True)

    def to_lr(path, img):
        if img.shape[0] % args.scale or img.shape[1] % args.scale:
            raise UserError(f"{path}: {img.shape[1]}x{img.shape[0]} is not a multiple of {args.scale}")
        if args.method == "area":
            import cv2

            return cv2.resize(img, (img.shape[1] // args.scale, img.shape[0] // args.scale), interpolation=cv2.INTER_AREA)
        return imresize(img, 1.0 / args.scale)

    n = transform_sequences(args.gt_dir, args.lr_dir, to_lr, desc="BI", overwrite=args.overwrite)
    print(f"{args.lr_dir}: {n} sequences")
    return 0


if __name__ == "__main__":
    run_cli(main)
