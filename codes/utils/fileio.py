"""File helpers shared by every command: atomic writes and checked image reading.

Atomic writes go to a temporary file in the destination folder (``.tmp_<pid>_<name>.*``,
see ``tecogan.utils.outputs``) and are moved into place with ``os.replace``, so a crash
never leaves a half-written checkpoint, JSON or PNG under the final name.  Images are
encoded and decoded in memory and written/read with Python's file functions, so file
names that are not valid UTF-8 work (OpenCV's own path functions crash on them).
"""
import io
import json
import os
import tempfile

import cv2
import numpy as np
import torch

from tecogan.utils.errors import UserError, describe_os_error, warn

_UMASK = os.umask(0)
os.umask(_UMASK)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _temp_path(path, suffix=""):
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp_{os.getpid()}_{os.path.basename(os.path.abspath(path))}.",
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
    except OSError as err:  # a full disk, a read-only folder: one line naming the output, not the temp
        if os.path.exists(tmp):
            os.remove(tmp)
        raise UserError(f"{path}: could not be written: {describe_os_error(OSError(err.errno, err.strerror))}") \
            from err
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj, path):

    buf = io.BytesIO()  # serialised in memory, written by Python: a full disk is a clear OSError
    torch.save(obj, buf)  # (torch's own writer reports it as an obscure RuntimeError)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, write)


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

    try:
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(img_rgb[..., ::-1]))
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"{path}: could not encode the image as {ext} (expected .png, .jpg, ...)")

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(buf.tobytes())
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
    """Sorted image file names (not paths) of a folder.

    Two frames with the same stem (``0000.png`` and ``0000.jpg``) are refused: their
    outputs (named ``<stem>.png``) would collide and the frame order is ambiguous.
    """
    names = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
    stems = {}
    for name in names:
        stem = os.path.splitext(name)[0]
        if stem in stems:
            raise UserError(f"{os.path.join(folder, name)}: same name stem as {stems[stem]} (two frames "
                            f"named {stem}.*: their outputs would collide); keep one of them")
        stems[stem] = name
    return names
