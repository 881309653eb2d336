"""BD low-res frames from GT: Gaussian blur (9x9 for sigma 1.5) then every 4th (2nd for --scale 2) pixel.

    python scripts/resize_BD.py --gt_dir data/Vid4/GT --lr_dir data/Vid4/Gaussian4xLR
"""
import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import run_cli


def main():
    from tecogan.ops.degradation import degrade_bd
    from tecogan.utils.fileio import transform_sequences
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gt_dir", required=True, help="<gt_dir>/<sequence>/*.png")
    p.add_argument("--lr_dir", required=True)
    p.add_argument("--sigma", type=float, default=1.5)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    n = transform_sequences(args.gt_dir, args.lr_dir,
                            lambda _path, img: degrade_bd(img, args.sigma, args.scale), desc="BD")
    print(f"{args.lr_dir}: {n} sequences")
    return 0


if __name__ == "__main__":
    run_cli(main)
