"""LMDB storage: key format, writer layout and values, meta_info safety, the reader."""
import os
import pickle

import cv2
import lmdb
import numpy as np
import pytest

from tecogan.data.lmdb_io import LMDBReader, make_key, parse_key, read_meta_info, write_lmdb
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
    assert keys == ["clip_a_3x6x10_0000", "clip_a_3x6x10_0001", "clip_a_3x6x10_0002",
                    "b_2x8x4_0000", "b_2x8x4_0001"]
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
