"""LMDB storage of training frames, as the reference lays it out.

One entry per frame, key ``{vid}_{nfrm}x{h}x{w}_{i:04d}``, value = raw uint8 RGB HWC bytes;
``meta_info.pkl`` = ``{'name': dataset, 'keys': [...]}``.  ``meta_info.pkl`` is a pickle
(reference compatibility), read with a restricted unpickler that builds plain containers
and strings only: a crafted file cannot import or run anything.
"""
import io
import os
import pickle
import re

import lmdb
import numpy as np

from tecogan.utils.errors import UserError

KEY_RE = re.compile(r"^(?P<vid>.+)_(?P<n>\d+)x(?P<h>\d+)x(?P<w>\d+)_(?P<i>\d{4,})$")


def make_key(vid, nfrm, h, w, idx):
    return f"{vid}_{nfrm}x{h}x{w}_{idx:04d}"


def parse_key(key, where="LMDB"):
    """'{vid}_{n}x{h}x{w}_{i:04d}' -> (vid, n, h, w, i)."""
    m = KEY_RE.match(key)
    if not m:
        raise UserError(f"{where}: key {key!r} does not parse (expected {{vid}}_{{frames}}x{{h}}x{{w}}_{{index:04d}})")
    return m["vid"], int(m["n"]), int(m["h"]), int(m["w"]), int(m["i"])


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _check_plain(obj):
    if isinstance(obj, (str, int, float, bool, type(None), bytes)):
        return True
    if isinstance(obj, (list, tuple, set)):
        return all(_check_plain(x) for x in obj)
    if isinstance(obj, dict):
        return all(_check_plain(k) and _check_plain(v) for k, v in obj.items())
    return False


def read_meta_info(lmdb_dir):
    """The ``meta_info.pkl`` dict of an LMDB folder (validated)."""
    path = os.path.join(lmdb_dir, "meta_info.pkl")
    if not os.path.isdir(lmdb_dir):
        raise UserError(f"{lmdb_dir}: LMDB folder not found")
    if not os.path.isfile(path):
        raise UserError(f"{path}: missing (every LMDB made by scripts/create_lmdb.py has one)")
    try:
        with open(path, "rb") as f:
            meta = _PlainUnpickler(io.BytesIO(f.read())).load()
    except Exception as err:  # any malformed/crafted pickle: one clear error, nothing imported
        raise UserError(f"{path}: not a plain meta-info pickle ({err})")
    if not isinstance(meta, dict) or not _check_plain(meta) or not isinstance(meta.get("keys"), list):
        raise UserError(f"{path}: expected a dict with 'name' and a 'keys' list")
    for key in meta["keys"]:
        if not isinstance(key, str):
            raise UserError(f"{path}: key {key!r} is not a string")
        _, nfrm, h, w, idx = parse_key(key, where=path)
        if idx >= nfrm or h == 0 or w == 0:
            raise UserError(f"{path}: key {key!r} is inconsistent (frame index {idx} of {nfrm} frames, {w}x{h})")
    if not meta["keys"]:
        raise UserError(f"{path}: the LMDB holds no frames")
    return meta


def _load_frame(frame):
    """A frame given as a path (read as RGB) or as an (h, w, 3) uint8 array."""
    from tecogan.utils.fileio import read_image_rgb
    if isinstance(frame, np.ndarray):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise UserError(f"frame array of shape {frame.shape} and type {frame.dtype}: "
                            f"expected (h, w, 3) uint8 RGB")
        return frame
    return read_image_rgb(os.fspath(frame))


def write_lmdb(lmdb_dir, name, clips, progress=None):
    """Write clips into a new LMDB and its ``meta_info.pkl``; returns the keys.

    clips: iterable of ``(vid, frames)``; ``frames`` is a list of image paths or of
    (h, w, 3) uint8 RGB arrays, all of one size.  ``progress(n)`` is called per frame.
    The map size is 1.5 x the raw bytes (from each clip's first frame).
    """
    clips = [(str(vid), list(frames)) for vid, frames in clips]
    total = 0
    shapes = {}
    for vid, frames in clips:
        if not frames:
            raise UserError(f"{lmdb_dir}: sequence {vid!r} has no frames")
        if vid in shapes:
            raise UserError(f"{lmdb_dir}: sequence name {vid!r} given twice")
        first = _load_frame(frames[0])
        shapes[vid] = first.shape
        total += first.nbytes * len(frames)
    os.makedirs(lmdb_dir, exist_ok=True)
    env = lmdb.open(lmdb_dir, map_size=max(int(total * 1.5), 1 << 20))
    keys = []
    try:
        with env.begin(write=True) as txn:
            for vid, frames in clips:
                h, w, _ = shapes[vid]
                for i, frame in enumerate(frames):
                    img = _load_frame(frame)
                    if img.shape != shapes[vid]:
                        where = os.fspath(frame) if not isinstance(frame, np.ndarray) else f"{vid} frame {i}"
                        raise UserError(f"{where}: frame is {img.shape[1]}x{img.shape[0]} but the "
                                        f"sequence's first frame is {w}x{h}")
                    key = make_key(vid, len(frames), h, w, i)
                    txn.put(key.encode("utf-8"), np.ascontiguousarray(img).tobytes())
                    keys.append(key)
                    if progress:
                        progress(1)
    finally:
        env.close()
    with open(os.path.join(lmdb_dir, "meta_info.pkl"), "wb") as f:
        pickle.dump({"name": name, "keys": keys}, f)
    return keys


_ENVS = {}  # (pid, path) -> environment: LMDB allows one open environment per path and process


class LMDBReader:
    """Read-only, lock-free frame reader opened lazily (one per DataLoader worker)."""

    def __init__(self, lmdb_dir):
        self.lmdb_dir = lmdb_dir
        self.env = None

    def _open(self):
        if self.env is None:
            key = (os.getpid(), os.path.abspath(self.lmdb_dir))
            if key not in _ENVS:
                _ENVS[key] = lmdb.open(self.lmdb_dir, readonly=True, lock=False, readahead=False, meminit=False)
            self.env = _ENVS[key]
        return self.env

    def read(self, key, h, w):
        with self._open().begin(write=False) as txn:
            buf = txn.get(key.encode("utf-8"))
        if buf is None:
            raise UserError(f"{self.lmdb_dir}: key {key!r} listed in meta_info.pkl is missing from the LMDB")
        if len(buf) != h * w * 3:
            raise UserError(f"{self.lmdb_dir}: value of {key!r} has {len(buf)} bytes, expected {h}x{w}x3")
        return np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)

    def __getstate__(self):
        return {"lmdb_dir": self.lmdb_dir, "env": None}
