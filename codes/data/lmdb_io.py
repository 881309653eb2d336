"""LMDB storage of training frames, as the reference lays it out.

One entry per frame, key ``{vid}_{nfrm}x{h}x{w}_{i:04d}``, value = raw uint8 RGB HWC bytes;
``meta_info.pkl`` = ``{'name': dataset, 'keys': [...]}``.  ``meta_info.pkl`` is a pickle
(reference compatibility), read with a restricted unpickler that builds plain containers
and strings only: a crafted file cannot import or run anything, and the walk that checks
what it built is bounded (size, depth, cycles, shared sub-objects).

``data.mdb`` is checked before it is memory-mapped (:func:`check_data_mdb`): a truncated
file would otherwise crash the process with SIGBUS on the first read past its end.
"""
import io
import os
import pickle
import re
import struct

import lmdb
import numpy as np

from tecogan.utils.errors import UserError, one_line, short
from tecogan.utils.fileio import read_image_rgb
import shutil

META_MAX_BYTES = 256 << 20     # meta_info.pkl larger than this is not a meta-info file
META_MAX_NODES = 10_000_000    # values walked when checking what the pickle built
META_MAX_DEPTH = 8             # {'name': ..., 'keys': [...]} is 2 deep

KEY_RE = re.compile(r"^(?P<vid>.+)_(?P<n>\d+)x(?P<h>\d+)x(?P<w>\d+)_(?P<i>\d{4,})$")


def make_key(vid, nfrm, h, w, idx):
    return f"{vid}_{nfrm}x{h}x{w}_{idx:04d}"


def parse_key(key, where="LMDB"):
    """'{vid}_{n}x{h}x{w}_{i:04d}' -> (vid, n, h, w, i)."""
    m = KEY_RE.match(key)
    if not m:
        raise UserError(f"{where}: key {short(key)} does not parse (expected {{vid}}_{{frames}}x{{h}}x{{w}}_{{index:04d}})")
    return m["vid"], int(m["n"]), int(m["h"]), int(m["w"]), int(m["i"])


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


_SCALARS = (str, int, float, bool, type(None), bytes)


def _check_plain(obj, where="meta_info.pkl"):
    """Plain containers and scalars only; iterative and bounded.

    Each container is visited once (a pickle can share one list a million times, or make a
    list that holds itself): a cycle, nesting deeper than ``META_MAX_DEPTH`` or more than
    ``META_MAX_NODES`` values is refused with one line.
    """
    seen = set()
    stack = [(obj, 0)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > META_MAX_NODES:
            raise UserError(f"{where}: holds more than {META_MAX_NODES} values (not a meta-info file)")
        if isinstance(item, _SCALARS):
            continue
        if not isinstance(item, (list, tuple, set, dict)):
            return False
        if id(item) in seen:
            raise UserError(f"{where}: a container appears twice or holds itself (not a plain meta-info pickle)")
        seen.add(id(item))
        if depth >= META_MAX_DEPTH:
            raise UserError(f"{where}: nested more than {META_MAX_DEPTH} levels deep (expected a dict of a list of keys)")
        children = [c for kv in item.items() for c in kv] if isinstance(item, dict) else list(item)
        stack.extend((c, depth + 1) for c in children)
    return True


def read_meta_info(lmdb_dir):
    """The ``meta_info.pkl`` dict of an LMDB folder (validated)."""
    path = os.path.join(lmdb_dir, "meta_info.pkl")
    if not os.path.isdir(lmdb_dir):
        raise UserError(f"{lmdb_dir}: LMDB folder not found")
    if not os.path.isfile(path):
        raise UserError(f"{path}: missing (every LMDB made by scripts/create_lmdb.py has one)")
    if os.path.getsize(path) > META_MAX_BYTES:
        raise UserError(f"{path}: {os.path.getsize(path)} bytes, more than a meta-info file holds "
                        f"({META_MAX_BYTES >> 20} MB at most)")
    try:
        with open(path, "rb") as f:
            meta = _PlainUnpickler(io.BytesIO(f.read())).load()
    except Exception as err:  # any malformed/crafted pickle: one clear error, nothing imported
        raise UserError(f"{path}: not a plain meta-info pickle ({one_line(err, 160)})")
    if not isinstance(meta, dict) or not _check_plain(meta, path) or not isinstance(meta.get("keys"), list):
        raise UserError(f"{path}: expected a dict with 'name' and a 'keys' list")
    for key in meta["keys"]:
        if not isinstance(key, str):
            raise UserError(f"{path}: key {short(key)} is not a string")
        if "/" in key or "\\" in key or "\0" in key or key.startswith("."):
            raise UserError(f"{path}: key {short(key)} is not a plain name (no /, \\ or leading dot: keys "
                            f"also name files)")
        _, nfrm, h, w, idx = parse_key(key, where=path)
        if idx >= nfrm or h == 0 or w == 0:
            raise UserError(f"{path}: key {short(key)} is inconsistent (frame index {idx} of {nfrm} frames, {w}x{h})")
    if not meta["keys"]:
        raise UserError(f"{path}: the LMDB holds no frames")
    return meta


def _load_frame(frame):
    """A frame given as a path (read as RGB) or as an (h, w, 3) uint8 array."""
    if isinstance(frame, np.ndarray):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise UserError(f"frame array of shape {frame.shape} and type {frame.dtype}: "
                            f"expected (h, w, 3) uint8 RGB")
        return frame
    return read_image_rgb(os.fspath(frame))


def write_lmdb(lmdb_dir, name, clips, progress=None, where=None):
    """Write clips into a new LMDB and its ``meta_info.pkl``; returns the keys.

    clips: iterable of ``(vid, frames)``; ``frames`` is a list of image paths or of
    (h, w, 3) uint8 RGB arrays, all of one size.  ``progress(n)`` is called per frame.
    The map size is 1.5 x the raw bytes (from each clip's first frame).  ``where``: the
    folder named in error messages (the final LMDB when ``lmdb_dir`` is a temporary one).
    """
    where = where or lmdb_dir
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
    # bytes path: names that are not valid UTF-8 work (lmdb encodes str paths as UTF-8)
    env = lmdb.open(os.fsencode(lmdb_dir), map_size=max(int(total * 1.5), 1 << 20))
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
    except lmdb.Error as err:  # a full disk, a file-size limit: one line naming the folder
        free = shutil.disk_usage(lmdb_dir).free
        hint = (f"the disk is full: {free} bytes free, about {total} needed" if free < total
                else "a full disk or a file-size limit?")
        raise UserError(f"{where}: could not write the LMDB ({one_line(err, 120)}; {hint}); an LMDB "
                        f"already there is kept")
    finally:
        env.close()
    with open(os.path.join(lmdb_dir, "meta_info.pkl"), "wb") as f:
        pickle.dump({"name": name, "keys": keys}, f)
    return keys


_ENVS = {}  # (pid, path) -> environment: LMDB allows one open environment per path and process

_MDB_MAGIC = 0xBEEFC0DE


def check_data_mdb(lmdb_dir):
    """Refuse a missing, damaged or truncated ``data.mdb`` before it is memory-mapped.

    LMDB's first two pages are meta pages.  Each holds, after the 16-byte page header,
    ``mm_magic`` (u32, 0xBEEFC0DE), ``mm_version`` (u32), ``mm_address`` and ``mm_mapsize``
    (u64 each), two 48-byte database records (the first one's leading u32 is the page size)
    and then ``mm_last_pg`` and ``mm_txnid`` (u64 each, at offset 136).  The meta page with
    the larger transaction id is current; the file must hold pages 0..last_pg.  (64-bit
    little-endian LMDB, which is what py-lmdb builds on x86-64 and arm64.)
    """
    path = os.path.join(lmdb_dir, "data.mdb")
    if not os.path.isfile(path):
        raise UserError(f"{path}: missing (an LMDB folder holds data.mdb; was the folder copied "
                        f"completely?)")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16 + 152)
        metas = []
        if len(head) >= 152:
            magic, _version = struct.unpack_from("<II", head, 16)
            psize = struct.unpack_from("<I", head, 40)[0]
            if magic == _MDB_MAGIC and 512 <= psize <= (1 << 16) and psize & (psize - 1) == 0:
                f.seek(psize)
                second = f.read(152)
                for page in (head, second):
                    if len(page) >= 152 and struct.unpack_from("<I", page, 16)[0] == _MDB_MAGIC:
                        last_pg, txnid = struct.unpack_from("<QQ", page, 136)
                        metas.append((txnid, last_pg))
    if not metas:
        raise UserError(f"{path}: not an LMDB data file (damaged or truncated header)")
    _txnid, last_pg = max(metas)
    needed = (last_pg + 1) * psize
    if size < needed:
        raise UserError(f"{path}: truncated ({size} bytes, but its header records {last_pg + 1} pages "
                        f"of {psize} bytes = {needed} bytes); copy or rebuild the LMDB")


class LMDBReader:
    """Read-only, lock-free frame reader opened lazily (one per DataLoader worker)."""

    def __init__(self, lmdb_dir):
        self.lmdb_dir = lmdb_dir
        self.env = None
        check_data_mdb(lmdb_dir)  # early, in the main process: one line instead of a SIGBUS later

    def _open(self):
        if self.env is None:
            key = (os.getpid(), os.path.abspath(self.lmdb_dir))
            if key not in _ENVS:
                check_data_mdb(self.lmdb_dir)
                try:
                    _ENVS[key] = lmdb.open(os.fsencode(self.lmdb_dir), readonly=True, lock=False,
                                           readahead=False, meminit=False)
                except lmdb.Error as err:
                    raise UserError(f"{self.lmdb_dir}: cannot open the LMDB ({one_line(err, 160)})")
            self.env = _ENVS[key]
        return self.env

    def read(self, key, h, w):
        try:
            with self._open().begin(write=False) as txn:
                buf = txn.get(key.encode("utf-8"))
        except lmdb.Error as err:  # damaged pages
            raise UserError(f"{self.lmdb_dir}: cannot read {short(key)} ({one_line(err, 160)}); the LMDB "
                            f"is damaged: rebuild it with scripts/create_lmdb.py")
        if buf is None:
            raise UserError(f"{self.lmdb_dir}: key {short(key)} listed in meta_info.pkl is missing from the LMDB")
        if len(buf) != h * w * 3:
            raise UserError(f"{self.lmdb_dir}: value of {short(key)} has {len(buf)} bytes, expected {h}x{w}x3")
        return np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)

    def __getstate__(self):
        return {"lmdb_dir": self.lmdb_dir, "env": None}
