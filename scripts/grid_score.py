"""Spectral grid score of folders of frames (codes/metrics/grid.py): a 4x4 mesh drawn by a
network scores above 1, ground-truth frames about -0.1.  With --block, also the block score
(4x4 blocks whose edges have every sign: ground truth about 0.01, frvsr-bd 0.15, the GAN 0.3+).

    python scripts/grid_score.py results/FootageHeldoutCRF30/frvsr data/FootageHeldoutCRF30/GT
    python scripts/grid_score.py out_frames/ --json scores.json

Each argument is a folder of frames, or a folder of sequence folders (one score per sequence,
then their mean).  One line per folder: ``<folder>: grid <mean> (<n> sequence(s), <frames> frames)``,
and with --block a second: ``<folder>: block <mean> ...``.
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.metrics.grid import block_score_frame, grid_score_frame
from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.fileio import atomic_write_json, list_images, read_image_rgb
from tecogan.utils.outputs import FILE, check_outputs


def sequences(folder):
    """{name: [frame paths]}: the folder itself when it holds frames, else its sub-folders."""
    if not os.path.isdir(folder):
        what = "not a folder" if os.path.exists(folder) else "folder not found"
        raise UserError(f"{folder}: {what} (expected a folder of frames or of sequence folders)")
    frames = list_images(folder)
    if frames:
        return {os.path.basename(os.path.normpath(folder)): [os.path.join(folder, f) for f in frames]}
    out = {}
    for name in sorted(os.listdir(folder)):
        sub = os.path.join(folder, name)
        if os.path.isdir(sub) and not name.startswith("."):
            files = list_images(sub)
            if files:
                out[name] = [os.path.join(sub, f) for f in files]
    if not out:
        raise UserError(f"{folder}: no frames and no sequence folders of frames")
    return out


def score_folder(folder, score=grid_score_frame):
    """({sequence: score}, mean over sequences, number of frames)."""
    per_seq, frames = {}, 0
    for name, paths in sequences(folder).items():
        values = []
        for path in paths:
            try:
                values.append(score(read_image_rgb(path)))
            except UserError as err:  # name the frame (the score's own message does not)
                raise UserError(f"{path}: {err}") from None
        per_seq[name] = sum(values) / len(values)
        frames += len(values)
    return per_seq, sum(per_seq.values()) / len(per_seq), frames


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("--json", help="also write {folder: {'mean': .., 'sequences': {..}}} here (--block: and 'block': {..})")
    p.add_argument("--block", action="store_true", help="also the block score (metrics/grid.block_score_frame)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    if args.json:  # before any work: never over an input, nor over a file without --overwrite
        check_outputs([("--json", args.json, FILE)], [("FOLDER", f) for f in args.folders], args.overwrite)
    report = {}
    scores = [("grid", grid_score_frame)] + ([("block", block_score_frame)] if args.block else [])
    for folder in args.folders:
        for name, score in scores:
            per_seq, mean, frames = score_folder(folder, score)
            if name == "grid":
                report[folder] = {"mean": mean, "sequences": per_seq}
            else:
                report[folder][name] = {"mean": mean, "sequences": per_seq}
            detail = ", ".join(f"{k} {v:.3f}" for k, v in per_seq.items()) if len(per_seq) > 1 else ""
            print(
                f"{folder}: {name} {mean:.3f} ({len(per_seq)} sequence(s), {frames} frames)" + (f"; {detail}" if detail else ""),
                flush=True,
            )
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    run_cli(main)
