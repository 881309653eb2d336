"""What a job may read: uploads (a video file or a folder's frames) and files of the ``--allow``
folders, each checked like upload.py's INPUT before a job is made (one line naming the file and
what was expected), and nothing outside the work folder and the allowed folders.

Paths are compared after resolving symlinks (``os.path.realpath``): a link inside an allowed
folder that points outside it is refused like the outside path itself.
"""

from __future__ import annotations

import os
import re
import shutil

from tecogan.utils.errors import UserError, one_line
from tecogan.utils.fileio import IMAGE_EXTENSIONS, check_image_file, image_header_size, list_images, read_image_rgb
from tecogan.video import VIDEO_EXTENSIONS, open_source, shown
from tecogan.video.common import MIN_SIZE

MAX_LISTED = 500  # files of the --allow folders offered in the page


def safe_name(name, fallback="video"):
    """A file name for the work folder from a name a browser sent: its last part, no separators,
    no control characters, no leading dot, at most 120 characters."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = re.sub(r"[^\w.\- ()+,]", "_", base).strip(" .")
    if not base:
        return fallback
    stem, ext = os.path.splitext(base)
    return stem[: 120 - len(ext)] + ext


def within(path, root):
    """``path`` (symlinks resolved) is ``root`` (resolved) or inside it."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def mb(n_bytes):
    return f"{n_bytes / 1e6:.1f} MB"


def check_size(name, size, limit):
    if limit is not None and size > limit:
        raise UserError(f"{name}: {mb(size)}, more than the upload limit of {mb(limit)} (--max_upload_mb)")


def probe(path, name, start=None, duration=None):
    """Open the input as upload.py would (frame count, decodability of the container, the window);
    errors name ``name``, not the path in the work folder.  The number of frames."""
    try:
        return open_source(path, start=start, duration=duration).count
    except UserError as err:
        text = one_line(err)
        for form in (shown(path), path):
            text = text.replace(form, name)
        raise UserError(text) from None


def check_upload(path, name, limit, start=None, duration=None):
    """A video upload: a regular file within the size limit that FFmpeg reads as a video."""
    if not path or not os.path.isfile(path):
        raise UserError(f"{name}: the upload did not arrive (expected a video file)")
    check_size(name, os.path.getsize(path), limit)
    if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
        raise UserError(f"{name}: an image; upload a video file, or the frames of a folder under 'frames'")
    return probe(path, name, start, duration)


def copy_upload(path, name):
    """``place_input`` for :meth:`JobStore.create`: the upload copied into the job's input folder."""

    def place(folder):
        dst = os.path.join(folder, safe_name(name))
        shutil.copyfile(path, dst)
        return dst

    return place


def frame_files(paths, names):
    """The uploaded files ``upscale.py`` would take as the folder's frames: images, hidden files
    (``.DS_Store``, ``._0001.png``) and others (``Thumbs.db``, ``notes.txt``) left out, as it
    leaves them out of a folder.  ``(paths, names)``."""
    kept = [(p, n) for p, n in zip(paths, names, strict=True) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
    return [p for p, _ in kept], [n for _, n in kept]


def check_frames(paths, names, limit):
    """Frames of a folder (the image files among ``paths``: :func:`frame_files`), all together
    within the size limit, each at least 8x8 and all of one size (read from their headers where
    they say).  ``(paths, names)`` of the frames."""
    if not paths:
        raise UserError("frames: nothing uploaded (expected the image files of a folder of frames)")
    uploaded = len(paths)
    paths, names = frame_files(paths, names)
    if not paths:
        raise UserError(
            f"frames: none of the {uploaded} uploaded files is an image ({', '.join(IMAGE_EXTENSIONS)} expected "
            "in a folder of frames)"
        )
    total, first = 0, None
    for path, name in zip(paths, names, strict=True):
        try:
            total += check_image_file(path)
            size = frame_size(path)
        except UserError as err:
            raise UserError(one_line(err).replace(path, name)) from None
        first = first or (size, name)
        check_frame_size(size, first, name)
    check_size(f"frames ({len(paths)} files)", total, limit)
    return paths, names


def frame_size(path):
    """``(width, height)`` of an image file: its header where it says, else the decoded frame."""
    with open(path, "rb") as f:
        dims = image_header_size(f.read(1 << 16))
    if dims is None:
        h, w = read_image_rgb(path).shape[:2]
        dims = (w, h)
    return tuple(dims)


def check_frame_size(size, first, name):
    """One frame's ``(w, h)`` against the minimum and the first frame's ``(size, name)``: what
    ``upscale.py`` refuses when it reads the frame, said before a job exists."""
    w, h = size
    if min(w, h) < MIN_SIZE:
        raise UserError(f"{name}: frame is {w}x{h}, smaller than the {MIN_SIZE}x{MIN_SIZE} minimum")
    if size != first[0]:
        raise UserError(
            f"{name}: frame is {w}x{h} but {first[1]} is {first[0][0]}x{first[0][1]} (the frame size must not change)"
        )


def copy_frames(paths, names, folder_name, start=None, duration=None):
    """``place_input`` for frames: copied under their own names into ``input/<folder>/``, then
    opened as upload.py opens a folder of frames."""

    def place(folder):
        dst = os.path.join(folder, safe_name(folder_name, "frames"))
        os.makedirs(dst)
        taken = set()
        for path, name in zip(paths, names, strict=True):
            clean = safe_name(name, "frame.png")
            if clean in taken:
                raise UserError(f"{name}: two frames with this name")
            taken.add(clean)
            shutil.copyfile(path, os.path.join(dst, clean))
        probe(dst, folder_name, start, duration)
        return dst

    return place


def allowed_input(path, allow_dirs, start=None, duration=None):
    """A file (or frames folder) picked from the ``--allow`` folders: resolved, inside one of them,
    readable as upload.py's input.  The resolved path."""
    if not allow_dirs:
        raise UserError("no folders are allowed (start the app with --allow DIR to pick files from a folder)")
    if not isinstance(path, str) or not path:
        raise UserError("allowed file: none chosen")
    if not any(within(path, d) for d in allow_dirs):
        raise UserError(f"{path}: outside the allowed folders ({', '.join(allow_dirs)}); only files there can be read")
    real = os.path.realpath(path)
    if not os.path.exists(real):
        raise UserError(f"{path}: not found (expected a video file or a folder of frames)")
    probe(real, path, start, duration)
    if os.path.isdir(real):
        first = None
        for name in list_images(real):
            try:
                size = frame_size(os.path.join(real, name))
            except UserError as err:
                raise UserError(one_line(err).replace(real, path)) from None
            first = first or (size, name)
            check_frame_size(size, first, os.path.join(path, name))
    return real


def list_allowed(allow_dirs):
    """The videos and frame folders under the allowed folders (symlinks leading out are left out)."""
    found = []
    for top in allow_dirs:
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and within(os.path.join(root, d), top))
            images = [f for f in files if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
            if images and root != top:
                found.append(root)
            for f in sorted(files):
                path = os.path.join(root, f)
                if os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS and within(path, top):
                    found.append(path)
            if len(found) >= MAX_LISTED:
                return found[:MAX_LISTED]
    return found
