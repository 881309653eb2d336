"""Video encoders and containers: the codec table, and the check of an output's settings
before any work (:func:`check_output`)."""

import dataclasses
import io
import os
from dataclasses import dataclass, field

import av

from tecogan import defaults
from tecogan.utils.errors import UserError, warn
from tecogan.video.common import CONTAINERS, is_video_path, shown

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class _Codec:
    encoder: str  # FFmpeg encoder
    crf: tuple = None  # (default, lowest, highest) or None: no quality knob
    presets: tuple = None  # accepted --preset values, or None
    preset: str = None  # default --preset
    pix_fmt: str = "yuv420p"  # default --pix_fmt
    options: dict = field(default_factory=dict)


CODECS = {
    # cpu-independent: x264's macroblock-tree rate control otherwise gave a different stream for the
    # same frames now and then (AVX-512 Xeon), so chunks encoded apart could differ from one run's
    "h264": _Codec("libx264", (18, 0, 51), X264_PRESETS, "medium", options={"x264-params": "cpu-independent=1"}),
    "h265": _Codec("libx265", (20, 0, 51), X264_PRESETS, "medium", options={"x265-params": "log-level=error"}),
    "av1": _Codec("libsvtav1", (28, 1, 63), tuple(str(i) for i in range(14)), "8"),
    "vp9": _Codec(
        "libvpx-vp9", (24, 0, 63), tuple(str(i) for i in range(9)), "4", options={"b": "0", "row-mt": "1", "deadline": "good"}
    ),
    "ffv1": _Codec("ffv1", pix_fmt="bgr0", options={"level": "3"}),
    "prores": _Codec("prores_ks", None, ("proxy", "lt", "standard", "hq", "4444", "4444xq"), "hq", "yuv422p10le"),
    "mpeg4": _Codec("mpeg4", (3, 1, 31)),  # --crf is its quantiser
}
CODEC_ALIASES = {
    "avc": "h264",
    "x264": "h264",
    "libx264": "h264",
    "hevc": "h265",
    "x265": "h265",
    "libx265": "h265",
    "svtav1": "av1",
    "libsvtav1": "av1",
    "libvpx-vp9": "vp9",
    "prores_ks": "prores",
    "mp4v": "mpeg4",
}
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

# codecs a muxer lists but refuses when the file is written: FFmpeg's mov muxer takes VP9 and AV1
# in .mp4 only ("only supported in MP4", after every frame was upscaled)
_REFUSED = {"mov": {"vp9", "av1"}}
_supported = {}


def _container_codecs(fmt):
    """Codec names FFmpeg's ``fmt`` muxer can hold."""
    if fmt not in _supported:
        with av.open(io.BytesIO(), "w", format=fmt) as out:
            _supported[fmt] = set(out.supported_codecs) - _REFUSED.get(fmt, set())
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
        knobs = [
            f"{'q' if self.codec == 'mpeg4' else 'crf'} {self.crf}" if self.crf is not None else None,
            f"{'profile' if self.codec == 'prores' else 'preset'} {self.preset}" if self.preset else None,
            self.pix_fmt,
        ]
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
        raise UserError(
            f"{name}: cannot write {ext} videos (expected {', '.join(sorted(set(CONTAINERS) - {'.m4v'}))} "
            "or a folder name for PNG frames)"
        )
    wanted = (codec or default_codec(ext)).lower()
    key = CODEC_ALIASES.get(wanted, wanted)
    if key not in CODECS:
        raise UserError(f"--codec {codec}: unknown codec (expected {', '.join(CODECS)})")
    spec = CODECS[key]
    try:
        encoder = av.codec.Codec(spec.encoder, "w")
    except Exception:
        raise UserError(f"--codec {key}: the installed PyAV (FFmpeg) has no {spec.encoder} encoder") from None
    if encoder.canonical_name not in _container_codecs(fmt):
        fits = [e for e, f in CONTAINERS.items() if e != ".m4v" and encoder.canonical_name in _container_codecs(f)]
        raise UserError(
            f"{name}: a {ext} file cannot hold {key} video (--codec {key} fits {', '.join(fits)}; "
            f"{ext} takes --codec {', '.join(c for c, s in CODECS.items() if _fits(s, fmt))})"
        )
    if crf is not None:
        if spec.crf is None:
            raise UserError(
                f"--crf {crf}: {key} has no quality setting "
                + ("(it is lossless)" if key == "ffv1" else "(its --preset profile sets the quality)")
            )
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


def default_codec(ext):
    """The codec of a video output named ``*ext`` when none is given (``tecogan.defaults``)."""
    return defaults.VIDEO_CODEC_BY_EXTENSION.get(ext.lower(), defaults.VIDEO_CODEC)


def _fits(spec, fmt):
    try:
        return av.codec.Codec(spec.encoder, "w").canonical_name in _container_codecs(fmt)
    except Exception:
        return False


def _is_rgb(pix_fmt):
    return pix_fmt.startswith(("gbr", "bgr", "rgb", "0rgb", "0bgr", "argb", "abgr"))


# codecs whose output follows a 10-bit input to 10 bits (h264: High 10 plays almost nowhere;
# prores is 10-bit already)
DEEP_CODECS = ("h265", "av1", "vp9", "ffv1")
# colour matrices swscale converts with (AVColorSpace values)
SWS_MATRICES = {1, 4, 5, 6, 7, 9, 10}


def bits_of(pix_fmt):
    """Bits per sample of a pixel format name (8 when unknown)."""
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, TypeError):
        return 8


def follow_depth(enc, bits, chroma=None):
    """``enc`` with a pixel format of ``bits`` (10 or 12) bits for a deep input, when its codec
    follows depth and no --pix_fmt was given (the caller checks that); the input's chroma
    subsampling kept where the encoder takes it.  Unchanged, with a warning saying how to keep
    the depth, when the encoder has no such format or its codec does not follow (h264, mpeg4)."""
    if bits <= 8:
        return enc
    depth = 10 if bits <= 10 else 12
    if enc.codec not in DEEP_CODECS:
        if bits_of(enc.pix_fmt) < depth:
            warn(
                f"{shown(enc.path)}: the input has {bits}-bit samples; {enc.codec} writes {enc.pix_fmt} "
                f"({bits_of(enc.pix_fmt)} bits): {_keeps_depth(enc, depth)}"
            )
        return enc
    if enc.codec == "ffv1":  # lossless RGB, as for 8 bits
        wanted = [f"gbrp{depth}le", "gbrp16le"]
    else:
        wanted = [f"yuv{c}p{d}le" for d in (depth, 10) for c in (chroma or "420", "420")]
    formats = [f.name for f in av.codec.Codec(enc.spec.encoder, "w").video_formats or ()]
    for pix_fmt in wanted:
        if pix_fmt in formats:
            return dataclasses.replace(enc, pix_fmt=pix_fmt)
    warn(
        f"{shown(enc.path)}: the input has {bits}-bit samples but this FFmpeg's {enc.spec.encoder} has no "
        f"{depth}-bit format; writing {enc.pix_fmt} (--codec h265, av1, ffv1 or prores keep {depth} bits)"
    )
    return enc


def _formats(encoder):
    return [f.name for f in av.codec.Codec(encoder, "w").video_formats or ()]


def _keeps_depth(enc, depth):
    """How to keep ``depth`` bits instead of ``enc``'s: the codecs that follow it, and ``enc``'s own
    deep pixel format if it has one (H.264's High 10 plays almost nowhere: not followed by default)."""
    codecs = [
        k for k in DEEP_CODECS + ("prores",) if k != enc.codec and any(bits_of(f) >= depth for f in _formats(CODECS[k].encoder))
    ]
    own = [f for f in _formats(enc.spec.encoder) if bits_of(f) >= depth]
    text = (
        f"--codec {', '.join(codecs[:-1])} or {codecs[-1]} keep {depth} bits"
        if len(codecs) > 1
        else f"--codec {codecs[0]} keeps {depth} bits"
        if codecs
        else f"no encoder here keeps {depth} bits"
    )
    return text + (f", or --pix_fmt {own[0]} (fewer players play {depth}-bit {enc.codec})" if own else "")


def colour_tags(pix_fmt, colour):
    """(matrix, range, primaries, transfer) of an output: the input's tags where it has them
    (``colour``: a dict of colorspace, range, primaries, trc), BT.709 otherwise; RGB formats
    carry the RGB matrix and full range."""
    colour = colour or {}
    primaries, trc = colour.get("primaries", 1), colour.get("trc", 1)
    if _is_rgb(pix_fmt):
        return 0, 2, primaries, trc
    matrix = colour.get("colorspace", 1)
    return (matrix if matrix in SWS_MATRICES else 1), colour.get("range", 1), primaries, trc
