"""The bicubic baseline: MATLAB-style bicubic 4x upsampling of every low-res frame.

    python scripts/bicubic_baseline.py --lr_dir data/Vid4/Gaussian4xLR --out_dir results/Vid4/Bicubic
    python ./codes/official_metrics/evaluate.py --model Bicubic --datasets Vid4

The output is laid out like a model's test results (``<out_dir>/<sequence>/*.png``), so the
official metrics score it the same way.  The interpolation is ``imresize(lr, 4, 'bicubic')``
(cubic convolution, a = -0.5), the "Bicubic" row of super-resolution tables.
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "codes"))

from utils.errors import UserError, run_cli  # noqa: E402


def main():
    from ops.imresize import imresize
    from utils.fileio import transform_sequences
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lr_dir", required=True, help="<lr_dir>/<sequence>/*.png")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    if args.scale < 1:
        raise UserError(f"--scale {args.scale}: expected an integer >= 1")
    n = transform_sequences(args.lr_dir, args.out_dir, lambda _path, img: imresize(img, args.scale),
                            desc="bicubic")
    print(f"{args.out_dir}: {n} sequences")
    return 0


if __name__ == "__main__":
    run_cli(main)
