"""Fingerprints of inputs and comparisons of recorded settings, shared by ``--batch``'s output
manifests (:mod:`tecogan.jobs.batch`) and the job folders of resumable runs (:mod:`tecogan.jobs.job_folder`)."""
import hashlib
import os

from tecogan.utils.fileio import check_regular_file, list_images

HASH_BYTES = 1 << 20  # head and tail hashed for the fingerprint


def _hash_ends(path, h):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        h.update(f.read(HASH_BYTES))
        if size > 2 * HASH_BYTES:
            f.seek(size - HASH_BYTES)
            h.update(f.read(HASH_BYTES))
        elif size > HASH_BYTES:
            h.update(f.read())


def fingerprint(path):
    """Size, modification time and a hash of the head and tail of a file, or of every frame of a
    folder (names, sizes, times and each frame's head and tail)."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        size = 0
        files = list_images(path)
        for name in files:
            p = os.path.join(path, name)
            st = check_regular_file(p, "image file")  # a FIFO among the frames would block the hash
            size += st.st_size
            h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
            _hash_ends(p, h)
        return {"kind": "frames", "files": len(files), "size": size, "sha256_ends": h.hexdigest()}
    st = check_regular_file(path, "video file")
    _hash_ends(path, h)
    return {"kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_ends": h.hexdigest()}


def differences(old, new, prefix=""):
    """The dotted keys whose values differ between two nested dicts (``inference.tile``)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(prefix + key)
    return out
