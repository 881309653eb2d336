"""The bicubic baseline: 4x bicubic upsampling of every low-res frame, aligned to how the
low-res frames were made.

    python scripts/bicubic_baseline.py --lr_dir data/Vid4/Gaussian4xLR --out_dir results/Vid4/Bicubic
    python ./codes/official_metrics/evaluate.py --model Bicubic --datasets Vid4

The output is laid out like a model's test results (``<out_dir>/<sequence>/*.png``), so the
official metrics score it the same way.

``--degradation BD`` (the default, for ``Gaussian4xLR``): BD low-res pixel (i, j) is the blurred
GT pixel (4i, 4j), so the upsampling must put the low-res samples back on those pixels. This
is the generator's own bicubic upsampler (cubic convolution, a = -0.75, the base FRNet adds its
residual to). ``--degradation BI`` (for ``Bicubic4xLR``): MATLAB's ``imresize(lr, 4, 'bicubic')``,
which assumes pixel-area (centre-aligned) sampling, as ``imresize(gt, 1/4)`` does. Using
the BI one on BD frames shifts the image by 1.5 pixels and costs about 3 dB.
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import run_cli


def main():
    from tecogan.ops.imresize import imresize
    from tecogan.ops.upsample import bd_bicubic_frame
    from tecogan.utils.sequences import transform_sequences

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lr_dir", required=True, help="<lr_dir>/<sequence>/*.png")
    p.add_argument("--out_dir", required=True)
    p.add_argument(
        "--degradation",
        default="BD",
        choices=("BD", "BI"),
        help="how the LR frames were made: BD (Gaussian, every 4th pixel) or BI (imresize)",
    )
    p.add_argument("--scale", type=int, default=4, help="upscaling factor (1..16)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out_dir")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    from tecogan.config.limits import check_number

    check_number("--scale", args.scale, minimum=1, maximum=16, integer=True)
    if args.degradation == "BD":
        upsample = lambda _path, img: bd_bicubic_frame(img, args.scale)  # noqa: E731
    else:
        upsample = lambda _path, img: imresize(img, args.scale)  # noqa: E731
    n = transform_sequences(
        args.lr_dir,
        args.out_dir,
        upsample,
        desc="bicubic",
        overwrite=args.overwrite,
        src_option="--lr_dir",
        dst_option="--out_dir",
    )
    print(f"{args.out_dir}: {n} sequences")
    return 0


if __name__ == "__main__":
    run_cli(main)
