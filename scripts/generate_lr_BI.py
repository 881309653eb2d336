"""BI low-res frames: MATLAB-style bicubic 1/4 resize of every GT frame, no MATLAB needed.

    python scripts/generate_lr_BI.py --gt_dir data/VimeoTecoGAN/GT --lr_dir data/VimeoTecoGAN/Bicubic4xLR
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "codes"))

from utils.errors import UserError, run_cli  # noqa: E402


def main():
    from tqdm import tqdm
    from ops.imresize import imresize
    from utils.fileio import list_images, read_image_rgb, write_image_rgb
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gt_dir", required=True, help="<gt_dir>/<sequence>/*.png")
    p.add_argument("--lr_dir", required=True)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    if not os.path.isdir(args.gt_dir):
        raise UserError(f"{args.gt_dir}: GT folder not found")
    seqs = sorted(d for d in os.listdir(args.gt_dir) if os.path.isdir(os.path.join(args.gt_dir, d)))
    if not seqs:
        raise UserError(f"{args.gt_dir}: no sequence folders")
    for seq in tqdm(seqs, desc="BI", unit="seq", disable=None):
        for name in list_images(os.path.join(args.gt_dir, seq)):
            path = os.path.join(args.gt_dir, seq, name)
            img = read_image_rgb(path)
            if img.shape[0] % args.scale or img.shape[1] % args.scale:
                raise UserError(f"{path}: {img.shape[1]}x{img.shape[0]} is not a multiple of {args.scale}")
            out = os.path.join(args.lr_dir, seq, os.path.splitext(name)[0] + ".png")
            write_image_rgb(out, imresize(img, 1.0 / args.scale))
    print(f"{args.lr_dir}: {len(seqs)} sequences")
    return 0


if __name__ == "__main__":
    run_cli(main)
