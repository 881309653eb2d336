"""Frame sources: a folder of images or a video file decoded by FFmpeg (PyAV), streamed as
:class:`Frame` items ``(name, image, time)``."""

import os
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from tecogan import defaults
from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import IMAGE_EXTENSIONS, check_regular_file, list_images, read_image_rgb
from tecogan.utils.yuv import TO_RGB
from tecogan.video import hdr
from tecogan.video.common import (
    DEFAULT_FPS,
    MIN_SIZE,
    Frame,
    _open_input,
    _rate,
    _seconds,
    _video_stream,
    _warn_once,
    codec_threads,
    shown,
)
from tecogan.video.timestamps import deinterlaced, presentation_times, seconds_fraction, seek

# colour matrices swscale knows (AVColorSpace values); others are guessed from the size
_SWS_COLORSPACES = {1, 4, 5, 6, 7, 9, 10}
SWS_RGB48_WHITE = 255 * 256  # YUV white as swscale's 16-bit RGB (not 65535; its inverse matches)
HDR_TRANSFERS = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}
# the "unspecified" / "reserved" values of each colour tag (AVColorSpace, ...Primaries, ...TRC, ...Range)
_UNSPECIFIED = {"colorspace": (2, 3, None), "primaries": (0, 2, 3, None), "trc": (0, 2, 3, None), "range": (0, None)}


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
            raise UserError(
                f"--start {start:g}: {shown(folder)} has {len(files)} frames, "
                f"{len(files) / self.fps:.2f} s at {self.fps:g} frame/s"
            )
        self.files = files[first:last]
        self.count = len(self.files)
        self.duration = self.count / self.fps
        self.passthrough = None  # no audio in a folder
        self.bits, self.chroma, self.colour, self.deep = 8, None, {}, False
        self.sar = self.size = None  # square pixels; (w, h) of the frames once read

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

    def __init__(self, path, fps=None, start=None, duration=None, deinterlace=False):
        self.deinterlace = deinterlace
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
            total = _seconds(stream.duration, tb)  # the video's span from its first timestamp (origin)
            if total is None and container.duration:  # the file's: made a span from origin too
                end = Fraction(container.duration, 1000000)  # Matroska's counts from 0 (its end time);
                if "matroska" not in (container.format.name or "") and container.start_time is not None:
                    end += Fraction(container.start_time, 1000000)  # FFmpeg's estimates, from the start
                total = end - origin if end > origin else None
            self.trimmed = bool(start) or duration is not None
            self.window = (
                origin + seconds_fraction(start) if start else None,
                origin + seconds_fraction(start or 0) + seconds_fraction(duration) if duration is not None else None,
            )
            self.shift = Fraction(0)
            cc = stream.codec_context
            self.stored_sar = _sar(stream.sample_aspect_ratio)  # the container's, else the codec's
            self.sar = self.size = None  # of the upright frames: known once the first frame is decoded
            # 'PQ' / 'HLG' and whether BT.2020: tone-mapped to SDR as it is read
            self.hdr = (
                (hdr.TRANSFERS[cc.color_trc], cc.color_primaries != hdr.BT709_PRIMARIES)
                if cc.color_trc in hdr.TRANSFERS
                else None
            )
            if self.hdr:
                _warn_once(
                    f"{shown(path)}: HDR video ({self.hdr[0]}): tone-mapped to SDR BT.709 as it is read (the "
                    "models know SDR pixels), so the output is SDR (docs/upscale.md, 'HDR video')"
                )
            self.bits = _bits(cc.format)
            self.chroma = _chroma(cc.format)
            self.colour = (
                dict(hdr.SDR_TAGS)
                if self.hdr
                else {
                    name: value
                    for name, value in (
                        ("colorspace", cc.colorspace),
                        ("primaries", cc.color_primaries),
                        ("trc", cc.color_trc),
                        ("range", cc.color_range),
                    )
                    if value not in _UNSPECIFIED[name]
                }
            )
            self.count, first, read, last = self._count(container, stream)
            if self.count > defaults.MAX_CLIP_FRAMES:
                raise UserError(
                    f"{shown(path)}: {self.count} frames, more than the {defaults.MAX_CLIP_FRAMES} of one video "
                    f"(use --start/--duration to upscale a part)"
                )
            listed = stream.frames  # what the container's index says (0: not given)
            if not self.trimmed and listed and read < listed:
                raise UserError(
                    f"{shown(path)} frame {read + 1}: cannot be read: the container lists {listed} "
                    f"frames but only {read} are in the file (it is truncated or damaged)"
                )
            end_gap = total + origin - last if total is not None and last is not None else None
            slack = max(Fraction(2) / Fraction(rate), (total or 0) / 10)  # a short audio tail is no sign of damage
            if self.trimmed and listed and last is not None and end_gap is not None and end_gap > slack:
                stop = self.window[1]
                if stop is None or last + Fraction(2) / Fraction(rate) < stop:
                    raise UserError(
                        f"{shown(path)}: its index says the video lasts {float(total):.2f} s but its frames end "
                        f"at {float(last - origin):.2f} s (the file is truncated or damaged)"
                    )
            header_says = "matroska" in (container.format.name or "")  # a duration in the header, not a guess
            if header_says and not listed and not self.trimmed and end_gap is not None and end_gap > slack:
                warn(
                    f"{shown(path)}: its header says {float(total):.2f} s but the video's frames end at "
                    f"{float(last - origin):.2f} s: the file may be truncated (or its audio runs longer)"
                )
            if self.trimmed:
                if not self.count:
                    length = f" (its video lasts {float(total):.2f} s)" if total else ""
                    window = " ".join(f"--{k} {v:g}" for k, v in (("start", start), ("duration", duration)) if v)
                    raise UserError(f"{window}: {shown(path)} has no frames there{length}")
                self.shift = first
            elif first > 0:  # a late start (a .ts cut from a broadcast at 600 s): the output starts at 0, every
                # stream moved by the same amount (never before the earliest stream: nothing becomes negative)
                earliest = Fraction(container.start_time, 1000000) if container.start_time is not None else first
                self.shift = max(Fraction(0), min(first, earliest))
        if self.trimmed:
            end = total + origin if total is not None else None
            stop = self.window[1] if self.window[1] is not None else end
            if stop is not None and end is not None:
                stop = min(stop, end)
            self.duration = float(stop - self.shift) if stop is not None else None
        else:
            self.duration = float(total) if total is not None else (self.count / float(rate) if self.count else None)
        self.retime = fps is not None
        self.deep = False  # True: frames() yields uint16 RGB (the output keeps more than 8 bits)
        self.rate = _rate(fps) if fps else Fraction(rate)
        self.fps = float(self.rate)
        self.time_base = 1 / self.rate if fps else tb
        if self.retime and self.count:
            self.duration = self.count / self.fps  # re-timed: one period a frame
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
            seek(container, stream, start)
        n, first, read, last = 0, None, 0, None
        margin = 2  # seconds past the end: packets come in decoding order
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            read += 1
            if packet.is_discard:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            t = Fraction(ts) * tb if ts is not None else None
            if t is not None:
                last = t if last is None else max(last, t)
            if end is not None and t is not None and t >= end:
                dts = _seconds(packet.dts, tb)
                if dts is not None and dts >= end + margin:
                    last = None  # stopped before the end: not known
                    break
                continue
            if start is not None and (t is None or t < start):
                continue
            n += 1
            first = t if first is None or (t is not None and t < first) else first
        if last is not None:
            last += Fraction(1) / Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)  # its end
        return n, first if first is not None else Fraction(0), read, last

    def frames(self):
        reformatter = VideoReformatter()
        start, end = self.window
        shape, decoded, last_time, hdr_checked = None, 0, None, False
        with _open_input(self.path) as container:
            stream = container.streams[self.index]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = codec_threads()
            tb = stream.time_base or self.stream_time_base
            if start is not None:
                seek(container, stream, start)
            packets = container.demux(stream)

            def decoded_frames():
                while True:
                    try:
                        packet = next(packets, None)
                        frames = packet.decode() if packet is not None else []
                    except av.error.FFmpegError as err:
                        raise UserError(
                            f"{shown(self.path)} frame {decoded + 1}: FFmpeg cannot decode it "
                            f"({err.strerror or err}); the file is damaged"
                        ) from None
                    if packet is None:
                        return
                    yield from frames

            source = presentation_times(decoded_frames())
            source = deinterlaced(source, stream, self.path) if self.deinterlace else source
            interlace_warned = False
            for frame in source:
                if frame.interlaced_frame and not self.deinterlace and not interlace_warned:
                    warn(
                        f"{shown(self.path)}: interlaced video (frame {decoded + 1} holds two fields): upscaled as "
                        "progressive frames, combing included; --deinterlace deinterlaces it first (FFmpeg's bwdif)"
                    )
                    interlace_warned = True
                t = _seconds(frame.pts, tb)
                if t is None:  # no timestamp: one frame period after the last one
                    t = (last_time + 1 / self.rate) if last_time is not None else (start or Fraction(0))
                last_time = t
                if start is not None and t < start:
                    continue
                if end is not None and t >= end:  # frames come in presentation order
                    break
                if not hdr_checked:
                    if not self.hdr:
                        check_not_hdr(frame.color_trc, self.path)  # tagged HDR frames in an untagged stream
                    self._first_frame(frame, stream)
                    hdr_checked = True
                image = _to_rgb(reformatter, frame, self.deep, self.hdr)
                decoded += 1
                shape = _check_frame(image, shape, f"{shown(self.path)} frame {decoded}")
                time = Fraction(decoded - 1) / self.rate if self.retime else t - self.shift
                yield Frame(f"{decoded:04d}.png", image, time)
        if decoded == 0:
            raise UserError(f"{shown(self.path)}: the video has no decodable frames")
        if self.count and decoded < self.count:
            raise UserError(
                f"{shown(self.path)} frame {decoded + 1}: cannot be decoded: the container "
                f"holds {self.count} frames, {decoded} were decoded (the file is truncated or damaged)"
            )

    def _first_frame(self, frame, stream):
        """The sample aspect ratio of the upright frames (None: square) and their size: the stream's,
        else the decoder's after this first frame, inverted when a rotation turns the frames."""
        sar = self.stored_sar or _sar(stream.codec_context.sample_aspect_ratio)
        turned = round((frame.rotation or 0) / 90) % 2
        self.sar = (1 / sar if turned else sar) if sar else None
        self.size = (frame.height, frame.width) if turned else (frame.width, frame.height)

    def __iter__(self):
        for frame in self.frames():
            yield frame.name, frame.image


def _sar(value):
    """A sample aspect ratio as a Fraction, None for square or unknown pixels (1:1, 0, None)."""
    try:
        sar = Fraction(value) if value else None
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return sar if sar and sar > 0 and sar != 1 else None


def check_not_hdr(trc, path):
    """HDR frames (PQ or HLG transfer) in a stream tagged SDR are refused: the reader tone-maps by
    the stream's tags (a stream tagged HDR is tone-mapped), and the models know SDR pixels only."""
    if trc in HDR_TRANSFERS:
        raise UserError(
            f"{shown(path)}: HDR video ({HDR_TRANSFERS[trc]} transfer): the models are trained on SDR "
            "frames, and this stream's own tags say SDR, so it is not tone-mapped; write it with its HDR "
            "transfer tagged on the stream (docs/upscale.md, 'HDR video')"
        )


def _bits(fmt):
    """Bits per sample of a pixel format (8 when unknown)."""
    try:
        return max(c.bits for c in fmt.components) if fmt is not None and fmt.components else 8
    except (AttributeError, ValueError):
        return 8


def _chroma(fmt):
    """'420', '422' or '444' (the chroma subsampling of a YUV format), or None."""
    name = getattr(fmt, "name", "") or ""
    for chroma in ("420", "422", "444"):
        if name.startswith(("yuv" + chroma, "yuva" + chroma)):
            return chroma
    return {"p010le": "420", "p016le": "420", "p210le": "422", "y210le": "422"}.get(name)


def _to_rgb(reformatter, frame, deep=False, hdr_source=None):
    """A decoded frame as upright (h, w, 3) uint8 RGB (``deep``: uint16): its colour matrix and
    range (tags; an untagged frame is BT.709 from 1280x720 up, else BT.601), any bit depth and
    chroma subsampling, its display rotation applied."""
    colorspace = frame.colorspace
    if colorspace not in _SWS_COLORSPACES:
        colorspace = 1 if frame.width >= 1280 or frame.height >= 720 else 5
    rgb = reformatter.reformat(
        frame, format="rgb48le" if deep or hdr_source else "rgb24", src_colorspace=colorspace, interpolation=TO_RGB
    ).to_ndarray()
    if hdr_source:  # (transfer, BT.2020 primaries); swscale's 16-bit RGB from YUV ends at 255 x 256
        rgb = hdr.to_integers(hdr.hdr_to_sdr(np.minimum(rgb / SWS_RGB48_WHITE, 1.0), *hdr_source), deep)
    turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns
    if turns:
        rgb = np.rot90(rgb, turns)
    return np.ascontiguousarray(rgb)


def _check_frame(frame, shape, where):
    if frame.shape[0] < MIN_SIZE or frame.shape[1] < MIN_SIZE:
        raise UserError(f"{where}: frame is {frame.shape[1]}x{frame.shape[0]}, smaller than the {MIN_SIZE}x{MIN_SIZE} minimum")
    if shape is not None and frame.shape != shape:
        raise UserError(
            f"{where}: frame is {frame.shape[1]}x{frame.shape[0]} but earlier frames are "
            f"{shape[1]}x{shape[0]} (the frame size must not change)"
        )
    return frame.shape


def open_source(path, fps=None, start=None, duration=None, deinterlace=False):
    if fps is not None and not fps > 0:
        raise UserError(f"--fps {fps:g}: expected a frame rate > 0")
    if start is not None and not start >= 0:
        raise UserError(f"--start {start:g}: expected seconds >= 0")
    if duration is not None and not duration > 0:
        raise UserError(f"--duration {duration:g}: expected seconds > 0")
    if os.path.isdir(path):
        if deinterlace:
            warn("--deinterlace applies to video files; the frames of a folder are taken as they are")
        return FolderSource(path, fps, start, duration)
    if not os.path.exists(path):
        raise UserError(f"{shown(path)}: input not found (expected a video file or a folder of frames)")
    check_regular_file(path, "video file")  # /dev/zero, /dev/urandom, a FIFO: not a video
    return VideoSource(path, fps, start, duration, deinterlace)
