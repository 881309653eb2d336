"""Compressed evaluation sets: a fixed, documented pipeline (not the training sampler).

    python scripts/make_compressed_eval.py          # the held-out and validation sets below

For every clip of ``--gt_dir`` (``--max_frames`` frames from frame ``--start``; by default
frames 31-50, after the 30 that FootageVal validates on): the GT frames are
cut to a multiple of 8 pixels (top-left kept, so the low-res frames have even sides for 4:2:0
chroma), shrunk 4x with OpenCV's pixel area (``cv2.INTER_AREA``, centre-aligned), and, for each
``--crf``, the low-res clip is encoded as one H.264 stream by libx264 (preset medium, its
default GOP of 250 frames and B-frames, yuv420p, 25 fps, one thread) and decoded again.
``--crf 0`` in the list means no compression (the clean area input).  Output, per CRF c:

    <out_root>/<prefix>CRF<c>/GT/<clip>/NNNN.png   (the cut GT; <prefix>Area for c = 0)
    <out_root>/<prefix>CRF<c>/LR/<clip>/NNNN.png

The defaults make the held-out sets (``data/FootageHeldout{CRF23,CRF30,Area}``, 20 frames per
clip), and ``--gt_dir data/FootageVal/GT --prefix FootageVal --crf 30 --start 0 --max_frames 30``
the validation set of experiments_BI/FRVSR_real.  ``--gt_dir data/Footage/GT --prefix FootageTrain
--clips 01_dog,02_cups,blackswan,car-roundabout --crf 30,0`` makes the same sets from four
training clips, to compare a model's gain on footage it was trained on with the held-out gain.
An existing output folder is kept unless ``--overwrite``.
"""

import argparse
import io
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

import av
import cv2
import numpy as np

from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.fileio import list_images, read_image_rgb, write_image_rgb
from tecogan.utils.outputs import DATASET, AtomicFolder, check_outputs
from tecogan.utils.yuv import bt601_to_rgb, rgb_to_bt601

SCALE = 4


def cut_gt(frame, multiple=2 * SCALE):
    """The top-left part of a GT frame whose sides are multiples of ``multiple``."""
    h, w = frame.shape[:2]
    if h < multiple * 8 or w < multiple * 8:
        raise UserError(f"frame of {w}x{h} is too small for a {SCALE}x evaluation set (at least {multiple * 8} px a side)")
    return frame[: h - h % multiple, : w - w % multiple]


def area_shrink(frame):
    h, w = frame.shape[:2]
    return cv2.resize(frame, (w // SCALE, h // SCALE), interpolation=cv2.INTER_AREA)


def h264_roundtrip(frames, crf):
    """(t, h, w, 3) uint8 RGB (even h, w) encoded by libx264 at ``crf`` (preset medium, default
    GOP and B-frames, yuv420p) and decoded: the fixed evaluation codec."""
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise UserError(f"h264_roundtrip: {w}x{h} frames need even sides (4:2:0 chroma)")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.thread_count = 1  # one thread: x264 with threads is not bit-reproducible
        # cpu-independent: x264's macroblock-tree rate control (SIMD float code) otherwise made
        # different streams from the same frames run to run on an AVX-512 Xeon (and across CPUs)
        stream.options = {"crf": str(int(crf)), "preset": "medium", "threads": "1", "x264-params": "threads=1:cpu-independent=1"}
        for f in frames:
            for packet in stream.encode(rgb_to_bt601(f, "yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, mode="r") as inp:
        decoded = [bt601_to_rgb(fr) for fr in inp.decode(video=0)]
    if len(decoded) != t:
        raise RuntimeError(f"h264_roundtrip: {len(decoded)} frames decoded for {t} encoded")
    return np.stack(decoded)


def degrade_clip_for_eval(gt_frames, crf):
    """(cut GT, LR) of one clip: cut, area shrink, then H.264 at ``crf`` (0: none)."""
    gt = np.stack([cut_gt(f) for f in gt_frames])
    lr = np.stack([area_shrink(f) for f in gt])
    return gt, (h264_roundtrip(lr, crf) if crf else lr)


def parse_crfs(text):
    try:
        crfs = [int(c) for c in str(text).split(",") if c.strip()]
    except ValueError:
        crfs = []
    if not crfs or any(c < 0 or c > 51 for c in crfs):
        raise UserError(f"--crf {text}: expected comma-separated integers in 0..51 (0 = no compression)")
    return crfs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gt_dir", default="data/FootageHeldout/GT", help="<gt_dir>/<clip>/*.png")
    p.add_argument("--out_root", default="data")
    p.add_argument("--prefix", default="FootageHeldout")
    p.add_argument("--crf", default="23,30,0", help="comma-separated CRFs; 0 = clean area input")
    p.add_argument(
        "--start", type=int, default=30, help="first frame (0-based) of each clip; the default skips the 30 frames of FootageVal"
    )
    p.add_argument("--max_frames", type=int, default=20, help="frames per clip from --start (0 = all)")
    p.add_argument(
        "--clips",
        default="",
        help="comma-separated clip folders of --gt_dir (default: all), e.g. training clips to compare "
        "a model's gain on seen and held-out footage",
    )
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    crfs = parse_crfs(args.crf)
    if args.max_frames < 0 or args.start < 0:
        raise UserError(f"--start {args.start} / --max_frames {args.max_frames}: expected integers >= 0")
    if not os.path.isdir(args.gt_dir):
        raise UserError(f"{args.gt_dir}: GT folder not found (expected <clip>/<frame>.png; scripts/prepare_footage.py)")
    clips = sorted(d for d in os.listdir(args.gt_dir) if os.path.isdir(os.path.join(args.gt_dir, d)))
    if not clips:
        raise UserError(f"{args.gt_dir}: no clip folders")
    if args.clips:
        wanted = [c.strip() for c in args.clips.split(",") if c.strip()]
        missing = [c for c in wanted if c not in clips]
        if missing or not wanted:
            raise UserError(
                f"--clips {args.clips!r}: {missing[0] if missing else 'empty list'}: not a clip folder of "
                f"{args.gt_dir} (has {', '.join(clips[:6])}{', ...' if len(clips) > 6 else ''})"
            )
        clips = wanted
    outs = {c: os.path.join(args.out_root, f"{args.prefix}{'CRF%d' % c if c else 'Area'}") for c in crfs}
    check_outputs([("--out_root", d, DATASET) for d in outs.values()], [("--gt_dir", args.gt_dir)], args.overwrite)
    frames = {}
    for clip in clips:
        names = list_images(os.path.join(args.gt_dir, clip))
        names = names[args.start : args.start + args.max_frames] if args.max_frames else names[args.start :]
        if len(names) < 5:
            raise UserError(
                f"{os.path.join(args.gt_dir, clip)}: {len(names)} frame(s) from --start {args.start}; "
                f"the official metrics need at least 5"
            )
        images = [read_image_rgb(os.path.join(args.gt_dir, clip, n)) for n in names]
        for name, img in zip(names, images, strict=True):
            where = os.path.join(args.gt_dir, clip, name)
            if img.shape != images[0].shape:
                raise UserError(
                    f"{where}: {img.shape[1]}x{img.shape[0]}, but {names[0]} is {images[0].shape[1]}x{images[0].shape[0]}"
                )
            try:
                cut_gt(img)
            except UserError as err:
                raise UserError(f"{where}: {err}") from None
        frames[clip] = (names, np.stack(images))
    for crf, out in outs.items():
        with AtomicFolder(out) as staging:
            for clip, (names, gt_frames) in frames.items():
                gt, lr = degrade_clip_for_eval(gt_frames, crf)
                for sub, arr in (("GT", gt), ("LR", lr)):
                    for name, img in zip(names, arr, strict=True):
                        write_image_rgb(os.path.join(staging.tmp, sub, clip, os.path.splitext(name)[0] + ".png"), img)
        print(f"{out}: {len(frames)} clip(s), LR {'H.264 CRF %d' % crf if crf else 'area, uncompressed'}", flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
