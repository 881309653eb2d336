"""Side-by-side still crops of one frame from several result folders (for model cards).

    python scripts/compare_crops.py resources/footage_crops.png --frame 100 --crop 150,40,120,90 \
        --panel "bicubic=results/FootageHeldout/Bicubic_BD/04_coffee" \
        --panel "FRVSR=results/FootageHeldout/FRVSR_BD_footage/04_coffee" \
        --panel "ground truth=data/FootageHeldout/GT/04_coffee"

Each ``--panel LABEL=FOLDER`` takes the frame with index ``--frame`` (in sorted file order) of
FOLDER, crops ``x,y,w,h`` from it and shows it enlarged with nearest-neighbour pixels, so the
detail each method made stays visible; the panels are laid out in one row under their labels.
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli


def parse_crop(text):
    """'x,y,w,h' -> (x, y, w, h) with x, y >= 0 and w, h >= 1."""
    try:
        crop = tuple(int(v) for v in text.split(","))
    except ValueError:
        crop = ()
    if len(crop) != 4 or min(crop[:2]) < 0 or min(crop[2:]) < 1:
        raise UserError(f"--crop {text}: expected x,y,w,h with x, y >= 0 and w, h >= 1")
    return crop


def parse_panel(text):
    """'LABEL=FOLDER' -> (label, folder)."""
    label, sep, folder = text.partition("=")
    if not sep or not label.strip() or not folder:
        raise UserError(f"--panel {text}: expected LABEL=FOLDER")
    return label.strip(), folder


def crop_frame(folder, index, crop):
    """The ``(h, w, 3)`` uint8 crop of frame ``index`` of ``folder`` (sorted file order)."""
    from tecogan.utils.fileio import list_images, read_image_rgb

    if not os.path.isdir(folder):
        raise UserError(f"{folder}: not a folder of frames")
    names = list_images(folder)
    if not 0 <= index < len(names):
        raise UserError(f"--frame {index}: {folder} has {len(names)} frames")
    frame = read_image_rgb(os.path.join(folder, names[index]))
    x, y, w, h = crop
    if x + w > frame.shape[1] or y + h > frame.shape[0]:
        raise UserError(f"--crop {x},{y},{w},{h}: outside the {frame.shape[1]}x{frame.shape[0]} frame {names[index]} of {folder}")
    return frame[y : y + h, x : x + w]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("output", help="image file (.png or .jpg)")
    p.add_argument(
        "--panel",
        action="append",
        required=True,
        metavar="LABEL=FOLDER",
        help="one panel: a label and a folder of frames (repeatable, left to right)",
    )
    p.add_argument("--frame", type=int, default=0, help="frame index in sorted file order (default 0)")
    p.add_argument("--crop", required=True, help="x,y,w,h region of the frames, in their pixels")
    p.add_argument("--panel_width", type=float, default=3.0, help="width of one panel in inches (default 3)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    from tecogan.config.limits import check_number
    from tecogan.utils.fileio import atomic_write
    from tecogan.utils.outputs import FILE, check_outputs

    if os.path.splitext(args.output)[1].lower() not in (".png", ".jpg", ".jpeg"):
        raise UserError(f"{args.output}: expected a .png or .jpg file name")
    check_number("--frame", args.frame, minimum=0, integer=True)
    check_number("--panel_width", args.panel_width, minimum=0.5, maximum=20)
    crop = parse_crop(args.crop)
    panels = [parse_panel(t) for t in args.panel]
    check_outputs([("OUTPUT", args.output, FILE)], [("--panel", folder) for _, folder in panels], args.overwrite)
    crops = [(label, crop_frame(folder, args.frame, crop)) for label, folder in panels]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w, h = crop[2], crop[3]
    fig, axes = plt.subplots(
        1, len(crops), squeeze=False, figsize=(args.panel_width * len(crops), args.panel_width * h / w + 0.4)
    )
    for ax, (label, image) in zip(axes[0], crops, strict=False):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(label, fontsize=11)
        ax.set_axis_off()
    fig.tight_layout(pad=0.3)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    ext = os.path.splitext(args.output)[1]
    atomic_write(args.output, lambda tmp: fig.savefig(tmp, dpi=100, format=ext[1:].replace("jpg", "jpeg")), suffix=ext)
    plt.close(fig)
    print(f"{args.output}: {len(crops)} panels of frame {args.frame}, crop {w}x{h} at ({crop[0]}, {crop[1]})")
    return 0


if __name__ == "__main__":
    run_cli(main)
