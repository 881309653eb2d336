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
import collections
import os
import queue
import threading
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import IMAGE_EXTENSIONS, list_images, read_image_rgb, write_image_rgb

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".ts",
                    ".m2ts", ".mts", ".flv", ".3gp")
# output container (FFmpeg muxer) by extension
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
MIN_SIZE = 8
DEFAULT_FPS = 25

Frame = collections.namedtuple("Frame", "name image time")


def is_video_path(path):
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def shown(path):
    """``path`` printable on any terminal: bytes that are not UTF-8 appear as ``\\xff``."""
    return os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def codec_threads():
    """Threads for FFmpeg's decoder and encoder: half the cores (at least one), the rest
    left to the network, whose worker threads stall when a core is taken from them."""
    return max(1, (os.cpu_count() or 2) // 2)


def _rate(fps):
    return Fraction(fps).limit_denominator(100000)


def _av():
    import av
    return av


# ---------------------------------------------------------------- reading ----
def _open_input(path):
    av = _av()
    try:
        return av.open(path, metadata_errors="replace")
    except av.error.FFmpegError as err:
        raise UserError(f"{shown(path)}: FFmpeg cannot read this file as a video "
                        f"({err.strerror or err}; expected an mp4, mkv, mov, webm, avi ... file)") from None


def _video_stream(container, path):
    av = _av()
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # skip cover art
            return stream
    raise UserError(f"{shown(path)}: no video stream (expected a video file)")


def _seconds(ts, time_base):
    return None if ts is None or time_base is None else Fraction(ts) * time_base


# colour matrices swscale knows (AVColorSpace values); others are guessed from the size
_SWS_COLORSPACES = {1, 4, 5, 6, 7, 9, 10}


class FolderSource:
    """Frames of a folder, in sorted order, keeping their names (as .png); ``fps`` sets the
    timing (default 25), ``start``/``duration`` (seconds) a window of it."""

    def __init__(self, folder, fps=None, start=None, duration=None):
        self.path = folder
        files = list_images(folder)
        if not files:
            raise UserError(f"{shown(folder)}: no image frames ({', '.join(IMAGE_EXTENSIONS)})")
        self.rate = _rate(fps or DEFAULT_FPS)
        self.fps = float(self.rate)
        self.time_base = 1 / self.rate
        first = int(np.ceil((start or 0) * self.rate - 1e-9))
        last = len(files) if duration is None else min(len(files), int(np.ceil(((start or 0) + duration) * self.rate - 1e-9)))
        if first >= len(files):
            raise UserError(f"--start {start:g}: {shown(folder)} has {len(files)} frames, "
                            f"{len(files) / self.fps:.2f} s at {self.fps:g} frame/s")
        self.files = files[first:last]
        self.count = len(self.files)
        self.duration = self.count / self.fps
        self.passthrough = None  # no audio in a folder

    def describe(self):
        return f"{self.count} frames at {self.fps:g} frame/s"

    def frames(self):
        warned, shape = set(), None
        for i, f in enumerate(self.files):
            path = os.path.join(self.path, f)
            image = read_image_rgb(path, warned)
            shape = _check_frame(image, shape, shown(path))
            yield Frame(os.path.splitext(f)[0] + ".png", image, i * self.time_base)

    def __iter__(self):
        for frame in self.frames():
            yield frame.name, frame.image


class VideoSource:
    """Frames of a video file decoded by FFmpeg (PyAV); names ``%04d.png`` from 1.

    ``count`` (frames to decode) and ``duration`` (seconds) are known up front; ``start`` and
    ``duration`` (seconds from the first frame) select a window, which is shifted to start
    at 0.  ``fps`` re-times the frames at that constant rate (audio is then dropped).
    """

    def __init__(self, path, fps=None, start=None, duration=None):
        if not os.path.isfile(path):
            raise UserError(f"{shown(path)}: input video not found")
        self.path = path
        with _open_input(path) as container:
            stream = _video_stream(container, path)
            self.index = stream.index
            tb = stream.time_base or Fraction(1, 90000)
            self.stream_time_base = tb
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate or DEFAULT_FPS
            origin = _seconds(stream.start_time, tb) or Fraction(0)
            total = _seconds(stream.duration, tb)
            if total is None and container.duration:
                total = Fraction(container.duration, 1000000)
            self.trimmed = bool(start) or duration is not None
            self.window = (origin + Fraction(start or 0) if start else None,
                           origin + Fraction(start or 0) + Fraction(duration) if duration is not None else None)
            self.shift = Fraction(0)
            self.count, first, read = self._count(container, stream)
            listed = stream.frames  # what the container's index says (0: not given)
            if not self.trimmed and listed and read < listed:
                raise UserError(f"{shown(path)} frame {read + 1}: cannot be read: the container lists {listed} "
                                f"frames but only {read} are in the file (it is truncated or damaged)")
            if self.trimmed:
                if not self.count:
                    length = f" (its video lasts {float(total):.2f} s)" if total else ""
                    window = " ".join(f"--{k} {v:g}" for k, v in (("start", start), ("duration", duration)) if v)
                    raise UserError(f"{window}: {shown(path)} has no frames there{length}")
                self.shift = first
        if self.trimmed:
            end = total + origin if total is not None else None
            stop = self.window[1] if self.window[1] is not None else end
            if stop is not None and end is not None:
                stop = min(stop, end)
            self.duration = float(stop - self.shift) if stop is not None else None
        else:
            self.duration = float(total) if total is not None else (self.count / float(rate) if self.count else None)
        self.retime = fps is not None
        self.rate = _rate(fps) if fps else Fraction(rate)
        self.fps = float(self.rate)
        self.time_base = 1 / self.rate if fps else tb
        # where the audio and subtitles come from, for the sinks (None: no audio to keep)
        self.passthrough = None if self.retime else (path, self.window, self.shift)

    def describe(self):
        parts = [f"{self.count} frames" if self.count else "frame count unknown"]
        if self.duration:
            parts.append(f"{self.duration:.2f} s")
        parts.append(f"{self.fps:.4g} frame/s" + (" (re-timed)" if self.retime else ""))
        return ", ".join(parts)

    def _count(self, container, stream):
        """``(frames to decode, time of the first, video packets read)``: the packets of the
        window (without the ones an edit list discards), found without decoding a pixel."""
        start, end = self.window
        tb = stream.time_base
        if start is not None:
            _seek(container, stream, start)
        n, first, read = 0, None, 0
        margin = 2  # seconds past the end: packets come in decoding order
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            read += 1
            if packet.is_discard:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            t = Fraction(ts) * tb if ts is not None else None
            if end is not None and t is not None and t >= end:
                dts = _seconds(packet.dts, tb)
                if dts is not None and dts >= end + margin:
                    break
                continue
            if start is not None and (t is None or t < start):
                continue
            n += 1
            first = t if first is None or (t is not None and t < first) else first
        return n, first if first is not None else Fraction(0), read

    def frames(self):
        av = _av()
        from av.video.reformatter import VideoReformatter
        reformatter = VideoReformatter()
        start, end = self.window
        shape, decoded, last_time, hdr_warned = None, 0, None, False
        with _open_input(self.path) as container:
            stream = container.streams[self.index]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = codec_threads()
            tb = stream.time_base or self.stream_time_base
            if start is not None:
                _seek(container, stream, start)
            packets = container.demux(stream)
            past_end = False
            while not past_end:
                try:
                    packet = next(packets, None)
                    decoded_frames = packet.decode() if packet is not None else []
                except av.error.FFmpegError as err:
                    raise UserError(f"{shown(self.path)} frame {decoded + 1}: FFmpeg cannot decode it "
                                    f"({err.strerror or err}); the file is damaged") from None
                if packet is None:
                    break
                for frame in decoded_frames:
                    t = _seconds(frame.pts, tb)
                    if t is None:  # no timestamp: one frame period after the last one
                        t = (last_time + 1 / self.rate) if last_time is not None else (start or Fraction(0))
                    last_time = t
                    if start is not None and t < start:
                        continue
                    if end is not None and t >= end:  # frames come in presentation order
                        past_end = True
                        break
                    if not hdr_warned and (frame.color_primaries == 9 or frame.color_trc in (16, 18)):
                        warn(f"{shown(self.path)}: HDR / BT.2020 video is converted to 8-bit RGB without "
                             "tone mapping; the output is tagged BT.709")
                        hdr_warned = True
                    image = _to_rgb(reformatter, frame)
                    decoded += 1
                    shape = _check_frame(image, shape, f"{shown(self.path)} frame {decoded}")
                    time = Fraction(decoded - 1) / self.rate if self.retime else t - self.shift
                    yield Frame(f"{decoded:04d}.png", image, time)
        if decoded == 0:
            raise UserError(f"{shown(self.path)}: the video has no decodable frames")
        if self.count and decoded < self.count:
            raise UserError(f"{shown(self.path)} frame {decoded + 1}: cannot be decoded: the container "
                            f"holds {self.count} frames, {decoded} were decoded (the file is truncated or damaged)")

    def __iter__(self):
        for frame in self.frames():
            yield frame.name, frame.image


def _seek(container, stream, seconds):
    """Seek to the key frame at or before ``seconds`` (best effort: some files cannot seek)."""
    av = _av()
    try:
        container.seek(max(0, int(seconds / stream.time_base)), stream=stream, backward=True)
    except av.error.FFmpegError:
        container.seek(0)


def _to_rgb(reformatter, frame):
    """A decoded frame as upright (h, w, 3) uint8 RGB: its colour matrix and range (tags; an
    untagged frame is BT.709 from 1280x720 up, else BT.601), any bit depth and chroma
    subsampling, its display rotation applied."""
    colorspace = frame.colorspace
    if colorspace not in _SWS_COLORSPACES:
        colorspace = 1 if frame.width >= 1280 or frame.height >= 720 else 5
    rgb = reformatter.reformat(frame, format="rgb24", src_colorspace=colorspace).to_ndarray()
    turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns
    if turns:
        rgb = np.rot90(rgb, turns)
    return np.ascontiguousarray(rgb)


def _check_frame(frame, shape, where):
    if frame.shape[0] < MIN_SIZE or frame.shape[1] < MIN_SIZE:
        raise UserError(f"{where}: frame is {frame.shape[1]}x{frame.shape[0]}, smaller than the "
                        f"{MIN_SIZE}x{MIN_SIZE} minimum")
    if shape is not None and frame.shape != shape:
        raise UserError(f"{where}: frame is {frame.shape[1]}x{frame.shape[0]} but earlier frames are "
                        f"{shape[1]}x{shape[0]} (the frame size must not change)")
    return frame.shape


def open_source(path, fps=None, start=None, duration=None):
    if fps is not None and not fps > 0:
        raise UserError(f"--fps {fps:g}: expected a frame rate > 0")
    if start is not None and not start >= 0:
        raise UserError(f"--start {start:g}: expected seconds >= 0")
    if duration is not None and not duration > 0:
        raise UserError(f"--duration {duration:g}: expected seconds > 0")
    if os.path.isdir(path):
        return FolderSource(path, fps, start, duration)
    if not os.path.exists(path):
        raise UserError(f"{shown(path)}: input not found (expected a video file or a folder of frames)")
    return VideoSource(path, fps, start, duration)


# ------------------------------------------------------- encoder settings ----
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class _Codec:
    encoder: str                 # FFmpeg encoder
    crf: tuple = None            # (default, lowest, highest) or None: no quality knob
    presets: tuple = None        # accepted --preset values, or None
    preset: str = None           # default --preset
    pix_fmt: str = "yuv420p"     # default --pix_fmt
    options: dict = field(default_factory=dict)


CODECS = {
    "h264": _Codec("libx264", (18, 0, 51), X264_PRESETS, "medium"),
    "h265": _Codec("libx265", (20, 0, 51), X264_PRESETS, "medium", options={"x265-params": "log-level=error"}),
    "av1": _Codec("libsvtav1", (28, 1, 63), tuple(str(i) for i in range(14)), "8"),
    "vp9": _Codec("libvpx-vp9", (24, 0, 63), tuple(str(i) for i in range(9)), "4",
                  options={"b": "0", "row-mt": "1", "deadline": "good"}),
    "ffv1": _Codec("ffv1", pix_fmt="bgr0", options={"level": "3"}),
    "prores": _Codec("prores_ks", None, ("proxy", "lt", "standard", "hq", "4444", "4444xq"), "hq", "yuv422p10le"),
    "mpeg4": _Codec("mpeg4", (3, 1, 31)),  # --crf is its quantiser
}
CODEC_ALIASES = {"avc": "h264", "x264": "h264", "libx264": "h264", "hevc": "h265", "x265": "h265",
                 "libx265": "h265", "svtav1": "av1", "libsvtav1": "av1", "libvpx-vp9": "vp9",
                 "prores_ks": "prores", "mp4v": "mpeg4"}
# audio/subtitle codecs copied as they are into each container (besides FFmpeg's own check)
AUDIO_COPY = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be"},
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "ac3", "pcm_s16le", "pcm_u8"},
    "matroska": None,  # anything FFmpeg's Matroska muxer takes
}
SUBTITLE_COPY = {"mp4": {"mov_text"}, "mov": {"mov_text"}, "webm": {"webvtt"}, "avi": set(), "matroska": None}
AUDIO_ENCODER = {"mp4": "aac", "mov": "aac", "matroska": "libopus", "webm": "libopus", "avi": "pcm_s16le"}
NEGATIVE_TS = {"mp4", "mov"}  # containers that keep an audio stream's priming packet before 0
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}

_supported = {}


def _container_codecs(fmt):
    """Codec names FFmpeg's ``fmt`` muxer can hold."""
    if fmt not in _supported:
        import io
        with _av().open(io.BytesIO(), "w", format=fmt) as out:
            _supported[fmt] = set(out.supported_codecs)
    return _supported[fmt]


@dataclass
class Encoding:
    """Validated settings of a video output (see :func:`check_output`)."""
    path: str
    fmt: str
    codec: str
    spec: _Codec
    crf: int
    preset: str
    pix_fmt: str

    def describe(self):
        knobs = [f"{'q' if self.codec == 'mpeg4' else 'crf'} {self.crf}" if self.crf is not None else None,
                 f"{'profile' if self.codec == 'prores' else 'preset'} {self.preset}" if self.preset else None,
                 self.pix_fmt]
        return f"{self.codec} ({self.spec.encoder}; {', '.join(k for k in knobs if k)})"


def check_output(path, codec=None, crf=None, preset=None, pix_fmt=None, option="output"):
    """Validate a video output's settings before any work; one clear line if they do not fit.

    Returns an :class:`Encoding`, or None when ``path`` is a folder of PNG frames.
    """
    if not is_video_path(path):
        return None
    ext = os.path.splitext(path)[1].lower()
    name = shown(path) if option == "output" else f"{option} {shown(path)}"
    fmt = CONTAINERS.get(ext)
    if fmt is None:
        raise UserError(f"{name}: cannot write {ext} videos (expected {', '.join(sorted(set(CONTAINERS) - {'.m4v'}))} "
                        "or a folder name for PNG frames)")
    key = CODEC_ALIASES.get((codec or "h264").lower(), (codec or "h264").lower())
    if key not in CODECS:
        raise UserError(f"--codec {codec}: unknown codec (expected {', '.join(CODECS)})")
    spec = CODECS[key]
    av = _av()
    try:
        encoder = av.codec.Codec(spec.encoder, "w")
    except Exception:
        raise UserError(f"--codec {key}: the installed PyAV (FFmpeg) has no {spec.encoder} encoder") from None
    if encoder.canonical_name not in _container_codecs(fmt):
        fits = [e for e, f in CONTAINERS.items() if e != ".m4v" and encoder.canonical_name in _container_codecs(f)]
        raise UserError(f"{name}: a {ext} file cannot hold {key} video (--codec {key} fits {', '.join(fits)}; "
                        f"{ext} takes --codec {', '.join(c for c, s in CODECS.items() if _fits(s, fmt))})")
    if crf is not None:
        if spec.crf is None:
            raise UserError(f"--crf {crf}: {key} has no quality setting "
                            + ("(it is lossless)" if key == "ffv1" else "(its --preset profile sets the quality)"))
        if not spec.crf[1] <= crf <= spec.crf[2]:
            raise UserError(f"--crf {crf}: expected {spec.crf[1]}..{spec.crf[2]} for {key} (lower is better quality)")
    elif spec.crf is not None:
        crf = spec.crf[0]
    if preset is not None:
        if spec.presets is None:
            raise UserError(f"--preset {preset}: {key} has no presets")
        if str(preset) not in spec.presets:
            raise UserError(f"--preset {preset}: expected one of {', '.join(spec.presets)} for {key}")
    else:
        preset = spec.preset
    default_pix = "yuv444p10le" if key == "prores" and preset and preset.startswith("4444") else spec.pix_fmt
    pix_fmt = pix_fmt or default_pix
    formats = [f.name for f in encoder.video_formats or ()]
    if formats and pix_fmt not in formats:
        raise UserError(f"--pix_fmt {pix_fmt}: {key} ({spec.encoder}) takes {', '.join(formats)}")
    return Encoding(path, fmt, key, spec, crf, preset, pix_fmt)


def _fits(spec, fmt):
    try:
        return _av().codec.Codec(spec.encoder, "w").canonical_name in _container_codecs(fmt)
    except Exception:
        return False


def _is_rgb(pix_fmt):
    return pix_fmt.startswith(("gbr", "bgr", "rgb", "0rgb", "0bgr", "argb", "abgr"))


# ---------------------------------------------------------------- writing ----
def _temp_beside(path, suffix):
    """A new empty file beside ``path`` under one of this project's temporary names."""
    from tecogan.utils.fileio import temp_file_beside
    return temp_file_beside(path, suffix)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


class VideoSink:
    """A video file encoded by FFmpeg (PyAV) with the input's audio and subtitles.

    Written to a temporary file beside the output; ``close(True)`` flushes it, reopens it to
    check that it holds every frame, then renames it into place.  On any failure
    (``close(False)``, an encoder error) the temporary file is removed and an existing
    output is left untouched.
    """

    def __init__(self, encoding, source, audio=True):
        self.enc = encoding
        self.path = encoding.path
        self.rate = source.rate
        self.time_base = source.time_base
        if encoding.fmt == "avi":  # AVI holds a constant frame rate: frames go on its grid
            if self.rate.denominator > 1001:  # an average of variable timing: a plainer rate
                self.rate = self.rate.limit_denominator(1001)
            self.time_base = 1 / self.rate
        elif encoding.codec == "mpeg4" and self.time_base.denominator > 65535:
            self.time_base = Fraction(1, 60000)  # MPEG-4 Part 2's limit
        self.passthrough = None
        self.notes = []
        if audio and source.passthrough is not None:
            self.passthrough = _Passthrough(source.passthrough, encoding)
            self.notes = self.passthrough.notes
        elif audio and getattr(source, "retime", False) and _has_audio(source.path):
            _warn_once(f"--fps re-times {shown(source.path)}: its audio is dropped (it would drift out of sync)")
        self.container = self.stream = self.tmp = None
        self.frames = 0
        self.last_pts = self.last_dts = None
        self.moved = 0
        self.shape = None

    def describe(self):
        return ", ".join([self.enc.describe()] + (self.notes or ["no audio"]))

    def _open(self, h, w):
        av = _av()
        from av.video.reformatter import VideoReformatter
        enc, spec = self.enc, self.enc.spec
        if spec.encoder == "libx265" and min(h, w) < 64:  # x265 corrupts its memory below one 64x64 block
            raise UserError(f"--codec h265: the output frames are {w}x{h}; x265 needs 64x64 or more "
                            "(use --codec h264 for frames this small)")
        self.tmp = _temp_beside(self.path, os.path.splitext(self.path)[1])
        options = {"movflags": "+faststart"} if enc.fmt in ("mp4", "mov") else {}
        if spec.encoder == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # errors only
        self.container = av.open(self.tmp, "w", format=enc.fmt, options=options)
        stream = self.container.add_stream(spec.encoder, rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = w, h, enc.pix_fmt
        stream.time_base = self.time_base
        cc = stream.codec_context
        cc.time_base = self.time_base
        cc.thread_count = codec_threads()
        if _is_rgb(enc.pix_fmt):
            cc.colorspace, cc.color_range = 0, 2  # RGB, full range
        else:
            cc.colorspace, cc.color_range = 1, 1  # BT.709 matrix, limited range
        cc.color_primaries, cc.color_trc = 1, 1  # BT.709
        options = dict(spec.options)
        if enc.codec == "mpeg4":  # a constant quantiser
            options["qmin"] = options["qmax"] = str(enc.crf)
        elif enc.crf is not None:
            options["crf"] = str(enc.crf)
        if enc.preset is not None:
            options["cpu-used" if enc.codec == "vp9" else "profile" if enc.codec == "prores" else "preset"] = enc.preset
        cc.options = options
        self.stream = stream
        self.reformatter = VideoReformatter()
        if self.passthrough is not None:
            try:
                self.passthrough.open(self.container)
            except (av.error.FFmpegError, ValueError) as err:
                raise UserError(f"{shown(self.path)}: cannot add the input's audio or subtitles ({err}); "
                                "--no_audio drops them") from None

    def write(self, name, image, time=None):
        h, w = image.shape[:2]
        if self.container is None:
            self._open(h, w)
            self.shape = image.shape
        elif image.shape != self.shape:
            raise UserError(f"{shown(self.path)}: frame {name} is {w}x{h} but earlier frames are "
                            f"{self.shape[1]}x{self.shape[0]}")
        if time is None:
            time = self.frames / self.rate
        pts = round(time / self.time_base)
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1
            self.moved += 1
        self.last_pts = pts
        av = _av()
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if _is_rgb(self.enc.pix_fmt):
            frame = self.reformatter.reformat(frame, format=self.enc.pix_fmt)
        else:
            frame = self.reformatter.reformat(frame, format=self.enc.pix_fmt, dst_colorspace=1, dst_color_range=1)
        frame.pts = pts
        try:
            for packet in self.stream.encode(frame):
                self._mux_video(packet)
        except av.error.FFmpegError as err:
            raise UserError(f"{shown(self.path)}: the {self.enc.spec.encoder} encoder failed at frame {name} "
                            f"({err.strerror or err})") from None
        self.frames += 1
        if self.passthrough is not None:
            self.passthrough.advance(time)

    def _mux_video(self, packet):
        packet.dts = sane_dts(packet.pts, packet.dts, self.last_dts, round(10 / self.time_base))
        self.last_dts = packet.dts
        self.container.mux(packet)

    def close(self, ok=True):
        done = False
        try:
            if ok and self.container is not None:
                self._finish()
                done = True
        finally:
            if not done:
                self._discard()

    def _finish(self):
        av = _av()
        try:
            for packet in self.stream.encode(None):
                self._mux_video(packet)
            if self.passthrough is not None:
                self.passthrough.finish()
            self.container.close()
        except av.error.FFmpegError as err:
            raise UserError(f"{shown(self.path)}: FFmpeg failed to finish the video ({err.strerror or err})") from None
        self.container = None
        if self.moved and self.enc.fmt == "avi":
            warn(f"{shown(self.path)}: AVI holds a constant frame rate: {self.moved} frames were moved to the "
                 f"next {float(self.rate):g} frame/s slot (use .mp4, .mkv or .mov to keep variable frame timing)")
        elif self.moved:
            warn(f"{shown(self.path)}: {self.moved} input frames had no increasing timestamp; each was put one "
                 "tick after the previous frame")
        self._verify()
        os.chmod(self.tmp, 0o666 & ~_umask())  # created 0600
        from tecogan.utils.tempfiles import publish
        publish(self.tmp, self.path)  # never over an output that appeared meanwhile, unless --overwrite
        self.tmp = None

    def _verify(self):
        """Reopen the finished file: it must hold every written frame (and the audio)."""
        av = _av()
        try:
            with av.open(self.tmp) as check:
                streams = check.streams
                found = sum(1 for p in check.demux(streams.video[0]) if p.size) if streams.video else 0
                audio = len(streams.audio)
        except av.error.FFmpegError as err:
            raise UserError(f"{shown(self.path)}: the encoded file cannot be read back ({err.strerror or err}); "
                            "the previous file (if any) is kept") from None
        expected_audio = self.passthrough.audio_streams if self.passthrough is not None else 0
        if found != self.frames or audio != expected_audio:
            raise UserError(f"{shown(self.path)}: the encoded file holds {found} frames and {audio} audio streams, "
                            f"expected {self.frames} and {expected_audio}; the previous file (if any) is kept")

    def _discard(self):
        for closing in (self.passthrough.close if self.passthrough is not None else None,
                        self.container.close if self.container is not None else None):
            if closing is not None:
                try:
                    closing()
                except Exception:
                    pass
        self.container = None
        if self.tmp is not None and os.path.exists(self.tmp):
            os.remove(self.tmp)
        self.tmp = None


_warned = set()


def _warn_once(message):
    """A warning shown once per process (the output and the --compare video share them)."""
    if message not in _warned:
        _warned.add(message)
        warn(message)


def sane_dts(pts, dts, last_dts, bound):
    """The decoding timestamp of an encoded packet, repaired if it cannot be right (after its
    pts, or ``bound`` ticks before it): libx265 leaves it uninitialised on clips of one or two
    frames.  The repair keeps it increasing and not after the pts."""
    if pts is None or dts is None or (dts <= pts and pts - dts <= bound):
        return dts
    return pts if last_dts is None else min(pts, last_dts + 1)


def _has_audio(path):
    try:
        with _av().open(path) as c:
            return bool(c.streams.audio)
    except Exception:
        return False


class _Passthrough:
    """The input's audio and subtitle streams, copied (or audio re-encoded) into the output
    and interleaved with the video: packets up to each video frame's time are muxed after it.

    Within a ``--start``/``--duration`` window a packet is kept when it starts inside the
    window, so the audio starts and ends within one audio frame of the video's window.
    """

    def __init__(self, passthrough, encoding):
        self.path, (self.start, self.end), self.shift = passthrough
        self.fmt = encoding.fmt
        self.plan = []   # (input stream index, "copy" or encoder name)
        self.notes = []
        audio_copy, sub_copy = AUDIO_COPY[self.fmt], SUBTITLE_COPY[self.fmt]
        supported = _container_codecs(self.fmt)
        self.audio_streams = 0
        with _open_input(self.path) as container:
            for s in container.streams:
                if s.type not in ("audio", "subtitle") or s.codec_context is None:
                    continue
                codec = s.codec_context.codec.canonical_name
                allowed = audio_copy if s.type == "audio" else sub_copy
                self.audio_streams += s.type == "audio"
                if codec in supported and (allowed is None or codec in allowed):
                    self.plan.append((s.index, "copy"))
                    self.notes.append(f"{s.type} {codec} copied")
                elif s.type == "audio":
                    encoder = AUDIO_ENCODER[self.fmt]
                    if encoder not in _av().codecs_available:
                        encoder = "aac"
                    self.plan.append((s.index, encoder))
                    self.notes.append(f"audio {codec} re-encoded to {_av().codec.Codec(encoder, 'w').canonical_name}")
                else:
                    _warn_once(f"{shown(self.path)}: subtitle stream {s.index} ({codec}) dropped: a "
                               f"{os.path.splitext(encoding.path)[1]} file cannot hold it (.mkv can)")
        self.input = None

    def open(self, out):
        """Add the output streams (before the first packet is muxed) and start demuxing."""
        if not self.plan:
            return
        av = _av()
        self.out = out
        self.input = _open_input(self.path)
        self.map = {}
        for index, how in self.plan:
            ins = self.input.streams[index]
            if how == "copy":
                ous = out.add_stream_from_template(ins)
                self.map[index] = (ous, None)
            else:
                cc = ins.codec_context
                rate = cc.sample_rate
                encoder = av.codec.Codec(how, "w")
                if encoder.audio_rates and rate not in encoder.audio_rates:
                    rate = 48000
                channels = cc.layout.nb_channels or 2
                if channels > 2 and how != "aac":
                    channels = 2
                # the usual layout for the channel count (an unordered "2 channels" is refused)
                layout = _LAYOUTS.get(channels, "stereo")
                ous = out.add_stream(how, rate=rate)
                ous.layout = layout
                fmt = encoder.audio_formats[0].name if encoder.audio_formats else "fltp"
                ous.format = fmt
                ous.bit_rate = 96000 * min(2, channels)
                resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
                self.map[index] = (ous, _Encoder(resampler, rate))
            lang = ins.metadata.get("language")
            if lang:
                ous.metadata["language"] = lang
        if self.start is not None:
            try:
                self.input.seek(max(0, int(self.start * 1000000)), backward=True)
            except av.error.FFmpegError:
                self.input.seek(0)
        self.packets = self.input.demux(*[self.input.streams[i] for i, _ in self.plan])
        self.pending = None
        self.done = False

    def _next(self):
        if self.pending is None and not self.done:
            for packet in self.packets:
                if packet.dts is None and packet.pts is None:
                    continue  # a flush packet
                self.pending = packet
                break
            else:
                self.done = True
        return self.pending

    def advance(self, time, final=False):
        """Mux the packets that start up to ``time`` (output seconds)."""
        if self.input is None:
            return
        av = _av()
        while True:
            packet = self._next()
            if packet is None:
                return
            tb = packet.time_base
            t_in = Fraction(packet.pts if packet.pts is not None else packet.dts) * tb
            t_out = t_in - self.shift
            if not final and t_out > time:
                return
            self.pending = None
            if self.start is not None and t_in < self.start:
                continue
            if self.end is not None and t_in >= self.end:
                if t_in >= self.end + 2:  # well past the window (packets come in file order)
                    self.done = True
                continue
            stream, encoder = self.map[packet.stream.index]
            try:
                if encoder is None:
                    self._copy(packet, stream, t_out)
                else:
                    for frame in packet.decode():
                        encoder.add(frame, self.shift, self.start, self.end, stream, self.out)
            except av.error.FFmpegError as err:
                raise UserError(f"{shown(self.path)}: {packet.stream.type} stream {packet.stream.index}: FFmpeg "
                                f"failed to {'copy' if encoder is None else 're-encode'} it ({err.strerror or err}); --no_audio drops it") from None

    def _copy(self, packet, stream, t_out):
        if t_out < 0 and self.fmt not in NEGATIVE_TS:
            duration = Fraction(packet.duration or 0) * packet.time_base
            if t_out + duration <= 0:
                return  # an encoder-priming packet the container cannot place before 0
        offset = round(self.shift / packet.time_base)
        if packet.pts is not None:
            packet.pts -= offset
        if packet.dts is not None:
            packet.dts -= offset
        packet.stream = stream
        self.out.mux(packet)

    def finish(self):
        if self.input is None:
            return
        self.advance(None, final=True)
        for stream, encoder in self.map.values():
            if encoder is not None:
                encoder.flush(stream, self.out)
        self.close()

    def close(self):
        if self.input is not None:
            self.input.close()
            self.input = None


class _Encoder:
    """Re-encodes one audio stream: decoded frames resampled for the encoder, numbered by
    samples from the first kept frame's time."""

    def __init__(self, resampler, rate):
        self.resampler, self.rate, self.next = resampler, rate, None

    def add(self, frame, shift, start, end, stream, out):
        t = _seconds(frame.pts, frame.time_base)
        if t is not None:
            if (start is not None and t < start) or (end is not None and t >= end):
                return
            if self.next is None:
                self.next = max(0, round((t - shift) * self.rate))
        elif self.next is None:
            self.next = 0
        self._encode(self.resampler.resample(frame), stream, out)

    def _encode(self, frames, stream, out):
        for f in frames:
            f.pts = self.next
            f.time_base = Fraction(1, self.rate)
            self.next += f.samples
            for packet in stream.encode(f):
                out.mux(packet)

    def flush(self, stream, out):
        if self.next is None:
            return
        self._encode(self.resampler.resample(None), stream, out)
        for packet in stream.encode(None):
            out.mux(packet)


class FolderSink:
    """PNG frames written (through byte buffers) into a temporary sibling of ``folder``, renamed
    into place by ``close(ok=True)``: an existing folder (allowed by ``check_outputs`` with
    --overwrite) is replaced only when every frame is written, and then holds only the new frames."""

    def __init__(self, folder):
        from tecogan.utils.outputs import AtomicFolder
        self.folder = folder
        self.path = folder
        self.staging = AtomicFolder(folder)

    def describe(self):
        return "PNG frames"

    def write(self, name, image, time=None):
        write_image_rgb(os.path.join(self.staging.tmp, name), image)

    def close(self, ok=True):
        self.staging.close(ok)


def open_sink(path, source, encoding=None, audio=True):
    """A :class:`VideoSink` for a video name (``encoding`` from :func:`check_output`), else a
    :class:`FolderSink` of PNG frames."""
    if is_video_path(path):
        return VideoSink(encoding or check_output(path), source, audio)
    return FolderSink(path)


# -------------------------------------------------------------- threading ----
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
    """Writes ``(sink, name, image, time)`` items in a thread behind a bounded queue."""

    def __init__(self, maxsize=4):
        self.q = queue.Queue(maxsize=maxsize)
        self.error = None
        self.discard = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is None and not self.discard:
                try:
                    sink, name, image, time = item
                    sink.write(name, image, time)
                except BaseException as err:
                    self.error = err

    def put(self, sink, name, image, time=None):
        if self.error is not None:
            raise self.error
        self.q.put((sink, name, image, time))

    def close(self, discard=False):
        """Wait for the queued items to be written (``discard``: drop them, after a failure)."""
        self.discard = discard
        self.q.put(None)
        self.thread.join()
        if self.error is not None and not discard:
            raise self.error
