"""BD low-res frames from GT: Gaussian blur (9x9, sigma 1.5) then every 4th pixel.

    python scripts/resize_BD.py --gt_dir data/Vid4/GT --lr_dir data/Vid4/Gaussian4xLR
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "codes"))

from utils.errors import UserError, run_cli  # noqa: E402


def degrade_bd(img, sigma=1.5, scale=4):
    import cv2
    size = 1 + 2 * int(3 * sigma)
    blurred = cv2.GaussianBlur(img, (size, size), sigmaX=sigma)
    return blurred[::scale, ::scale]


def main():
    from tqdm import tqdm
    from utils.fileio import list_images, read_image_rgb, write_image_rgb
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gt_dir", required=True, help="<gt_dir>/<sequence>/*.png")
    p.add_argument("--lr_dir", required=True)
    p.add_argument("--sigma", type=float, default=1.5)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    if not os.path.isdir(args.gt_dir):
        raise UserError(f"{args.gt_dir}: GT folder not found")
    seqs = sorted(d for d in os.listdir(args.gt_dir) if os.path.isdir(os.path.join(args.gt_dir, d)))
    if not seqs:
        raise UserError(f"{args.gt_dir}: no sequence folders")
    for seq in tqdm(seqs, desc="BD", unit="seq", disable=None):
        for name in list_images(os.path.join(args.gt_dir, seq)):
            img = read_image_rgb(os.path.join(args.gt_dir, seq, name))
            out = os.path.join(args.lr_dir, seq, os.path.splitext(name)[0] + ".png")
            write_image_rgb(out, degrade_bd(img, args.sigma, args.scale))
    print(f"{args.lr_dir}: {len(seqs)} sequences")
    return 0


if __name__ == "__main__":
    run_cli(main)
