"""Streaming frame sources and sinks for ``upscale.py``.

Video files are decoded and encoded by FFmpeg through PyAV (no ``ffmpeg`` binary, no pipes);
folders of frames are read as images and written as PNG through byte buffers, so any file
name works.

A source's ``frames()`` yields :class:`Frame` items ``(name, image, time)``: ``image`` an
(h, w, 3) uint8 RGB array, upright (rotation metadata applied), ``time`` its presentation
time in seconds (a ``Fraction``) on the output's time line.  Iterating a source gives
``(name, image)``.  Sinks take ``write(name, image, time)`` and ``close(ok)``.
``prefetch`` runs an iterator in a thread behind a bounded queue and ``BackgroundWriter``
writes in another, so decoding, inference and encoding overlap with a few frames in flight.

Timing: every output frame keeps its input frame's timestamp (variable frame rate kept);
with ``--start``/``--duration`` the kept window is shifted to start at 0.  Audio and
subtitle streams are copied packet by packet where the output container accepts them
(audio otherwise re-encoded: AAC in .mp4/.mov, Opus in .mkv/.webm), interleaved with the
video as it is written.
"""

from tecogan.video.codecs import CODEC_ALIASES, CODECS, Encoding, check_output
from tecogan.video.common import (
    CONTAINERS,
    DEFAULT_FPS,
    MIN_SIZE,
    VIDEO_EXTENSIONS,
    Frame,
    codec_threads,
    is_video_path,
    shown,
)
from tecogan.video.reading import FolderSource, VideoSource, open_source
from tecogan.video.threads import BackgroundWriter, prefetch
from tecogan.video.writing import FolderSink, VideoSink, open_sink, sane_dts

__all__ = [
    "CODEC_ALIASES",
    "CODECS",
    "CONTAINERS",
    "DEFAULT_FPS",
    "MIN_SIZE",
    "VIDEO_EXTENSIONS",
    "BackgroundWriter",
    "Encoding",
    "FolderSink",
    "FolderSource",
    "Frame",
    "VideoSink",
    "VideoSource",
    "check_output",
    "codec_threads",
    "is_video_path",
    "open_sink",
    "open_source",
    "prefetch",
    "sane_dts",
    "shown",
]
