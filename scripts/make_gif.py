"""Make a GIF from a video or a folder of frames (for README pictures).

python scripts/make_gif.py results/demo/juggle_compare.mp4 resources/juggle.gif --width 640 --max_frames 48
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli


def main():
    import cv2
    from PIL import Image

    from tecogan.video import open_source

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="video file or folder of frames")
    p.add_argument("output", help="GIF file")
    p.add_argument("--width", type=int, default=480, help="GIF width in pixels (height follows)")
    p.add_argument("--max_frames", type=int, default=60)
    p.add_argument("--fps", type=float, default=None, help="default: the input's frame rate")
    p.add_argument("--crop", default=None, help="x,y,w,h region of the input to keep")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output GIF")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    from tecogan.config.limits import check_number
    from tecogan.utils.fileio import atomic_write
    from tecogan.utils.outputs import FILE, check_outputs

    if not args.output.lower().endswith(".gif"):
        raise UserError(f"{args.output}: expected a .gif file name")
    check_number("--width", args.width, minimum=8, maximum=4096, integer=True)
    check_number("--max_frames", args.max_frames, minimum=1, maximum=10000, integer=True)
    check_number("--fps", args.fps, minimum=0.1, maximum=100)
    crop = None
    if args.crop:
        try:
            crop = [int(v) for v in args.crop.split(",")]
        except ValueError:
            crop = None
        if crop is None or len(crop) != 4 or min(crop[:2]) < 0 or min(crop[2:]) < 1:
            raise UserError(f"--crop {args.crop}: expected x,y,w,h with x, y >= 0 and w, h >= 1")
    check_outputs([("OUTPUT", args.output, FILE)], [("INPUT", args.input)], args.overwrite)
    source = open_source(args.input)
    images = []
    for i, (_name, frame) in enumerate(source):
        if i >= args.max_frames:
            break
        if crop:
            x, y, w, h = crop
            if x + w > frame.shape[1] or y + h > frame.shape[0]:  # not cut short without a word
                raise UserError(f"--crop {args.crop}: reaches outside the {frame.shape[1]}x{frame.shape[0]} frame")
            frame = frame[y : y + h, x : x + w]
        h = max(1, round(frame.shape[0] * args.width / frame.shape[1]))
        images.append(Image.fromarray(cv2.resize(frame, (args.width, h), interpolation=cv2.INTER_AREA)))
    if not images:
        raise UserError(f"{args.input}: no frames")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    fps = args.fps or source.fps
    atomic_write(
        args.output,
        lambda tmp: images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=max(1, int(1000 / fps)), loop=0, optimize=True
        ),
        suffix=".gif",
    )
    print(f"{args.output}: {len(images)} frames, {args.width}x{images[0].height}")
    return 0


if __name__ == "__main__":
    run_cli(main)
