"""Regenerate the bundled demo/ clips from the Apache-2.0 SAM 2 example videos.

    python scripts/make_demo_data.py --src ../shared/data/sam2_videos

Train clips (4 videos), a validation clip (GT + BD LR) and a small LR video for the
"upscale your own video" demo; frames are downscaled with cv2.INTER_AREA.
"""

import argparse
import os
import runpy
import shutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli

TRAIN = {"dog": "01_dog.mp4", "cups": "02_cups.mp4", "blocks": "03_blocks.mp4", "bedroom": "bedroom.mp4"}
VAL = {"coffee": "04_coffee.mp4"}
UPSCALE = {"juggle": "05_default_juggle.mp4"}


def read_frames(path, start, count, size, step=1):
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise UserError(f"{path}: cannot open video")
    frames, i = [], 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if i >= start and (i - start) % step == 0:
            frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        i += 1
    cap.release()
    if len(frames) < count:
        raise UserError(f"{path}: only {len(frames)} frames from {start}")
    return frames


def main():
    import cv2

    from tecogan.ops.degradation import degrade_bd
    from tecogan.utils.fileio import write_image_rgb
    from tecogan.utils.outputs import PARENT, AtomicFolder, check_outputs

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", default=os.path.join(REPO, "..", "shared", "data", "sam2_videos"))
    p.add_argument("--out", default=os.path.join(REPO, "demo"))
    p.add_argument("--overwrite", action="store_true", help="replace the existing demo data (kept otherwise)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    subs = [os.path.join(args.out, sub) for sub in ("train_clips", "val", "videos")]
    check_outputs([("--out", d, PARENT) for d in subs], [("--src", args.src)])
    licence = os.path.join(args.src, "LICENSE")
    if not os.path.isfile(licence):  # before anything is written: the clips are shipped with their licence
        raise UserError(f"--src {args.src}: no LICENSE file (the videos' licence is shipped with the demo data)")
    existing = [d for d in subs if os.path.exists(d)]
    if existing and not args.overwrite:
        raise UserError(f"{existing[0]}: already exists; pass --overwrite to replace the demo data (it is kept otherwise)")
    # each folder is built beside its final place and replaces the old one only when complete
    stages = {os.path.basename(d): AtomicFolder(d) for d in subs}
    ok = False
    try:
        for name, video in TRAIN.items():
            for i, f in enumerate(read_frames(os.path.join(args.src, video), 30, 20, (256, 144))):
                write_image_rgb(os.path.join(stages["train_clips"].tmp, name, f"{i + 1:04d}.png"), f[..., ::-1])
        for name, video in VAL.items():
            for i, f in enumerate(read_frames(os.path.join(args.src, video), 60, 10, (256, 144))):
                for kind, img in (("GT", f), ("Gaussian4xLR", degrade_bd(f))):
                    write_image_rgb(os.path.join(stages["val"].tmp, kind, name, f"{i + 1:04d}.png"), img[..., ::-1])
        for name, video in UPSCALE.items():
            frames = read_frames(os.path.join(args.src, video), 0, 48, (192, 108))
            cap = cv2.VideoCapture(os.path.join(args.src, video))
            fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
            cap.release()
            out = os.path.join(stages["videos"].tmp, f"{name}_lr.mp4")
            writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), fps, (192, 108))
            for f in frames:
                writer.write(f)
            writer.release()
        ok = True
    finally:
        for stage in stages.values():
            stage.close(ok)
    shutil.copy(licence, os.path.join(args.out, "LICENSE-sam2-videos"))
    print(f"demo data written to {args.out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
