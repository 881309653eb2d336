"""File helpers shared by every command: atomic writes and checked image reading.

Atomic writes go to a temporary file in the destination folder (``.tecogan-tmp-<pid>-...-<name>``,
see ``tecogan.utils.tempfiles``) and are renamed into place (``publish``: an output that
appeared meanwhile is replaced only with ``--overwrite``), so a crash never leaves a
half-written checkpoint, JSON or PNG under the final name.  Images are
encoded and decoded in memory and written/read with Python's file functions, so file
names that are not valid UTF-8 work (OpenCV's own path functions crash on them).
"""

import io
import json
import os
import stat
import struct

import cv2
import numpy as np
import torch

from tecogan.defaults import MAX_CLIP_FRAMES, MAX_IMAGE_FILE_BYTES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from tecogan.utils.errors import UserError, describe_os_error, warn
from tecogan.utils.tempfiles import publish, temp_sibling

_UMASK = os.umask(0)
os.umask(_UMASK)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def temp_file_beside(path, suffix=""):
    """A new empty file (mode 0600) beside ``path`` under one of this project's temporary names."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    for _attempt in range(100):
        tmp = temp_sibling(path, suffix)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{path}: no free temporary name beside it")


_temp_path = temp_file_beside  # older name


def atomic_write(path, write_fn, suffix="", overwrite=None):
    """Call ``write_fn(tmp_path)`` then rename the result to ``path`` (``overwrite``: see
    :func:`tecogan.utils.tempfiles.publish`; None = as check_outputs decided for ``path``)."""
    tmp = temp_file_beside(path, suffix)
    try:
        write_fn(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # created 0600
        publish(tmp, path, overwrite)
    except OSError as err:  # a full disk, a read-only folder: one line naming the output, not the temp
        if os.path.exists(tmp):
            os.remove(tmp)
        raise UserError(f"{path}: could not be written: {describe_os_error(OSError(err.errno, err.strerror))}") from err
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
    """``text`` as UTF-8; a path name of other bytes in it (a lone surrogate, as Python decodes one)
    is written back as those bytes, not an encoding error."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def atomic_write_json(path, obj, indent=2):
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json_object(path):
    """The JSON object (a dict) in ``path``, or None when it is missing, unreadable, not JSON or not an object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
        if warned is None:  # callers without their own set: once per folder and kind, not once a frame
            warned, kind_key = _WARNED_FOLDERS, (os.path.dirname(os.fspath(path)), kind)
        else:
            kind_key = kind
        if kind_key not in warned:
            warn(f"{path}: {kind} image converted to 8-bit RGB (said once for its folder)")
            warned.add(kind_key)
    return np.ascontiguousarray(img)


_WARNED_FOLDERS = set()


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


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular_file(path, what="file"):
    """``os.stat`` of ``path``, which must be a regular file: ``/dev/zero``, ``/dev/urandom`` or a
    FIFO would be read forever (or block), a folder is not a file.  One line otherwise."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"{path}: {what} not found") from None
    except OSError as err:
        raise UserError(f"{path}: {what} cannot be read ({err.strerror or err})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((words for test, words in _KINDS if test(st.st_mode)), "not a plain file")
        raise UserError(f"{path}: not a regular file ({kind}); expected {'an' if what[0] in 'aeiou' else 'a'} {what}")
    return st


def image_header_size(head):
    """``(width, height)`` from the first bytes of a PNG, JPEG or BMP file, or None (other formats,
    or a header that does not say): read before decoding, so a pixel bomb is refused first."""
    if head[:8] == _PNG_MAGIC and len(head) >= 24 and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)
    if head[:2] == b"\xff\xd8":
        i = 2
        while i + 9 <= len(head):
            if head[i] != 0xFF:
                return None
            marker = head[i + 1]
            if marker == 0xFF:
                i += 1
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", head[i + 5 : i + 9])
                return w, h
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            i += 2 + struct.unpack(">H", head[i + 2 : i + 4])[0]
    return None


def check_image_file(path):
    """A regular file of at most MAX_IMAGE_FILE_BYTES whose header (PNG, JPEG, BMP) declares a
    frame within MAX_IMAGE_SIDE / MAX_IMAGE_PIXELS; returns its size in bytes."""
    size = check_regular_file(path, "image file").st_size
    if size > MAX_IMAGE_FILE_BYTES:
        raise UserError(f"{path}: {size} bytes, larger than any frame ({MAX_IMAGE_FILE_BYTES >> 20} MB at most)")
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    dims = image_header_size(head)
    if dims is not None:
        w, h = dims
        if max(w, h) > MAX_IMAGE_SIDE or w * h > MAX_IMAGE_PIXELS:
            raise UserError(
                f"{path}: a {w}x{h} image, larger than the {MAX_IMAGE_SIDE} pixels per side and "
                f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels a frame may have"
            )
    return size


def read_image_rgb(path, warned=None):
    """Read an image file as uint8 RGB (h, w, 3); a clear error if it cannot be read."""
    check_image_file(path)
    data = np.fromfile(path, dtype=np.uint8)
    if _looks_truncated(data):  # checked first: the decoders would print their own messages
        raise UserError(f"{path}: unreadable or truncated image")
    try:
        # JPEG: decoded with its EXIF orientation applied (IMREAD_UNCHANGED ignores it: a phone's
        # portrait photo would come out lying on its side); other formats keep alpha and 16 bits
        jpeg = data[:2].tobytes() == b"\xff\xd8"
        flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR if jpeg else cv2.IMREAD_UNCHANGED
        img = cv2.imdecode(data, flags) if data.size else None
    except cv2.error as err:  # OpenCV's own limits (other formats): its assertion names no file
        raise UserError(f"{path}: cannot be decoded ({' '.join(str(err).split())[-120:]})") from None
    if img is None:
        raise UserError(f"{path}: unreadable or truncated image")
    return to_uint8_rgb(img, path, warned)


def list_images(folder):
    """Sorted image file names (not paths) of a folder.

    Two frames with the same stem (``0000.png`` and ``0000.jpg``) are refused: their
    outputs (named ``<stem>.png``) would collide and the frame order is ambiguous.
    """
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
    if len(names) > MAX_CLIP_FRAMES:
        raise UserError(f"{folder}: {len(names)} frames, more than the {MAX_CLIP_FRAMES} of one sequence")
    stems = {}
    for name in names:
        stem = os.path.splitext(name)[0]
        if stem in stems:
            raise UserError(
                f"{os.path.join(folder, name)}: same name stem as {stems[stem]} (two frames "
                f"named {stem}.*: their outputs would collide); keep one of them"
            )
        stems[stem] = name
    return names
