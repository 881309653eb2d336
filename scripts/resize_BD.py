"""BD low-res frames from GT: Gaussian blur (9x9 for sigma 1.5) then every 4th (2nd for --scale 2) pixel.

python scripts/resize_BD.py --gt_dir data/Vid4/GT --lr_dir data/Vid4/Gaussian4xLR
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan import defaults
from tecogan.utils.errors import UserError, run_cli


def check_bd_params(sigma, scale):
    """Refuse meaningless values before OpenCV sees them (a negative scale flipped the image)."""
    from tecogan.config.limits import check_number

    check_number("--sigma", sigma, minimum=0, maximum=50, strict_minimum=True)
    check_number("--scale", scale, minimum=1, maximum=16, integer=True)


def main():
    from tecogan.ops.degradation import degrade_bd
    from tecogan.utils.sequences import transform_sequences

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gt_dir", required=True, help="<gt_dir>/<sequence>/*.png")
    p.add_argument("--lr_dir", required=True)
    p.add_argument("--sigma", type=float, default=defaults.BD_SIGMA, help="Gaussian blur sigma (> 0)")
    p.add_argument("--scale", type=int, default=4, help="keep every N-th pixel (1..16)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --lr_dir")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    check_bd_params(args.sigma, args.scale)

    def to_lr(path, img):
        if img.shape[0] % args.scale or img.shape[1] % args.scale:  # the LR x scale would not be the GT
            raise UserError(f"{path}: {img.shape[1]}x{img.shape[0]} is not a multiple of {args.scale}")
        return degrade_bd(img, args.sigma, args.scale)

    n = transform_sequences(args.gt_dir, args.lr_dir, to_lr, desc="BD", overwrite=args.overwrite)
    print(f"{args.lr_dir}: {n} sequences")
    return 0


if __name__ == "__main__":
    run_cli(main)
