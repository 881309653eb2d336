"""What the video modules share: file kinds, printable names, FFmpeg (PyAV) opening, timing."""

import collections
import os
from fractions import Fraction

import av

from tecogan import defaults
from tecogan.utils.errors import UserError, warn

VIDEO_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mkv",
    ".mov",
    ".m4v",
    ".webm",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".ts",
    ".m2ts",
    ".mts",
    ".flv",
    ".3gp",
)
# output container (FFmpeg muxer) by extension
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
MIN_SIZE = defaults.MIN_LR_SIZE
DEFAULT_FPS = 25

Frame = collections.namedtuple("Frame", "name image time")


def is_video_path(path):
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def shown(path):
    """``path`` printable on any terminal: bytes that are not UTF-8 appear as ``\\xff``."""
    return os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def not_writable(path, err):
    """The one line for an output whose folder refused a file (``err``: the OSError): /proc, /sys,
    a read-only mount, which the checks before any work let through (root passes ``os.access``)."""
    folder = os.path.dirname(os.path.abspath(path)) or os.sep
    return UserError(
        f"{shown(path)}: cannot be written: the folder {shown(folder)} takes no new files "
        f"({err.strerror or err}); choose an output in a writable folder"
    )


def codec_threads():
    """Threads for FFmpeg's decoder and encoder: half the cores (at least one), the rest
    left to the network, whose worker threads stall when a core is taken from them."""
    return max(1, (os.cpu_count() or 2) // 2)


def _rate(fps):
    return Fraction(fps).limit_denominator(100000)


def _open_input(path):
    try:
        return av.open(path, metadata_errors="replace")
    except av.error.FFmpegError as err:
        raise UserError(
            f"{shown(path)}: FFmpeg cannot read this file as a video "
            f"({err.strerror or err}; expected an mp4, mkv, mov, webm, avi ... file)"
        ) from None


def _video_stream(container, path):
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # skip cover art
            return stream
    raise UserError(f"{shown(path)}: no video stream (expected a video file)")


def _seconds(ts, time_base):
    return None if ts is None or time_base is None else Fraction(ts) * time_base


_warned = set()


def _warn_once(message):
    """A warning shown once per process (the output and the --compare video share them)."""
    if message not in _warned:
        _warned.add(message)
        warn(message)
