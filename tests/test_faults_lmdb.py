"""Faults round 3, class 2: a damaged LMDB is one line naming its data.mdb, never a crash.

A few bytes rewritten inside a leaf or branch page of ``data.mdb`` (its meta pages intact)
make liblmdb abort (assertion), or the process die of SIGSEGV/SIGBUS, when the pages are
walked.  ``scan_lmdb`` walks every entry once in a child process before the command trusts
the file (``create_lmdb.py --check``, the training datasets); the fuzz test rewrites random
bytes of random pages and asserts that every case is either read correctly or refused
with one line.
"""
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import assert_one_line, tree_hash

from tecogan.data import lmdb_io
from tecogan.data.lmdb_io import LMDBReader, read_meta_info, scan_lmdb, write_lmdb
from tecogan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CREATE_LMDB = os.path.join(REPO, "scripts", "create_lmdb.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
PAGE = 4096

# reads every meta-info key with txn.get, as the training does (a crash shows as a signal)
_READ_ALL = r"""
import os, pickle, sys, lmdb
path = os.fsencode(sys.argv[1])
keys = pickle.load(open(os.path.join(path, b"meta_info.pkl"), "rb"))["keys"]
env = lmdb.open(path, readonly=True, lock=False)
with env.begin() as txn:
    for k in keys:
        txn.get(k.encode())
"""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """6 clips of 20 frames of 8x8: several leaf pages and a branch page."""
    folder = tmp_path_factory.mktemp("lmdb") / "x.lmdb"
    rng = np.random.default_rng(0)
    write_lmdb(str(folder), "T", [(f"v{c}", [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                                             for _ in range(20)]) for c in range(6)])
    return folder


def damaged_copy(pristine, dst, seed, header_only=True):
    shutil.copytree(pristine, dst)
    data = bytearray((dst / "data.mdb").read_bytes())
    r = random.Random(seed)
    page = r.randrange(2, len(data) // PAGE)  # pages 0 and 1 are the meta pages (checked separately)
    for _ in range(4):
        data[page * PAGE + (r.randrange(8, 64) if header_only else r.randrange(PAGE))] = r.randrange(256)
    (dst / "data.mdb").write_bytes(bytes(data))
    return dst


def raw_read_status(lmdb_dir):
    return subprocess.run([sys.executable, "-c", _READ_ALL, os.fsencode(lmdb_dir)], capture_output=True,
                          timeout=60).returncode


def test_lmdb_page_fuzz(tmp_path, pristine):
    """40 damaged copies: each is scanned correctly or refused with one line; none kills us."""
    outcomes = {"refused": 0, "passed": 0}
    crashers = 0
    for seed in range(40):
        lmdb_dir = damaged_copy(pristine, tmp_path / f"d{seed}.lmdb", seed, header_only=seed % 4 != 3)
        before = tree_hash(lmdb_dir)
        try:
            scan_lmdb(str(lmdb_dir), read_meta_info(str(lmdb_dir))["keys"])
        except UserError as err:
            text = str(err)
            assert "\n" not in text and str(lmdb_dir) in text
            outcomes["refused"] += 1
            crashers += raw_read_status(lmdb_dir) < 0
        else:
            outcomes["passed"] += 1
            assert raw_read_status(lmdb_dir) == 0  # what the scan passed reads without a crash
        assert tree_hash(lmdb_dir) == before
    assert outcomes["refused"] >= 10 and crashers >= 1, outcomes  # the fuzz does reach damage that kills


def _a_crashing_copy(pristine, tmp_path):
    for seed in range(200):
        lmdb_dir = damaged_copy(pristine, tmp_path / f"c{seed}.lmdb", seed)
        if raw_read_status(lmdb_dir) < 0:
            return lmdb_dir
        shutil.rmtree(lmdb_dir)
    pytest.fail("no damage found that crashes liblmdb")


def test_create_lmdb_check_on_pages_that_crash_liblmdb(tmp_path, pristine):
    lmdb_dir = _a_crashing_copy(pristine, tmp_path)
    before = tree_hash(tmp_path)
    r = subprocess.run([sys.executable, CREATE_LMDB, "--lmdb_dir", lmdb_dir, "--check", "8", "--check_dir",
                        tmp_path / "chk"], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert_one_line(r.returncode, r.stderr, os.path.join(str(lmdb_dir), "data.mdb"), "damaged LMDB")
    assert tree_hash(tmp_path) == before and not (tmp_path / "chk").exists()


def test_training_datasets_refuse_pages_that_crash_liblmdb(tmp_path, pristine):
    from tecogan.data.train_datasets import UnpairedLMDBDataset
    lmdb_dir = _a_crashing_copy(pristine, tmp_path)
    before = tree_hash(lmdb_dir)
    with pytest.raises(UserError, match="damaged LMDB") as err:
        UnpairedLMDBDataset(str(lmdb_dir), tempo_extent=2, crop_size=4, scale=2, sigma=0.3)
    assert "data.mdb" in str(err.value)
    assert tree_hash(lmdb_dir) == before


def test_scan_finds_keys_missing_or_of_the_wrong_size(tmp_path, pristine):
    lmdb_dir = tmp_path / "x.lmdb"
    shutil.copytree(pristine, lmdb_dir)
    keys = read_meta_info(str(lmdb_dir))["keys"]
    with pytest.raises(UserError, match="missing from the LMDB"):
        scan_lmdb(str(lmdb_dir), keys + ["v9_20x8x8_0000"])
    LMDBReader(str(lmdb_dir))  # the pristine copy passes
    import lmdb
    env = lmdb.open(str(lmdb_dir))
    with env.begin(write=True) as txn:
        txn.put(keys[3].encode(), b"short")
    env.close()
    with pytest.raises(UserError, match="has 5 bytes, expected 8x8x3"):
        scan_lmdb(str(lmdb_dir), keys)


def test_scan_that_never_ends_is_bounded(tmp_path, pristine, monkeypatch):
    lmdb_dir = tmp_path / "x.lmdb"
    shutil.copytree(pristine, lmdb_dir)
    monkeypatch.setattr(lmdb_io, "_SCAN_CHILD", "import time; time.sleep(30)")
    with pytest.raises(UserError, match="took more than 1 s"):
        scan_lmdb(str(lmdb_dir), timeout=1)
