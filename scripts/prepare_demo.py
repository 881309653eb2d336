"""Build the demo experiment's training LMDB from the bundled clips (idempotent).

    python scripts/prepare_demo.py      # -> data/demo/GT.lmdb from demo/train_clips
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "codes"))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from utils.errors import run_cli  # noqa: E402


def main():
    from create_lmdb import create
    lmdb_dir = os.path.join(REPO, "data", "demo", "GT.lmdb")
    if os.path.isfile(os.path.join(lmdb_dir, "meta_info.pkl")):
        print(f"{lmdb_dir}: already built")
        return 0
    create(os.path.join(REPO, "demo", "train_clips"), lmdb_dir, "demo")
    return 0


if __name__ == "__main__":
    run_cli(main)
