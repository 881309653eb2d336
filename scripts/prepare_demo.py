"""Build the demo experiment's training LMDB from the bundled clips (fast, idempotent).

    python scripts/prepare_demo.py      # -> data/demo/GT.lmdb from demo/train_clips

Run it from anywhere: paths are taken relative to the repository.  When the LMDB already
holds exactly the frames of ``demo/train_clips`` it is left alone; an LMDB that no
longer matches the clips (or a broken one) is rebuilt.
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli

CLIPS_DIR = os.path.join(REPO, "demo", "train_clips")
LMDB_DIR = os.path.join(REPO, "data", "demo", "GT.lmdb")
LMDB_FILES = {"data.mdb", "lock.mdb", "meta_info.pkl"}


def expected_keys(clips_dir):
    """The keys an LMDB of ``clips_dir`` has (reads one frame per sequence for its size)."""
    from create_lmdb import collect_clips

    from tecogan.data.lmdb_io import make_key
    from tecogan.utils.fileio import read_image_rgb

    keys = []
    for vid, frames in collect_clips(clips_dir):
        h, w = read_image_rgb(frames[0]).shape[:2]
        keys += [make_key(vid, len(frames), h, w, i) for i in range(len(frames))]
    return keys


def up_to_date(lmdb_dir, keys, clips_dir=None):
    """The LMDB holds ``keys``, its data file is whole (not missing or cut short), and no frame of
    ``clips_dir`` changed since it was written (a newer frame: stale)."""
    from tecogan.data.lmdb_io import check_data_mdb, read_meta_info

    if not os.path.isfile(os.path.join(lmdb_dir, "meta_info.pkl")):
        return False
    try:
        if read_meta_info(lmdb_dir)["keys"] != keys:
            return False
        check_data_mdb(lmdb_dir)
    except UserError:
        return False
    if clips_dir is not None:
        built = os.path.getmtime(os.path.join(lmdb_dir, "data.mdb"))
        for root, _dirs, files in os.walk(clips_dir):
            if any(os.path.getmtime(os.path.join(root, f)) > built for f in files):
                return False
    return True


def prepare(clips_dir=CLIPS_DIR, lmdb_dir=LMDB_DIR, name="demo"):
    """Make ``lmdb_dir`` from ``clips_dir`` unless it is already up to date; returns True if built."""
    from create_lmdb import create

    keys = expected_keys(clips_dir)
    if up_to_date(lmdb_dir, keys, clips_dir):
        print(f"{lmdb_dir}: up to date ({len(keys)} frames)")
        return False
    if os.path.exists(lmdb_dir):
        # only ever delete what looks like an LMDB folder (never a folder of other files)
        entries = set(os.listdir(lmdb_dir)) if os.path.isdir(lmdb_dir) else None
        if entries is None or not entries <= LMDB_FILES:
            raise UserError(
                f"{lmdb_dir}: exists but is not an LMDB folder (expected only "
                f"{', '.join(sorted(LMDB_FILES))}); move it away first"
            )
        print(f"{lmdb_dir}: out of date, rebuilding")
    create(clips_dir, lmdb_dir, name, overwrite=True)  # the old LMDB is replaced only once the new one is complete
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips_dir", default=CLIPS_DIR, help="default: demo/train_clips")
    p.add_argument("--lmdb_dir", default=LMDB_DIR, help="default: data/demo/GT.lmdb")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    prepare(args.clips_dir, args.lmdb_dir)
    return 0


if __name__ == "__main__":
    run_cli(main)
