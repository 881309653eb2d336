"""Pack a folder of frame sequences into an LMDB for training.

    python scripts/create_lmdb.py --dataset VimeoTecoGAN --data_type GT
    python scripts/create_lmdb.py --dataset X --data_type GT --raw_dir DIR --lmdb_dir OUT.lmdb
    python scripts/create_lmdb.py --dataset X --raw_dir DIR1 --raw_dir DIR2 --lmdb_dir OUT.lmdb
    python scripts/create_lmdb.py --lmdb_dir OUT.lmdb --check 3 --check_dir OUT_png

Reads ``<raw_dir>/<sequence>/*.png`` (sorted; default raw_dir
``data/<dataset>/<data_type>``; several ``--raw_dir`` pack their sequences into one LMDB, whose
names must then differ) into ``<lmdb_dir>`` (default ``data/<dataset>/<data_type>.lmdb``):
one entry per frame, key ``{vid}_{n}x{h}x{w}_{i:04d}``, raw RGB bytes, plus ``meta_info.pkl``.
``--check N`` decodes N frames of an existing LMDB and writes them as PNG (headless check).
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli


def collect_clips(raw_dir):
    from tecogan.utils.fileio import list_images

    if not os.path.isdir(raw_dir):
        raise UserError(f"{raw_dir}: raw data folder not found")
    clips = []
    for vid in sorted(os.listdir(raw_dir)):
        folder = os.path.join(raw_dir, vid)
        if not os.path.isdir(folder) or vid.startswith("."):
            continue
        try:
            vid.encode("utf-8")
        except UnicodeEncodeError:  # keys name the sequence and are UTF-8 text (meta_info.pkl, the LMDB)
            raise UserError(
                f"{folder}: the sequence folder's name is not valid UTF-8 (it becomes the LMDB keys); rename the folder"
            ) from None
        frames = list_images(folder)
        if frames:
            clips.append((vid, [os.path.join(folder, f) for f in frames]))
    if not clips:
        raise UserError(f"{raw_dir}: no sequence folders with frames (expected {raw_dir}/<sequence>/*.png)")
    return clips


def collect_all(raw_dirs):
    """The sequences of every folder in ``raw_dirs``, in order; a name in two folders is one line."""
    clips, where = [], {}
    for raw_dir in raw_dirs:
        for vid, frames in collect_clips(raw_dir):
            if vid in where:
                raise UserError(
                    f"{os.path.join(raw_dir, vid)}: a sequence named {vid} is also in {where[vid]} "
                    "(the names of the sequences packed into one LMDB must differ)"
                )
            where[vid] = raw_dir
            clips.append((vid, frames))
    return clips


def create(raw_dir, lmdb_dir, name, overwrite=False):
    """Pack ``raw_dir/<sequence>/*`` (``raw_dir`` a folder or a list of them) into a new LMDB at
    ``lmdb_dir``; returns the keys.

    ``lmdb_dir`` is checked first (not an input, not an existing LMDB unless ``overwrite``).
    The LMDB is written into a temporary folder beside ``lmdb_dir`` and renamed when
    complete, so a failed or interrupted run never leaves a half-written LMDB behind and
    an LMDB that is replaced survives until the new one is complete.
    """
    from tqdm import tqdm

    from tecogan.data.lmdb_io import write_lmdb
    from tecogan.utils.outputs import LMDB, AtomicFolder, check_outputs

    raw_dirs = [raw_dir] if isinstance(raw_dir, str) else list(raw_dir)
    check_outputs([("--lmdb_dir", lmdb_dir, LMDB)], [("--raw_dir", d) for d in raw_dirs], overwrite)
    clips = collect_all(raw_dirs)
    total = sum(len(f) for _, f in clips)
    with AtomicFolder(lmdb_dir) as staging:
        with tqdm(total=total, desc=f"LMDB {os.path.basename(os.path.abspath(lmdb_dir))}", unit="frame", disable=None) as bar:
            keys = write_lmdb(staging.tmp, name, clips, progress=bar.update, where=lmdb_dir)
    print(f"{lmdb_dir}: {len(keys)} frames of {len(clips)} sequences")
    return keys


def check(lmdb_dir, count, out_dir, overwrite=False):
    from tecogan.data.lmdb_io import LMDBReader, parse_key, read_meta_info
    from tecogan.utils.fileio import write_image_rgb
    from tecogan.utils.outputs import FRAMES, AtomicFolder, check_outputs

    check_outputs([("--check_dir", out_dir, FRAMES)], [("--lmdb_dir", lmdb_dir)], overwrite)
    meta = read_meta_info(lmdb_dir)
    reader = LMDBReader(lmdb_dir, meta["keys"])  # walks every entry once first: damage is one line
    keys = meta["keys"]
    step = max(1, len(keys) // max(count, 1))
    with AtomicFolder(out_dir) as staging:
        for key in keys[::step][:count]:
            _, _, h, w, _ = parse_key(key, where=lmdb_dir)
            write_image_rgb(os.path.join(staging.tmp, f"{key}.png"), reader.read(key, h, w))
    for key in keys[::step][:count]:
        print(os.path.join(out_dir, f"{key}.png"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="VimeoTecoGAN")
    p.add_argument("--data_type", default="GT", help="GT or Bicubic4xLR (a folder name under data/<dataset>)")
    p.add_argument("--raw_dir", action="append", default=None, help="folder of sequences (repeat to pack several)")
    p.add_argument("--lmdb_dir", default=None)
    p.add_argument("--check", type=int, default=0, metavar="N", help="decode N frames of the LMDB to PNG")
    p.add_argument("--check_dir", default=None, help="where --check writes (default <lmdb_dir>_check)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --lmdb_dir (or --check_dir)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    raw_dir = args.raw_dir or [os.path.join("data", args.dataset, args.data_type)]
    lmdb_dir = args.lmdb_dir or os.path.join("data", args.dataset, f"{args.data_type}.lmdb")
    if args.check < 0:
        raise UserError(f"--check {args.check}: expected a number of frames >= 1")
    if args.check:
        check(lmdb_dir, args.check, args.check_dir or lmdb_dir.rstrip("/") + "_check", args.overwrite)
    else:
        create(raw_dir, lmdb_dir, args.dataset, args.overwrite)
    return 0


if __name__ == "__main__":
    run_cli(main)
