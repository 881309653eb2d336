"""Frame sinks: a video file encoded by FFmpeg (PyAV) with the input's audio and subtitles, or
a folder of PNG frames; both written under temporary names and renamed into place on success."""

import os
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from tecogan import defaults
from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import temp_file_beside, write_image_rgb
from tecogan.utils.outputs import AtomicFolder
from tecogan.utils.tempfiles import publish
from tecogan.utils.yuv import FROM_RGB
from tecogan.video.codecs import _is_rgb, check_output, colour_tags
from tecogan.video.common import _warn_once, codec_threads, is_video_path, not_writable, shown
from tecogan.video.streams import Passthrough, has_audio

# codecs whose bitstream has no sample aspect ratio: in Matroska only the container could hold it,
# and PyAV cannot set the stream's (FFmpeg's Matroska muxer reads that one alone)
UNTAGGED_IN_MATROSKA = ("vp9", "av1", "ffv1")


def _temp_beside(path, suffix):
    """A new empty file beside ``path`` under one of this project's temporary names; a folder that
    takes no files (/proc, /sys, a read-only mount) is one line naming ``path``."""
    try:
        return temp_file_beside(path, suffix)
    except OSError as err:
        raise not_writable(path, err) from None


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

    def __init__(self, encoding, source, audio=True, shown_as=None, panes=1):
        self.enc = encoding
        self.source, self.panes = source, panes  # panes: 2 for --compare's side-by-side frames
        self.path = encoding.path
        self.shown_as = shown_as or encoding.path  # the name warnings give (a job's output, not its segment file)
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
            self.passthrough = Passthrough(source.passthrough, encoding)
            self.notes = self.passthrough.notes
        elif audio and getattr(source, "retime", False) and has_audio(source.path):
            _warn_once(f"--fps re-times {shown(source.path)}: its audio is dropped (it would drift out of sync)")
        self.container = self.stream = self.tmp = None
        self.frames = 0
        self.last_pts = self.last_dts = None
        self.moved = 0
        self.shape = None
        self.colour = getattr(source, "colour", None)

    def describe(self):
        return ", ".join([self.enc.describe()] + (self.notes or ["no audio"]))

    def _options(self):
        enc = self.enc
        options = dict(enc.spec.options)
        if enc.codec == "mpeg4":  # a constant quantiser
            options["qmin"] = options["qmax"] = str(enc.crf)
        elif enc.crf is not None:
            options["crf"] = str(enc.crf)
        if enc.preset is not None:
            options["cpu-used" if enc.codec == "vp9" else "profile" if enc.codec == "prores" else "preset"] = enc.preset
        return options

    def probe(self, h, w):
        """Open the encoder once for ``w`` x ``h`` frames, writing nothing: a frame size it refuses
        (an 8x20000 input upscaled x4 is 32x80000, more than x264 takes) is one line before any frame
        is upscaled, not an encoder error mid-run."""
        spec = self.enc.spec
        if spec.encoder == "libx265" and min(h, w) < 64:  # x265 corrupts its memory below one 64x64 block
            raise UserError(
                f"--codec h265: the output frames are {w}x{h}; x265 needs 64x64 or more (use --codec h264 for frames this small)"
            )
        what = f"{shown(self.path)}: the {spec.encoder} encoder cannot take {w}x{h} frames"
        if max(h, w) > defaults.MAX_OUTPUT_SIDE:
            raise UserError(
                f"{what} (more than {defaults.MAX_OUTPUT_SIDE} pixels per side); write a folder of PNG "
                f"frames instead, or crop the input"
            )
        if spec.encoder == "libsvtav1":  # its banner (about 20 Svt[info] lines an encoder): errors only; read
            os.environ.setdefault("SVT_LOG", "1")  # once, at the process's first SVT encoder: this probe
        cc = av.CodecContext.create(spec.encoder, "w")
        cc.width, cc.height, cc.pix_fmt = w, h, self.enc.pix_fmt
        cc.time_base = self.time_base
        cc.framerate = self.rate
        cc.options = self._options()
        try:
            cc.open()
        except (av.error.FFmpegError, ValueError) as err:
            raise UserError(
                f"{what} ({getattr(err, 'strerror', None) or err}); write a folder of PNG frames instead, or crop the input"
            ) from None
        finally:
            del cc

    def _open(self, h, w):
        enc, spec = self.enc, self.enc.spec
        self.probe(h, w)
        self.tmp = _temp_beside(self.path, os.path.splitext(self.path)[1])
        options = {"movflags": "+faststart"} if enc.fmt in ("mp4", "mov") else {}
        self.container = av.open(self.tmp, "w", format=enc.fmt, options=options)
        stream = self.container.add_stream(spec.encoder, rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = w, h, enc.pix_fmt
        stream.time_base = self.time_base
        cc = stream.codec_context
        cc.time_base = self.time_base
        cc.thread_count = codec_threads()
        # the input's colour tags where it has them, else BT.709 (RGB formats: RGB matrix, full range)
        self.matrix, self.range, self.primaries, self.trc = colour_tags(enc.pix_fmt, self.colour)
        cc.color_primaries, cc.color_trc = self.primaries, self.trc
        cc.colorspace, cc.color_range = self.matrix, self.range
        self.sar = output_sar(self.source, w // self.panes, h)
        if self.sar is not None:  # MP4/MOV/AVI store it in the container, Matroska in the bitstream (h264 ...)
            cc.sample_aspect_ratio = self.sar
            if enc.fmt in ("matroska", "webm") and enc.codec in UNTAGGED_IN_MATROSKA:
                _warn_once(
                    f"{shown(self.shown_as)}: the input's pixels are not square (pixel aspect {self.sar.numerator}:"
                    f"{self.sar.denominator}), which {enc.codec} in {os.path.splitext(self.path)[1]} cannot record: players show "
                    f"square pixels (use .mp4 or .mov, or --codec h264 or h265 in .mkv, to keep the shape)"
                )
        cc.options = self._options()
        self.stream = stream
        self.reformatter = VideoReformatter()
        if self.passthrough is not None:
            try:
                self.passthrough.open(self.container)
            except (av.error.FFmpegError, ValueError) as err:
                raise UserError(
                    f"{shown(self.path)}: cannot add the input's audio or subtitles ({err}); --no_audio drops them"
                ) from None

    def write(self, name, image, time=None):
        h, w = image.shape[:2]
        if self.container is None:
            self._open(h, w)
            self.shape = image.shape
        elif image.shape != self.shape:
            raise UserError(f"{shown(self.path)}: frame {name} is {w}x{h} but earlier frames are {self.shape[1]}x{self.shape[0]}")
        if time is None:
            time = self.frames / self.rate
        pts = round(time / self.time_base)
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1
            self.moved += 1
        self.last_pts = pts
        frame = av.VideoFrame.from_ndarray(image, format="rgb48le" if image.dtype == np.uint16 else "rgb24")
        if _is_rgb(self.enc.pix_fmt):
            frame = self.reformatter.reformat(frame, format=self.enc.pix_fmt)
        else:
            frame = self.reformatter.reformat(
                frame, format=self.enc.pix_fmt, dst_colorspace=self.matrix, dst_color_range=self.range, interpolation=FROM_RGB
            )
        # the frames carry the tags too: some encoders (prores_ks) write the frame's, not the stream's
        frame.color_primaries, frame.color_trc = self.primaries, self.trc
        frame.pts = pts
        try:
            for packet in self.stream.encode(frame):
                self._mux_video(packet)
        except av.error.FFmpegError as err:
            raise UserError(
                f"{shown(self.path)}: the {self.enc.spec.encoder} encoder failed at frame {name} ({err.strerror or err})"
            ) from None
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
            warn(
                f"{shown(self.shown_as)}: AVI holds a constant frame rate: {self.moved} frames were moved to the "
                f"next {float(self.rate):g} frame/s slot (use .mp4, .mkv or .mov to keep variable frame timing)"
            )
        elif self.moved:
            warn(
                f"{shown(self.shown_as)}: {self.moved} input frames had no increasing timestamp; each was put one "
                "tick after the previous frame"
            )
        self._verify()
        os.chmod(self.tmp, 0o666 & ~_umask())  # created 0600
        publish(self.tmp, self.path)  # never over an output that appeared meanwhile, unless --overwrite
        self.tmp = None

    def _verify(self):
        """Reopen the finished file: it must hold every written frame (and the audio)."""
        try:
            with av.open(self.tmp) as check:
                streams = check.streams
                found = sum(1 for p in check.demux(streams.video[0]) if p.size) if streams.video else 0
                audio = len(streams.audio)
        except av.error.FFmpegError as err:
            raise UserError(
                f"{shown(self.path)}: the encoded file cannot be read back ({err.strerror or err}); "
                "the previous file (if any) is kept"
            ) from None
        expected_audio = self.passthrough.audio_streams if self.passthrough is not None else 0
        if found != self.frames or audio != expected_audio:
            raise UserError(
                f"{shown(self.path)}: the encoded file holds {found} frames and {audio} audio streams, "
                f"expected {self.frames} and {expected_audio}; the previous file (if any) is kept"
            )

    def _discard(self):
        for closing in (
            self.passthrough.close if self.passthrough is not None else None,
            self.container.close if self.container is not None else None,
        ):
            if closing is not None:
                try:
                    closing()
                except Exception:
                    pass
        self.container = None
        if self.tmp is not None and os.path.exists(self.tmp):
            os.remove(self.tmp)
        self.tmp = None


def output_sar(source, w, h):
    """The sample aspect ratio that keeps ``source``'s displayed shape on frames of ``w`` x ``h``
    (the input's when both sides scale alike), None for square pixels."""
    sar, size = getattr(source, "sar", None), getattr(source, "size", None)
    if not sar or not size:
        return None
    out = sar * Fraction(h * size[0], w * size[1])
    limit = 65535  # both terms fit the bitstreams' 16 bits
    out = out.limit_denominator(limit) if out <= 1 else 1 / (1 / out).limit_denominator(limit)
    return out if out != 1 else None


def sane_dts(pts, dts, last_dts, bound):
    """The decoding timestamp of an encoded packet, repaired if it cannot be right (after its
    pts, or ``bound`` ticks before it): libx265 leaves it uninitialised on clips of one or two
    frames.  The repair keeps it increasing and not after the pts."""
    if pts is None or dts is None or (dts <= pts and pts - dts <= bound):
        return dts
    return pts if last_dts is None else min(pts, last_dts + 1)


class FolderSink:
    """PNG frames written (through byte buffers) into a temporary sibling of ``folder``, renamed
    into place by ``close(ok=True)``: an existing folder (allowed by ``check_outputs`` with
    --overwrite) is replaced only when every frame is written, and then holds only the new frames."""

    def __init__(self, folder):
        self.folder = folder
        self.path = folder
        try:
            self.staging = AtomicFolder(folder)
        except OSError as err:
            raise not_writable(folder, err) from None

    def describe(self):
        return "PNG frames"

    def write(self, name, image, time=None):
        write_image_rgb(os.path.join(self.staging.tmp, name), image)

    def close(self, ok=True):
        self.staging.close(ok)


def open_sink(path, source, encoding=None, audio=True, panes=1):
    """A :class:`VideoSink` for a video name (``encoding`` from :func:`check_output`; ``panes``: 2 for
    side-by-side frames), else a :class:`FolderSink` of PNG frames."""
    if is_video_path(path):
        return VideoSink(encoding or check_output(path), source, audio, panes=panes)
    return FolderSink(path)
