"""Pack a folder of frame sequences into an LMDB for training.

    python scripts/create_lmdb.py --dataset VimeoTecoGAN --data_type GT
    python scripts/create_lmdb.py --dataset X --data_type GT --raw_dir DIR --lmdb_dir OUT.lmdb
    python scripts/create_lmdb.py --lmdb_dir OUT.lmdb --check 3 --check_dir OUT_png

Reads ``<raw_dir>/<sequence>/*.png`` (sorted; default raw_dir
``data/<dataset>/<data_type>``) into ``<lmdb_dir>`` (default ``data/<dataset>/<data_type>.lmdb``):
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
        frames = list_images(folder)
        if frames:
            clips.append((vid, [os.path.join(folder, f) for f in frames]))
    if not clips:
        raise UserError(f"{raw_dir}: no sequence folders with frames (expected {raw_dir}/<sequence>/*.png)")
    return clips


def create(raw_dir, lmdb_dir, name):
    """Pack ``raw_dir/<sequence>/*`` into a new LMDB at ``lmdb_dir``; returns the keys.

    The LMDB is written into a temporary folder beside ``lmdb_dir`` and renamed when
    complete, so a failed or interrupted run never leaves a half-written LMDB behind.
    """
    import shutil
    from tqdm import tqdm
    from tecogan.data.lmdb_io import write_lmdb
    clips = collect_clips(raw_dir)
    if os.path.exists(lmdb_dir) and (not os.path.isdir(lmdb_dir) or os.listdir(lmdb_dir)):
        raise UserError(f"{lmdb_dir}: already exists and is not empty (remove it first)")
    parent = os.path.dirname(os.path.abspath(lmdb_dir))
    os.makedirs(parent, exist_ok=True)
    tmp_dir = os.path.join(parent, f".tmp_{os.path.basename(os.path.abspath(lmdb_dir))}.{os.getpid()}")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    total = sum(len(f) for _, f in clips)
    try:
        with tqdm(total=total, desc=f"LMDB {os.path.basename(os.path.abspath(lmdb_dir))}", unit="frame",
                  disable=None) as bar:
            keys = write_lmdb(tmp_dir, name, clips, progress=bar.update)
        if os.path.isdir(lmdb_dir):
            os.rmdir(lmdb_dir)  # empty (checked above)
        os.replace(tmp_dir, lmdb_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    print(f"{lmdb_dir}: {len(keys)} frames of {len(clips)} sequences")
    return keys


def check(lmdb_dir, count, out_dir):
    from tecogan.data.lmdb_io import LMDBReader, parse_key, read_meta_info
    from tecogan.utils.fileio import write_image_rgb
    meta = read_meta_info(lmdb_dir)
    reader = LMDBReader(lmdb_dir)
    os.makedirs(out_dir, exist_ok=True)
    keys = meta["keys"]
    step = max(1, len(keys) // max(count, 1))
    for key in keys[::step][:count]:
        _, _, h, w, _ = parse_key(key, where=lmdb_dir)
        path = os.path.join(out_dir, f"{key}.png")
        write_image_rgb(path, reader.read(key, h, w))
        print(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="VimeoTecoGAN")
    p.add_argument("--data_type", default="GT", help="GT or Bicubic4xLR (a folder name under data/<dataset>)")
    p.add_argument("--raw_dir", default=None)
    p.add_argument("--lmdb_dir", default=None)
    p.add_argument("--check", type=int, default=0, metavar="N", help="decode N frames of the LMDB to PNG")
    p.add_argument("--check_dir", default=None, help="where --check writes (default <lmdb_dir>_check)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    raw_dir = args.raw_dir or os.path.join("data", args.dataset, args.data_type)
    lmdb_dir = args.lmdb_dir or os.path.join("data", args.dataset, f"{args.data_type}.lmdb")
    if args.check < 0:
        raise UserError(f"--check {args.check}: expected a number of frames >= 1")
    if args.check:
        check(lmdb_dir, args.check, args.check_dir or lmdb_dir.rstrip("/") + "_check")
    else:
        create(raw_dir, lmdb_dir, args.dataset)
    return 0


if __name__ == "__main__":
    run_cli(main)
