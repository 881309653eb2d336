"""LMDB storage: key format, writer layout and values, meta_info safety, the reader."""

import os
import pickle
import random
import shutil
import signal
import subprocess
import sys

import cv2
import lmdb
import numpy as np
import pytest
from helpers import (
    REPO,
    assert_one_line,
    deadline,
    limit_file_size,
    make_lmdb,
    no_temps,
    run_inprocess,
    script_cli,
    tmpfs_command,
    tree_hash,
    write_frames,
)

from tecogan.data import lmdb_io
from tecogan.data.lmdb_io import LMDBReader, make_key, parse_key, read_meta_info, scan_lmdb, write_lmdb
from tecogan.utils.errors import UserError


def test_keys_parse():
    assert parse_key("scene_2000_120x134x320_0007") == ("scene_2000", 120, 134, 320, 7)
    assert parse_key("a_3x4x5_b_2x8x9_0001") == ("a_3x4x5_b", 2, 8, 9, 1)
    assert make_key("a_b", 3, 4, 5, 2) == "a_b_3x4x5_0002"
    assert make_key("v", 12000, 4, 5, 10001) == "v_12000x4x5_10001"
    with pytest.raises(UserError, match=r"my\.lmdb: key 'scene_12' does not parse"):
        parse_key("scene_12", where="my.lmdb")
    with pytest.raises(UserError, match="does not parse"):
        parse_key("v_3x4x5_7")  # index must have at least 4 digits


def test_write_lmdb_layout_values_and_map_size(tmp_path):
    rng = np.random.default_rng(0)
    a = [rng.integers(0, 256, (6, 10, 3), dtype=np.uint8) for _ in range(3)]
    paths = []
    for i in range(2):
        p = str(tmp_path / f"b{i}.png")
        cv2.imwrite(p, rng.integers(0, 256, (8, 4, 3), dtype=np.uint8))
        paths.append(p)
    out = str(tmp_path / "x.lmdb")
    keys = write_lmdb(out, "Tiny", [("clip_a", a), ("b", paths)])
    assert keys == ["clip_a_3x6x10_0000", "clip_a_3x6x10_0001", "clip_a_3x6x10_0002", "b_2x8x4_0000", "b_2x8x4_0001"]
    meta = read_meta_info(out)
    assert meta == {"name": "Tiny", "keys": keys}
    raw_bytes = 3 * 6 * 10 * 3 + 2 * 8 * 4 * 3
    env = lmdb.open(out, readonly=True, lock=False)
    try:
        assert env.info()["map_size"] >= int(raw_bytes * 1.5)
        with env.begin() as txn:
            assert txn.stat()["entries"] == 5
            assert txn.get(b"clip_a_3x6x10_0001") == a[1].tobytes()  # raw RGB HWC bytes
            assert txn.get(b"b_2x8x4_0001") == cv2.imread(paths[1])[..., ::-1].tobytes()
    finally:
        env.close()
    reader = LMDBReader(out)
    assert np.array_equal(reader.read("clip_a_3x6x10_0002", 6, 10), a[2])


def test_write_lmdb_refuses_mixed_sizes_and_empty_clips(tmp_path):
    frames = [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)]
    with pytest.raises(UserError, match="clip frame 1: frame is 6x4 but the sequence's first frame is 4x4"):
        write_lmdb(str(tmp_path / "a.lmdb"), "t", [("clip", frames)])
    with pytest.raises(UserError, match="has no frames"):
        write_lmdb(str(tmp_path / "b.lmdb"), "t", [("clip", [])])
    with pytest.raises(UserError, match="expected \\(h, w, 3\\) uint8"):
        write_lmdb(str(tmp_path / "c.lmdb"), "t", [("clip", [np.zeros((4, 4), np.float32)])])


def _write_meta(folder, obj):
    folder.mkdir(exist_ok=True)
    with open(folder / "meta_info.pkl", "wb") as f:
        pickle.dump(obj, f)


def test_meta_info_missing_and_malformed(tmp_path):
    with pytest.raises(UserError, match="LMDB folder not found"):
        read_meta_info(str(tmp_path / "absent.lmdb"))
    d = tmp_path / "bad.lmdb"
    d.mkdir()
    with pytest.raises(UserError, match=r"bad\.lmdb/meta_info\.pkl: missing"):
        read_meta_info(str(d))
    (d / "meta_info.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(UserError, match="not a plain meta-info pickle"):
        read_meta_info(str(d))
    _write_meta(d, ["v_1x2x2_0000"])
    with pytest.raises(UserError, match="expected a dict with 'name' and a 'keys' list"):
        read_meta_info(str(d))
    _write_meta(d, {"name": "x", "keys": []})
    with pytest.raises(UserError, match="holds no frames"):
        read_meta_info(str(d))
    _write_meta(d, {"name": "x", "keys": ["no_size_here"]})
    with pytest.raises(UserError, match="does not parse"):
        read_meta_info(str(d))
    _write_meta(d, {"name": "x", "keys": ["v_2x4x4_0002"]})
    with pytest.raises(UserError, match="inconsistent"):
        read_meta_info(str(d))
    # extra plain entries (as some reference files have) are fine
    _write_meta(d, {"name": "x", "keys": ["v_2x4x4_0001"], "resolution": (4, 4), "note": None})
    assert read_meta_info(str(d))["keys"] == ["v_2x4x4_0001"]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Custom:
    pass


def test_crafted_meta_info_runs_nothing(tmp_path):
    d = tmp_path / "evil.lmdb"
    marker = tmp_path / "ran"
    _write_meta(d, {"name": "x", "keys": [_Evil(marker)]})
    with pytest.raises(UserError, match="not a plain meta-info pickle .*refusing to load"):
        read_meta_info(str(d))
    assert not marker.exists()
    _write_meta(d, {"name": "x", "keys": ["v_1x2x2_0000"], "obj": _Custom()})
    with pytest.raises(UserError, match="not a plain meta-info pickle"):
        read_meta_info(str(d))
    _write_meta(d, {"name": "x", "keys": np.array(["v_1x2x2_0000"])})  # numpy needs an import too
    with pytest.raises(UserError, match="not a plain meta-info pickle"):
        read_meta_info(str(d))


def test_reader_errors_and_pickling(tmp_path):
    out = str(tmp_path / "r.lmdb")
    write_lmdb(out, "t", [("v", [np.full((2, 3, 3), 7, np.uint8)])])
    reader = LMDBReader(out)
    assert reader.read("v_1x2x3_0000", 2, 3).sum() == 7 * 18
    clone = pickle.loads(pickle.dumps(reader))  # what a DataLoader worker receives
    assert clone.env is None
    assert np.array_equal(clone.read("v_1x2x3_0000", 2, 3), reader.read("v_1x2x3_0000", 2, 3))
    with pytest.raises(UserError, match="'v_1x2x3_0001' listed in meta_info.pkl is missing"):
        reader.read("v_1x2x3_0001", 2, 3)
    with pytest.raises(UserError, match="has 18 bytes, expected 3x3x3"):
        reader.read("v_1x2x3_0000", 3, 3)


def nested_shared(depth):
    x = ["k_1x8x8_0000"]
    for _ in range(depth):
        x = [x, x]
    return x


def self_referencing():
    keys = ["clip_1x8x8_0000"]
    keys.append(keys)
    return keys


@pytest.mark.parametrize(
    "meta, needle",
    [
        ({"name": "shared", "keys": nested_shared(60)}, "nested more than"),
        ({"name": "shared", "keys": [["k_1x8x8_0000"]] * 1000}, "appears twice or holds itself"),
        ({"name": "cycle", "keys": self_referencing()}, "appears twice or holds itself"),
        ({"name": "deep", "keys": [[[[[[[[[[["k"]]]]]]]]]]]}, "nested more than"),
    ],
)
def test_meta_info_walk_is_bounded(tmp_path, meta, needle):
    d = tmp_path / "x.lmdb"
    d.mkdir()
    with open(d / "meta_info.pkl", "wb") as f:
        pickle.dump(meta, f)
    with deadline(10), pytest.raises(UserError) as err:
        read_meta_info(str(d))
    assert needle in str(err.value) and "meta_info.pkl" in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_huge_meta_info_is_refused_before_unpickling(tmp_path):
    d = tmp_path / "y.lmdb"
    d.mkdir()
    with open(d / "meta_info.pkl", "wb") as f:
        f.truncate(300 << 20)  # sparse: costs no disk
    with deadline(10), pytest.raises(UserError, match="more than a meta-info file holds"):
        read_meta_info(str(d))


@pytest.mark.parametrize(
    "damage, needle",
    [
        ("truncate", "truncated"),
        ("remove", "data.mdb: missing"),
        ("zeros", "not an LMDB data file"),
    ],
)
def test_damaged_data_mdb_is_one_line_not_sigbus(tmp_path, damage, needle):
    lmdb_dir = make_lmdb(tmp_path / "x.lmdb")
    data = lmdb_dir / "data.mdb"
    if damage == "truncate":
        os.truncate(data, 3 * 4096)
    elif damage == "remove":
        data.unlink()
    else:
        data.write_bytes(bytes(data.stat().st_size))
    before = tree_hash(tmp_path)
    r = subprocess.run(
        [sys.executable, CREATE_LMDB, "--lmdb_dir", lmdb_dir, "--check", "8", "--check_dir", tmp_path / "chk"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert r.returncode != -signal.SIGBUS
    assert_one_line(r.returncode, r.stderr, "data.mdb", needle)
    assert tree_hash(tmp_path) == before and not (tmp_path / "chk").exists()


def test_self_referencing_metadata_is_one_line(tmp_path, capsys, monkeypatch):
    lmdb_dir = make_lmdb(tmp_path / "x.lmdb")
    keys = ["v0_4x64x64_0000"]
    keys.append(keys)
    with open(lmdb_dir / "meta_info.pkl", "wb") as f:
        pickle.dump({"name": "T", "keys": keys}, f)
    status, _, err = run_inprocess(
        script_cli("scripts/create_lmdb.py"),
        ["create_lmdb.py", "--lmdb_dir", lmdb_dir, "--check", 1, "--check_dir", tmp_path / "chk"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "meta_info.pkl", "holds itself")


CREATE_LMDB = os.path.join(REPO, "scripts", "create_lmdb.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def raw_frames(root, clips=2, frames=4, h=64, w=64):
    for c in range(clips):
        write_frames(root / f"v{c}", n=frames, h=h, w=w, seed=c)


def test_create_lmdb_full_disk(tmp_path):
    raw_frames(tmp_path / "raw")
    preload = tmp_path / "preload"
    make_lmdb(preload / "X.lmdb", clips=1, frames=1, h=8, w=8)  # the old LMDB, kept
    (tmp_path / "disk").mkdir()
    (tmp_path / "after").mkdir()
    cmd = tmpfs_command(
        tmp_path / "disk",
        96,
        [sys.executable, CREATE_LMDB, "--raw_dir", tmp_path / "raw", "--lmdb_dir", tmp_path / "disk" / "X.lmdb", "--overwrite"],
        preload=preload,
        copy_back=tmp_path / "after",
    )
    if cmd is None:
        pytest.skip(
            "mounting a small tmpfs (unshare -rm mount -t tmpfs) is not permitted here; "
            "test_create_lmdb_file_size_limit covers the failing write"
        )
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert_one_line(r.returncode, r.stderr, str(tmp_path / "disk" / "X.lmdb:"), "the disk is full")
    assert tree_hash(tmp_path / "after" / "X.lmdb") == tree_hash(preload / "X.lmdb")
    assert no_temps(tmp_path / "after")


def test_create_lmdb_file_size_limit(tmp_path):
    raw_frames(tmp_path / "raw")
    before = tree_hash(tmp_path / "raw")
    r = subprocess.run(
        [sys.executable, CREATE_LMDB, "--raw_dir", tmp_path / "raw", "--lmdb_dir", tmp_path / "X.lmdb"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        preexec_fn=limit_file_size(20000),
    )
    assert_one_line(r.returncode, r.stderr, "X.lmdb")
    assert tree_hash(tmp_path / "raw") == before
    assert sorted(os.listdir(tmp_path)) == ["raw"]  # neither the LMDB nor a temporary folder


def test_create_lmdb_refusals_and_overwrite(tmp_path, capsys, monkeypatch):
    cli = script_cli("scripts/create_lmdb.py")
    raw = tmp_path / "raw"
    write_frames(raw / "v0", h=8, w=8)
    before_raw = tree_hash(raw)
    status, _, err = run_inprocess(cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", raw / "x.lmdb"], capsys, monkeypatch)
    assert_one_line(status, err, "--lmdb_dir", "lies inside the input --raw_dir")
    assert tree_hash(raw) == before_raw
    out = tmp_path / "X.lmdb"
    assert run_inprocess(cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", out], capsys, monkeypatch)[0] == 0
    before = tree_hash(out)
    write_frames(raw / "v1", h=8, w=8)
    status, _, err = run_inprocess(cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", out], capsys, monkeypatch)
    assert_one_line(status, err, "already exists", "--overwrite")
    assert tree_hash(out) == before
    status, _, err = run_inprocess(
        cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", out, "--overwrite"], capsys, monkeypatch
    )
    assert status == 0, err
    with open(out / "meta_info.pkl", "rb") as f:
        assert len(pickle.load(f)["keys"]) == 6
    (out / "notes.txt").write_text("not an LMDB file")
    before = tree_hash(out)
    status, _, err = run_inprocess(
        cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", out, "--overwrite"], capsys, monkeypatch
    )
    assert_one_line(status, err, "notes.txt")
    assert tree_hash(out) == before and no_temps(tmp_path)


def test_create_lmdb_packs_several_raw_dirs(tmp_path, capsys, monkeypatch):
    """--raw_dir twice: one LMDB with the sequences of both (of different sizes); a name in both is
    one line naming the two folders, and nothing is written."""
    cli = script_cli("scripts/create_lmdb.py")
    write_frames(tmp_path / "a" / "v0", h=8, w=8)
    write_frames(tmp_path / "b" / "v0_native", h=12, w=16)
    out = tmp_path / "Mix.lmdb"
    argv = ["create_lmdb.py", "--raw_dir", tmp_path / "a", "--raw_dir", tmp_path / "b", "--lmdb_dir", out]
    status, _, err = run_inprocess(cli, argv, capsys, monkeypatch)
    assert status == 0, err
    with open(out / "meta_info.pkl", "rb") as f:
        keys = pickle.load(f)["keys"]
    assert sorted({k.rsplit("_", 1)[0] for k in keys}) == ["v0_3x8x8", "v0_native_3x12x16"]
    write_frames(tmp_path / "b" / "v0", h=8, w=8)
    before = tree_hash(tmp_path)
    argv[-1] = tmp_path / "Mix2.lmdb"
    status, _, err = run_inprocess(cli, argv, capsys, monkeypatch)
    assert_one_line(status, err, os.path.join(str(tmp_path / "b"), "v0"), "also in", str(tmp_path / "a"))
    assert tree_hash(tmp_path) == before


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
    write_lmdb(
        str(folder), "T", [(f"v{c}", [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(20)]) for c in range(6)]
    )
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
    return subprocess.run([sys.executable, "-c", _READ_ALL, os.fsencode(lmdb_dir)], capture_output=True, timeout=60).returncode


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
    r = subprocess.run(
        [sys.executable, CREATE_LMDB, "--lmdb_dir", lmdb_dir, "--check", "8", "--check_dir", tmp_path / "chk"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
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


def test_create_lmdb_names_a_folder_that_is_not_utf8(tmp_path, capsys, monkeypatch):
    raw = tmp_path / "raw"
    bad = os.path.join(os.fsencode(raw), b"clip\xe9")
    os.makedirs(bad)
    for i in range(2):  # written by Python: OpenCV's own path functions crash on such names
        with open(os.path.join(bad, b"%04d.png" % i), "wb") as f:
            f.write(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    status, _, err = run_inprocess(
        script_cli("scripts/create_lmdb.py"),
        ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", tmp_path / "x.lmdb"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "clip", "not valid UTF-8", "rename the folder")
    assert not (tmp_path / "x.lmdb").exists()
