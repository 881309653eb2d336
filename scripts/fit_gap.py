"""Is a model short of data or short of training? Its Y-PSNR gain over bicubic on clips it was
trained on, next to the same gain on held-out clips.

    python scripts/fit_gap.py --model frvsr-bd --train_dir data/Footage/GT --heldout_dir data/FootageVal/GT

The first ``--frames`` GT frames of every clip are degraded the way the model expects (BD:
Gaussian blur sigma 1.5 and every 4th pixel; BI: MATLAB-style imresize), super-resolved with the
frame-recurrent procedure, and compared with the aligned bicubic upscale of the same low-res
frames. A model that has memorised its data gains clearly more on the training clips; similar
gains mean it is under-trained: more iterations help it, more data of the same kind does not.
The median is printed next to the mean: one easy clip can dominate a mean.
"""

import argparse
import os
import runpy
import statistics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli


def clip_folders(root, option):
    """Sorted ``(name, path)`` of the clip folders under ``root``."""
    if not os.path.isdir(root):
        raise UserError(f"{root}: {option} folder not found (expected {root}/<clip>/<frame>.png)")
    clips = sorted(
        (d, os.path.join(root, d)) for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")
    )
    if not clips:
        raise UserError(f"{root}: no clip folders in {option} (expected {root}/<clip>/<frame>.png)")
    return clips


def degraders(degradation, scale):
    """``(make_lr, bicubic)``: GT -> LR as the model's training data, LR -> aligned bicubic HR."""
    from tecogan.ops.degradation import degrade_bd
    from tecogan.ops.imresize import imresize
    from tecogan.ops.upsample import bd_bicubic_frame

    if degradation == "BD":
        return (lambda gt: degrade_bd(gt, scale=scale)), (lambda lr: bd_bicubic_frame(lr, scale))
    return (lambda gt: imresize(gt, 1.0 / scale)), (lambda lr: imresize(lr, scale))


def clip_gain(upscaler, folder, frames, make_lr, bicubic):
    """``(model, bicubic)`` mean Y-PSNR over the first ``frames`` frames of a clip folder."""
    import numpy as np

    from tecogan.metrics.validation import psnr_y_uint8
    from tecogan.utils.fileio import list_images, read_image_rgb

    names = list_images(folder)[:frames]
    if not names:
        raise UserError(f"{folder}: no frames (expected <frame>.png files)")
    scale = upscaler.scale
    gts = []
    for name in names:
        gt = read_image_rgb(os.path.join(folder, name))
        h, w = gt.shape[0] // scale * scale, gt.shape[1] // scale * scale
        if gts and (h, w) != gts[0].shape[:2]:
            raise UserError(
                f"{os.path.join(folder, name)}: {w}x{h} (cut to the scale), but {names[0]} is {gts[0].shape[1]}x{gts[0].shape[0]}"
            )
        gts.append(gt[:h, :w])
    lrs = [make_lr(gt) for gt in gts]
    srs = list(upscaler.upscale_frames(lrs))
    model = float(np.mean([psnr_y_uint8(gt, sr) for gt, sr in zip(gts, srs, strict=False)]))
    base = float(np.mean([psnr_y_uint8(gt, bicubic(lr)) for gt, lr in zip(gts, lrs, strict=False)]))
    return model, base


def main():
    from tecogan.api import Upscaler, load_generator
    from tecogan.config.limits import check_number

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="frvsr-bd", help="a shipped model's name or a generator .pth")
    p.add_argument("--train_dir", required=True, help="GT clips the model was trained on: <dir>/<clip>/*.png")
    p.add_argument("--heldout_dir", required=True, help="GT clips it never saw: <dir>/<clip>/*.png")
    p.add_argument("--frames", type=int, default=30, help="frames scored per clip, from the first")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    check_number("--frames", args.frames, minimum=2, integer=True)
    sets = [("train", clip_folders(args.train_dir, "--train_dir")), ("held-out", clip_folders(args.heldout_dir, "--heldout_dir"))]
    net = load_generator(args.model)
    upscaler = Upscaler(net, precision="fp32")
    make_lr, bicubic = degraders(net.degradation, net.scale)
    print(f"{args.model} ({net.degradation}, x{net.scale}): Y-PSNR over the first {args.frames} frames of each clip")
    print(f"{'set':9s} {'clip':24s} {'model':>7s} {'bicubic':>7s} {'gain':>6s}")
    means = {}
    for label, clips in sets:
        gains = []
        for name, folder in clips:
            model, base = clip_gain(upscaler, folder, args.frames, make_lr, bicubic)
            gains.append(model - base)
            print(f"{label:9s} {name:24s} {model:7.2f} {base:7.2f} {model - base:+6.2f}", flush=True)
        means[label] = (statistics.mean(gains), statistics.median(gains), len(gains))
    for i, what in ((0, "mean"), (1, "median")):
        train, heldout = means["train"][i], means["held-out"][i]
        print(
            f"{what} gain over bicubic: train {train:+.2f} dB ({means['train'][2]} clips), "
            f"held-out {heldout:+.2f} dB ({means['held-out'][2]} clips), gap {train - heldout:+.2f} dB"
        )
    return 0


if __name__ == "__main__":
    run_cli(main)
