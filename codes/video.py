"""Streaming frame sources and sinks for ``upscale.py``.

Sources yield ``(name, frame)`` with ``frame`` an (h, w, 3) uint8 RGB array; sinks take
the same.  ``prefetch`` runs an iterator in a thread behind a bounded queue, so decoding,
inference and encoding overlap while at most a few frames are in flight.
"""
import os
import queue
import threading

import cv2
import numpy as np

from tecogan.utils.errors import UserError
from tecogan.utils.fileio import IMAGE_EXTENSIONS, list_images, read_image_rgb, write_image_rgb, to_uint8_rgb

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
MIN_SIZE = 8


def is_video_path(path):
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


class FolderSource:
    """Frames of a folder, in sorted order, keeping their names (as .png)."""

    def __init__(self, folder, fps=None):
        self.folder = folder
        self.files = list_images(folder)
        if not self.files:
            raise UserError(f"{folder}: no image frames ({', '.join(IMAGE_EXTENSIONS)})")
        self.fps = fps or 25.0
        self.count = len(self.files)

    def __iter__(self):
        warned, shape = set(), None
        for f in self.files:
            path = os.path.join(self.folder, f)
            frame = read_image_rgb(path, warned)
            shape = _check_frame(frame, shape, path)
            yield os.path.splitext(f)[0] + ".png", frame


class VideoSource:
    """Frames of a video file decoded by OpenCV; names ``%04d.png`` from 1."""

    def __init__(self, path, fps=None):
        if not os.path.isfile(path):
            raise UserError(f"{path}: input video not found")
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise UserError(f"{path}: OpenCV cannot open this video (unsupported or corrupt file)")
        self.path = path
        self.fps = fps or cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not np.isfinite(self.fps) or self.fps <= 0:
            self.fps = 25.0
        self.count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        cap.release()

    def __iter__(self):
        cap = cv2.VideoCapture(self.path)
        shape, i = None, 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                frame = to_uint8_rgb(frame, self.path)
                shape = _check_frame(frame, shape, f"{self.path} frame {i + 1}")
                i += 1
                yield f"{i:04d}.png", frame
        finally:
            cap.release()
        if i == 0:
            raise UserError(f"{self.path}: the video has no decodable frames")


def _check_frame(frame, shape, where):
    if frame.shape[0] < MIN_SIZE or frame.shape[1] < MIN_SIZE:
        raise UserError(f"{where}: frame is {frame.shape[1]}x{frame.shape[0]}, smaller than the "
                        f"{MIN_SIZE}x{MIN_SIZE} minimum")
    if shape is not None and frame.shape != shape:
        raise UserError(f"{where}: frame is {frame.shape[1]}x{frame.shape[0]} but earlier frames are "
                        f"{shape[1]}x{shape[0]}")
    return frame.shape


def require_utf8_name(path):
    """OpenCV's video functions crash (segfault) on a file name that is not valid UTF-8:
    refuse it with one line instead (folders of frames with such names work)."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path!r}: the video file name is not valid UTF-8, which the video library "
                        f"cannot open; rename it (or use a folder of frames)")


def open_source(path, fps=None):
    if os.path.isdir(path):
        return FolderSource(path, fps)
    if not os.path.exists(path):
        raise UserError(f"{path}: input not found (expected a video file or a folder of frames)")
    require_utf8_name(path)
    return VideoSource(path, fps)


class VideoSink:
    """mp4v (or another FourCC) video written to a temporary name, renamed on close."""

    def __init__(self, path, fps, codec="mp4v"):
        self.path, self.fps, self.codec = path, fps, codec
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        base, ext = os.path.splitext(os.path.basename(path))
        self.tmp = os.path.join(folder, f".tmp_{base}_{os.getpid()}{ext}")
        self.writer = None

    def write(self, name, frame):
        if self.writer is None:
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*self.codec), self.fps, (w, h))
            if not self.writer.isOpened():
                raise UserError(f"{self.path}: OpenCV cannot write this video format with codec "
                                f"{self.codec} (try .mp4 or .avi, or a folder output)")
        self.writer.write(np.ascontiguousarray(frame[..., ::-1]))

    def close(self, ok=True):
        if self.writer is not None:
            self.writer.release()
        if ok and self.writer is not None:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)


class FolderSink:
    """PNG frames written into a temporary sibling of ``folder``, renamed into place by
    ``close(ok=True)``: an existing folder (allowed by ``check_outputs`` with --overwrite) is
    replaced only when every frame is written, and then holds only the new frames."""

    def __init__(self, folder):
        from tecogan.utils.outputs import AtomicFolder
        self.folder = folder
        self.staging = AtomicFolder(folder)

    def write(self, name, frame):
        write_image_rgb(os.path.join(self.staging.tmp, name), frame)

    def close(self, ok=True):
        self.staging.close(ok)


def open_sink(path, fps, codec="mp4v"):
    if is_video_path(path):
        require_utf8_name(path)
        return VideoSink(path, fps, codec)
    return FolderSink(path)


_END = object()


def prefetch(iterable, maxsize=4):
    """Iterate ``iterable`` in a background thread, at most ``maxsize`` items ahead."""
    q = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def run():
        try:
            for item in iterable:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_END)
        except BaseException as err:  # handed to the consumer
            q.put(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


class BackgroundWriter:
    """Writes (sink, name, frame) items in a thread behind a bounded queue."""

    def __init__(self, maxsize=4):
        self.q = queue.Queue(maxsize=maxsize)
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is None:
                try:
                    sink, name, frame = item
                    sink.write(name, frame)
                except BaseException as err:
                    self.error = err

    def put(self, sink, name, frame):
        if self.error is not None:
            raise self.error
        self.q.put((sink, name, frame))

    def close(self):
        self.q.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
