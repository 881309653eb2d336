"""Example frames of the Real degradation for docs/data.md (resources/real_degradation_examples.png).

    python scripts/real_examples.py [--clip demo/train_clips/cups --out resources/real_degradation_examples.png] [--overwrite]

The bundled clip's frames go through :func:`degrade_clip` with a few fixed parameter sets and
with parameters drawn by the default ranges (seeds 0..3); the 4th low-res frame of each is
cut (the same window) and shown 4x with nearest-neighbour pixels, labelled, next to the GT.
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

import cv2
import numpy as np

from tecogan.experiment import validate_config
from tecogan.ops.real_degradation import degrade_clip, sample_params
from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.fileio import list_images, read_image_rgb, write_image_rgb
from tecogan.utils.outputs import FILE, check_outputs

FIXED = [
    ("area, clean", {"blur": None, "downsample": "area", "noise": None, "jpeg": None, "video": None}),
    (
        "aniso blur, bicubic",
        {
            "blur": {"type": "aniso", "size": 11, "sigma_x": 1.5, "sigma_y": 0.4, "theta": 0.6, "beta": 2.0},
            "downsample": "bicubic",
            "noise": None,
            "jpeg": None,
            "video": None,
        },
    ),
    (
        "H.264 CRF 34",
        {
            "blur": None,
            "downsample": "area",
            "noise": None,
            "jpeg": None,
            "video": {"codec": "h264", "crf": 34, "gop": 12, "bframes": 2},
        },
    ),
    (
        "noise + MPEG-2 0.2 bpp",
        {
            "blur": None,
            "downsample": "bilinear",
            "jpeg": None,
            "noise": {"type": "gaussian", "level": 6.0, "grey": False, "seed": 1},
            "video": {"codec": "mpeg2", "bpp": 0.2, "gop": 12, "bframes": 0},
        },
    ),
]


def main(argv=None):

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", default=os.path.join(REPO, "demo", "train_clips", "cups"))
    p.add_argument("--out", default=os.path.join(REPO, "resources", "real_degradation_examples.png"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    check_outputs([("--out", args.out, FILE)], [("--clip", args.clip)], args.overwrite)
    if not os.path.isdir(args.clip):
        raise UserError(f"--clip {args.clip}: not a folder (expected a folder of frames)")
    names = list_images(args.clip)[:8]
    if len(names) < 4:
        raise UserError(f"--clip {args.clip}: {len(names)} frames; expected at least 4 (the 4th is shown)")
    frames = [read_image_rgb(os.path.join(args.clip, n)) for n in names]
    for n, f in zip(names, frames, strict=True):
        if f.shape != frames[0].shape:
            raise UserError(f"--clip {os.path.join(args.clip, n)}: {f.shape[1]}x{f.shape[0]}, not the first frame's size")
    y0, x0, size_h, size_w = 4, 16, 30, 36  # low-res window
    need_h, need_w = (y0 + size_h) * 4, (x0 + size_w) * 4
    if frames[0].shape[0] < need_h or frames[0].shape[1] < need_w:
        raise UserError(
            f"--clip {args.clip}: frames of {frames[0].shape[1]}x{frames[0].shape[0]}; expected at least "
            f"{need_w}x{need_h} (the window shown)"
        )
    gt = np.stack(frames)
    gt = gt[:, : gt.shape[1] // 4 * 4, : gt.shape[2] // 4 * 4]
    cfg = validate_config(
        {"scale": 4, "dataset": {"degradation": {"type": "Real"}}, "model": {"name": "FRVSR", "generator": {}}}
    )["dataset"]["degradation"]["real"]
    panels = [("GT", gt)]
    panels += [(label, degrade_clip(gt, 4, params)) for label, params in FIXED]
    for seed in range(3):
        params = sample_params(np.random.default_rng([seed]), cfg)
        v = params["video"]
        label = f"random {seed}: " + (
            f"{v['codec']} " + (f"crf {v['crf']}" if "crf" in v else f"{v['bpp']:.2f} bpp") if v else "no codec"
        )
        panels.append((label, degrade_clip(gt, 4, params)))
    tiles = []
    for label, clip in panels:
        if clip.shape[1] == gt.shape[1]:  # GT: area-shrink-free crop of the same window
            tile = clip[3, y0 * 4 : (y0 + size_h) * 4, x0 * 4 : (x0 + size_w) * 4]
        else:
            tile = cv2.resize(clip[3, y0 : y0 + size_h, x0 : x0 + size_w], None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
        tile = np.ascontiguousarray(tile)
        cv2.rectangle(tile, (0, 0), (tile.shape[1], 13), (0, 0, 0), -1)
        cv2.putText(tile, label, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    rows = [np.concatenate(tiles[i : i + 4], axis=1) for i in range(0, 8, 4)]
    write_image_rgb(args.out, np.concatenate(rows, axis=0))
    print(f"{args.out}: {len(tiles)} panels, {os.path.getsize(args.out)} bytes")
    return 0


if __name__ == "__main__":
    run_cli(main)
