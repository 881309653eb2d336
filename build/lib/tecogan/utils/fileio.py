"""File helpers shared by every command: atomic writes and checked image reading.

Atomic writes go to a temporary file in the destination folder and are moved into
place with ``os.replace``, so a crash never leaves a half-written checkpoint, JSON or
PNG under the final name.
"""
import json
import os
import tempfile

import cv2
import numpy as np

from tecogan.utils.errors import UserError, warn

_UMASK = os.umask(0)
os.umask(_UMASK)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _temp_path(path, suffix=""):
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_" + os.path.basename(path) + ".",
                               suffix=suffix, dir=folder)
    os.close(fd)
    return tmp


def atomic_write(path, write_fn, suffix=""):
    """Call ``write_fn(tmp_path)`` then rename the result to ``path``."""
    tmp = _temp_path(path, suffix)
    try:
        write_fn(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj, path):
    import torch
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(path, text):
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, write)


def atomic_write_json(path, obj, indent=2):
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def write_image_rgb(path, img_rgb):
    """Write an (h, w, 3) uint8 RGB array atomically (format from the extension)."""
    ext = os.path.splitext(path)[1] or ".png"

    def write(tmp):
        if not cv2.imwrite(tmp, np.ascontiguousarray(img_rgb[..., ::-1])):
            raise UserError(f"{path}: could not write image")
    atomic_write(path, write, suffix=ext)


def to_uint8_rgb(img, path, warned=None):
    """Convert what OpenCV decoded (BGR, gray, BGRA, 16-bit) to uint8 RGB (h, w, 3).

    Unusual formats are converted with one warning per call site (``warned`` is a
    set used to warn once per kind of conversion).
    """
    notes = []
    if img.dtype == np.uint16:
        img = (img.astype(np.float64) / 257.0).round().astype(np.uint8)
        notes.append("16-bit")
    elif img.dtype != np.uint8:
        raise UserError(f"{path}: unsupported image sample type {img.dtype} (expected 8- or 16-bit)")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        notes.append("grayscale")
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        notes.append("RGBA")
    elif img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2RGB)
        notes.append("grayscale")
    else:
        raise UserError(f"{path}: image has {img.shape[2]} channels (expected 1, 3 or 4)")
    if notes:
        kind = "+".join(notes)
        if warned is None or kind not in warned:
            warn(f"{path}: {kind} image converted to 8-bit RGB")
            if warned is not None:
                warned.add(kind)
    return np.ascontiguousarray(img)


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"


def _looks_truncated(data):
    """True for a PNG without its IEND chunk or a JPEG without its end marker."""
    head = data[:8].tobytes()
    tail = data[-16:].tobytes()
    if head == _PNG_MAGIC:
        return _PNG_END not in tail
    if head[:2] == b"\xff\xd8":
        return b"\xff\xd9" not in tail
    return False


def read_image_rgb(path, warned=None):
    """Read an image file as uint8 RGB (h, w, 3); a clear error if it cannot be read."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: image file not found")
    data = np.fromfile(path, dtype=np.uint8)
    if _looks_truncated(data):  # checked first: the decoders would print their own messages
        raise UserError(f"{path}: unreadable or truncated image")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise UserError(f"{path}: unreadable or truncated image")
    return to_uint8_rgb(img, path, warned)


def list_images(folder):
    """Sorted image file names (not paths) of a folder."""
    return sorted(f for f in os.listdir(folder)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))


def transform_sequences(src_dir, dst_dir, transform, desc="frames"):
    """Apply ``transform(path, rgb) -> rgb`` to every frame of ``src_dir/<seq>/``, writing
    ``dst_dir/<seq>/<name>.png``; returns the number of sequences."""
    from tqdm import tqdm
    if not os.path.isdir(src_dir):
        raise UserError(f"{src_dir}: input folder not found (expected {src_dir}/<sequence>/<frame>.png)")
    seqs = sorted(d for d in os.listdir(src_dir) if os.path.isdir(os.path.join(src_dir, d)))
    if not seqs:
        raise UserError(f"{src_dir}: no sequence folders (expected {src_dir}/<sequence>/<frame>.png)")
    for seq in tqdm(seqs, desc=desc, unit="seq", disable=None):
        for name in list_images(os.path.join(src_dir, seq)):
            path = os.path.join(src_dir, seq, name)
            out = os.path.join(dst_dir, seq, os.path.splitext(name)[0] + ".png")
            write_image_rgb(out, transform(path, read_image_rgb(path)))
    return len(seqs)
