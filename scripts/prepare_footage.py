"""Training and held-out data from real footage (the DAVIS-2016 clips and the sam2 videos).

    python scripts/prepare_footage.py --src ../shared/data
    python scripts/create_lmdb.py --dataset Footage --data_type GT

Each clip (a folder of frames or a video file) is resized with area averaging to
``--width`` pixels wide (about 448, like Vimeo-90K), the height rounded to a multiple of 4,
and written as PNG frames:

    <out>/Footage/GT/<clip>/0001.png ...             training clips
    <out>/FootageHeldout/GT/<clip>/0001.png ...      held-out clips (never trained on)
    <out>/FootageHeldout/Gaussian4xLR/<clip>/...     their BD low-res input (sigma 1.5)
    <out>/FootageVal/{GT,Gaussian4xLR}/<clip>/...    the first ``--val_frames`` of each, for
                                                     quick validation during training

``--native WxH`` also writes ``<out>/FootageHeldoutNative/{GT,Gaussian4xLR}/<clip>/``: the
centre WxH crop (at most; a multiple of 4) of the first ``--native_frames`` frames of each
held-out clip at the source's own resolution, not resized.  Resizing to 448 px smooths the fine
texture away; at native resolution a video's texture is as fine as in the Vid4 city clip
(704x576), where a network that draws a 4x4 mesh shows it (the grid score, docs/models.md).
With ``--native_train`` as well, the training clips' centre crops at their own resolution go to
``<out>/FootageNative/GT/<clip>_native/`` (``--frame_step`` and ``--max_frames`` apply; the
suffix keeps the names apart from the resized clips, so both folders pack into one LMDB with
``create_lmdb.py --raw_dir data/Footage/GT --raw_dir data/FootageNative/GT``), and the next
``--native_val_frames`` frames of each held-out clip after the first ``--native_frames`` to
``<out>/FootageNativeVal/{GT,Gaussian4xLR}/<clip>/``, for validation at native resolution on
frames that the native held-out set does not score.

``--holdout`` names the clips kept out of training (the default keeps two DAVIS clips and
two of the videos).  ``--frame_step`` and ``--max_frames`` thin the training clips, for a copy
small enough to carry to another machine.  Existing clip folders are kept and skipped, so a
run that was interrupted can be started again (each clip folder is written under a temporary
name and renamed when complete); ``--overwrite`` makes them again.  No output may be or lie
inside a clip of ``--src``.
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan import defaults
from tecogan.utils.errors import UserError, run_cli

DEFAULT_HOLDOUT = ("bmx-trees", "car-shadow", "04_coffee", "05_default_juggle")


def find_clips(src, skip=None):
    """``(name, path)`` of every clip under ``src``: frame folders and video files, sorted.
    The folder ``skip`` (the output, when it lies inside ``src``) is not searched."""
    from tecogan.video import is_video_path

    skip = os.path.realpath(skip) if skip else None
    clips = []
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if os.path.realpath(os.path.join(root, d)) != skip)
        for f in sorted(files):
            if is_video_path(f):
                clips.append((os.path.splitext(f)[0], os.path.join(root, f)))
        if root != src and any(not is_video_path(f) and f.lower().endswith((".png", ".jpg", ".jpeg")) for f in files):
            clips.append((os.path.basename(root), root))
    names = [n for n, _ in clips]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"{src}: several clips are named {', '.join(dup)} (clip names must be unique)")
    return clips


def target_size(w, h, width):
    """``(w, h)`` scaled to ``width`` wide, the height rounded to a multiple of 4."""
    new_h = max(4, int(round(h * width / w / 4)) * 4)
    return width, new_h


def centre_crop(frame, size):
    """The centre ``size`` (w, h) crop of ``frame`` (h, w, c), at most the frame, both sides multiples of 4."""
    h, w = frame.shape[:2]
    cw, ch = min(size[0], w) // 4 * 4, min(size[1], h) // 4 * 4
    y, x = (h - ch) // 2, (w - cw) // 2
    return frame[y : y + ch, x : x + cw]


def write_clip(path, out_dir, width, frame_step=1, max_frames=0, lr_dir=None, sigma=defaults.BD_SIGMA, crop=None, first=0):
    """Resize the frames of one clip into ``out_dir`` (and BD-degrade them into ``lr_dir``);
    with ``crop`` (w, h), the centre crop at the source's resolution instead (``width`` unused).
    The first ``first`` frames of the clip are skipped."""
    import cv2

    from tecogan.ops.degradation import degrade_bd
    from tecogan.utils.fileio import write_image_rgb
    from tecogan.video import open_source

    count = 0
    for i, (_name, frame) in enumerate(open_source(path)):
        if i < first or (i - first) % frame_step:
            continue
        h, w = frame.shape[:2]
        if crop:
            small = centre_crop(frame, crop)
        else:
            size = target_size(w, h, width)
            small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if (w, h) != size else frame
        count += 1
        name = f"{count:04d}.png"
        write_image_rgb(os.path.join(out_dir, name), small)
        if lr_dir:
            write_image_rgb(os.path.join(lr_dir, name), degrade_bd(small, sigma, 4))
        if max_frames and count >= max_frames:
            break
    return count


# The sets a clip can be written to: (native crop, BD low-res frames too, clip-name suffix).
SETS = {
    "Footage": (False, False, ""),
    "FootageHeldout": (False, True, ""),
    "FootageHeldoutNative": (True, True, ""),
    "FootageNative": (True, False, "_native"),
    "FootageNativeVal": (True, True, ""),
}


def _clip_dirs(out, name, kind):
    _native, with_lr, suffix = SETS[kind]
    root = os.path.join(out, kind)
    return os.path.join(root, "GT", name + suffix), os.path.join(root, "Gaussian4xLR", name) if with_lr else None


def _clip_sets(is_held, native, native_train):
    """The sets a training (``is_held`` False) or held-out clip goes to."""
    kinds = ["FootageHeldout" if is_held else "Footage"]
    if is_held and native:
        kinds.append("FootageHeldoutNative")
    if native and native_train:
        kinds.append("FootageNativeVal" if is_held else "FootageNative")
    return kinds


def check_footage_outputs(out, clips, holdout, overwrite, native=False, native_train=False):
    """No output folder is, holds or lies inside a clip; existing clip folders are skipped
    unless ``overwrite`` (then they must hold frames only)."""
    from tecogan.utils.outputs import FRAMES, PARENT, check_outputs

    subs = ["Footage", "FootageHeldout", "FootageVal"]
    subs += (["FootageHeldoutNative"] if native else []) + (["FootageNative", "FootageNativeVal"] if native_train else [])
    outputs = [("--out", os.path.join(out, sub), PARENT) for sub in subs]
    for name, _path in clips:
        is_held = name in holdout
        dirs = [d for kind in _clip_sets(is_held, native, native_train) for d in _clip_dirs(out, name, kind)]
        if is_held:
            dirs += [os.path.join(out, "FootageVal", kind, name) for kind in ("GT", "Gaussian4xLR")]
        for d in dirs:
            if d:
                outputs.append(("", d, FRAMES if overwrite or not os.path.isdir(d) else PARENT))
    check_outputs(outputs, [("--src", path) for _, path in clips], overwrite)


def prepare(
    src,
    out,
    width=448,
    holdout=DEFAULT_HOLDOUT,
    frame_step=1,
    max_frames=0,
    overwrite=False,
    native=None,
    native_frames=30,
    native_train=False,
    native_val_frames=10,
):
    """Write the training and held-out sets (and with ``native`` (w, h) the held-out clips' native
    crops, with ``native_train`` the training clips' and the native validation frames too);
    returns ``(train_names, heldout_names)``."""
    from tecogan.utils.outputs import AtomicFolder

    if not os.path.isdir(src):
        raise UserError(
            f"{src}: footage folder not found (expected a folder of clips: <clip>/*.jpg frame folders, as DAVIS-2016 "
            "has them, or video files; docs/data.md)"
        )
    clips = find_clips(src, skip=out)
    if not clips:
        raise UserError(f"{src}: no clips (expected <clip>/*.jpg folders or video files)")
    known = {n for n, _ in clips}
    missing = [h for h in holdout if h not in known]
    if missing:
        raise UserError(f"--holdout {' '.join(missing)}: no such clip under {src} (clips: {', '.join(sorted(known))})")
    if native_train and not native:
        raise UserError("--native_train: needs --native WxH (the size of the crops)")
    check_footage_outputs(out, clips, holdout, overwrite, native=bool(native), native_train=native_train)
    train, held = [], []
    for name, path in clips:
        is_held = name in holdout
        (held if is_held else train).append(name)
        for kind in _clip_sets(is_held, native, native_train):
            is_native = SETS[kind][0]
            step, limit, first = (1, 0, 0) if is_held else (frame_step, max_frames, 0)
            if kind == "FootageHeldoutNative":
                limit = native_frames
            elif kind == "FootageNativeVal":
                limit, first = native_val_frames, native_frames
            gt_dir, lr_dir = _clip_dirs(out, name, kind)
            if not overwrite and os.path.isdir(gt_dir) and (lr_dir is None or os.path.isdir(lr_dir)):
                print(f"{gt_dir}: exists, skipped")
                continue
            gt_stage = AtomicFolder(gt_dir)
            lr_stage = AtomicFolder(lr_dir) if lr_dir else None
            ok = False
            try:
                crop = native if is_native else None
                n = write_clip(path, gt_stage.tmp, width, step, limit, lr_stage.tmp if lr_stage else None, crop=crop, first=first)
                ok = True
            finally:
                if lr_stage:  # the LR folder first: a complete GT folder means the clip is done
                    lr_stage.close(ok)
                gt_stage.close(ok)
            what = {"FootageHeldout": " (held out)", "FootageHeldoutNative": " (held out, native crop)"}
            what.update(FootageNative=" (native crop)", FootageNativeVal=" (held out, native crop, validation)")
            print(f"{gt_dir}: {n} frames{what.get(kind, '')}")
    return train, held


def write_val_subset(out, held, val_frames, overwrite=False):
    """Copy the first ``val_frames`` frames of each held-out clip into ``<out>/FootageVal``."""
    import shutil

    from tecogan.utils.fileio import list_images
    from tecogan.utils.outputs import AtomicFolder

    for kind in ("GT", "Gaussian4xLR"):
        for name in held:
            src = os.path.join(out, "FootageHeldout", kind, name)
            dst = os.path.join(out, "FootageVal", kind, name)
            if os.path.isdir(dst) and not overwrite:
                continue
            with AtomicFolder(dst) as stage:
                for f in list_images(src)[:val_frames]:
                    shutil.copyfile(os.path.join(src, f), os.path.join(stage.tmp, f))


def parse_size(text):
    """``"WxH"`` -> (w, h): both multiples of 4 from 16 to 8192, or one line naming --native."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        w = h = 0
    if not all(16 <= v <= 8192 and v % 4 == 0 for v in (w, h)):
        raise UserError(f"--native {text}: expected WxH, both multiples of 4 from 16 to 8192 (e.g. 704x576)")
    return w, h


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--src",
        default=os.path.join(os.path.dirname(REPO), "shared", "data"),
        help="folder of clips: <clip>/*.jpg folders and/or video files",
    )
    p.add_argument("--out", default=os.path.join(REPO, "data"))
    p.add_argument("--width", type=int, default=448)
    p.add_argument("--holdout", nargs="*", default=list(DEFAULT_HOLDOUT), metavar="CLIP")
    p.add_argument("--frame_step", type=int, default=1, help="keep every N-th frame of training clips")
    p.add_argument("--max_frames", type=int, default=0, help="at most N frames per training clip (0: all)")
    p.add_argument("--val_frames", type=int, default=30, help="frames per held-out clip in FootageVal")
    p.add_argument(
        "--native",
        metavar="WxH",
        help="also the held-out clips' centre WxH crops at their own resolution (e.g. 704x576) in FootageHeldoutNative",
    )
    p.add_argument("--native_frames", type=int, default=30, help="with --native: the first N frames of each clip")
    p.add_argument(
        "--native_train",
        action="store_true",
        help="with --native: also the training clips' native crops (FootageNative) and validation frames (FootageNativeVal)",
    )
    p.add_argument("--native_val_frames", type=int, default=10, help="with --native_train: frames per clip in FootageNativeVal")
    p.add_argument("--overwrite", action="store_true", help="make existing clip folders again (kept otherwise)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    counts = (args.frame_step, args.val_frames, args.native_frames, args.native_val_frames)
    if min(counts) < 1 or args.max_frames < 0:
        raise UserError("--frame_step, --val_frames, --native_frames and --native_val_frames must be >= 1, --max_frames >= 0")
    if args.width < 4 or args.width % 4 or args.width > 8192:
        raise UserError(f"--width {args.width}: expected a multiple of 4 up to 8192 (the 4x low-res frames must be whole)")
    native = parse_size(args.native) if args.native else None
    train, held = prepare(
        args.src,
        args.out,
        args.width,
        tuple(args.holdout),
        args.frame_step,
        args.max_frames,
        args.overwrite,
        native,
        args.native_frames,
        args.native_train,
        args.native_val_frames,
    )
    write_val_subset(args.out, held, args.val_frames, args.overwrite)
    print(f"{len(train)} training clips, {len(held)} held out: {', '.join(held)}")
    return 0


if __name__ == "__main__":
    run_cli(main)
