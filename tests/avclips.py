"""Tiny synthetic clips made with PyAV, and probes of what upscale.py wrote (tests only)."""

import math
from fractions import Fraction

import av
import numpy as np


def pattern(n=6, h=24, w=32, seed=0):
    """``n`` RGB frames: a moving sine pattern with noise and a bright top-left marker
    (rotation tests look for it)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = 120 + 80 * np.sin((xx + 2 * i) / 4.0)[..., None] * np.cos(yy / 5.0)[..., None]
        img = (base + rng.normal(0, 4, (h, w, 3))).clip(0, 255).astype(np.uint8)
        img[:4, :6] = (250, 20, 20)
        out.append(img)
    return out


def make_clip(
    path,
    frames,
    pts=None,
    time_base=Fraction(1, 1000),
    fmt=None,
    codec="libx264",
    pix_fmt="yuv420p",
    rate=24,
    options=None,
    rotation=None,
    colorspace=None,
    color_range=None,
    audio=None,
    subtitles=None,
    container_options=None,
    primaries=None,
    trc=None,
    sar=None,
):
    """Write ``frames`` (RGB arrays) as a video.

    pts: per-frame timestamps in ``time_base`` (default: ``rate`` frames/s); rotation: display
    rotation in degrees counter-clockwise; colorspace/color_range: AVColorSpace / AVColorRange
    numbers used for the RGB->YUV conversion and the tags; primaries/trc: colour tags; frames
    of uint16 are written from 16-bit RGB (for 10-bit clips); audio: dict(codec, rate, seconds,
    layout, freq) of a sine tone; subtitles: [(start_ms, end_ms, bytes)] as a SubRip stream;
    sar: the sample aspect ratio (a Fraction; anamorphic video).
    """
    h, w = frames[0].shape[:2]
    if pts is None:
        step = round(1 / (rate * time_base))
        pts = [i * step for i in range(len(frames))]
    out = av.open(str(path), "w", format=fmt, options=container_options or {})
    v = out.add_stream(codec, rate=rate)
    v.width, v.height, v.pix_fmt = w, h, pix_fmt
    v.time_base = time_base
    v.codec_context.time_base = time_base
    if options:
        v.codec_context.options = options
    if colorspace is not None:
        v.codec_context.colorspace = colorspace
    if color_range is not None:
        v.codec_context.color_range = color_range
    if primaries is not None:
        v.codec_context.color_primaries = primaries
    if trc is not None:
        v.codec_context.color_trc = trc
    if rotation is not None:
        v.set_display_rotation(rotation)
    if sar is not None:
        v.codec_context.sample_aspect_ratio = sar
    a = s = None
    if audio:
        a = out.add_stream(audio.get("codec", "aac"), rate=audio.get("rate", 48000))
        a.layout = audio.get("layout", "stereo")
    if subtitles:
        s = out.add_mux_stream("subrip")
        s.time_base = Fraction(1, 1000)
    for img, p in zip(frames, pts, strict=False):
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb48le" if img.dtype == np.uint16 else "rgb24")
        kw = {}
        if colorspace is not None:
            kw["dst_colorspace"] = colorspace
        if color_range is not None:
            kw["dst_color_range"] = color_range
        f = f.reformat(format=pix_fmt, **kw)
        f.pts = p
        for packet in v.encode(f):
            out.mux(packet)
    for packet in v.encode():
        out.mux(packet)
    if a is not None:
        rate_a = audio.get("rate", 48000)
        n = int(round(audio.get("seconds", 0.5) * rate_a))
        t = np.arange(n) / rate_a
        tone = (0.3 * np.sin(2 * math.pi * audio.get("freq", 440) * t)).astype(np.float32)
        channels = a.codec_context.layout.nb_channels
        fmt_name = a.codec_context.format.name
        for s0 in range(0, n, 1000):
            chunk = tone[s0 : s0 + 1000]
            if fmt_name == "s16":
                data = np.repeat((chunk * 32767).astype(np.int16)[None], channels, 0).T.reshape(1, -1)
            elif fmt_name == "fltp":
                data = np.repeat(chunk[None], channels, 0)
            else:
                raise ValueError(fmt_name)
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt_name, layout=a.layout.name)
            af.sample_rate = rate_a
            af.pts = s0
            for packet in a.encode(af):
                out.mux(packet)
        for packet in a.encode():
            out.mux(packet)
    for start, end, text in subtitles or ():
        packet = av.Packet(text)
        packet.stream = s
        packet.pts = packet.dts = start
        packet.duration = end - start
        packet.time_base = Fraction(1, 1000)
        out.mux(packet)
    out.close()
    return path


def video_times(path):
    """Presentation times (Fractions of seconds) of the decoded frames, in order."""
    with av.open(str(path)) as c:
        return [Fraction(f.pts) * f.time_base for f in c.decode(video=0)]


def decode_rgb(path):
    """The frames as the project reads them (rounded YUV -> RGB: tecogan.video.common.TO_RGB)."""
    from tecogan.utils.yuv import TO_RGB

    with av.open(str(path)) as c:
        return [f.reformat(format="rgb24", interpolation=TO_RGB).to_ndarray() for f in c.decode(video=0)]


def audio_duration(path, index=0):
    """Seconds from the first kept audio packet's start to the last one's end."""
    with av.open(str(path)) as c:
        a = c.streams.audio[index]
        packets = [p for p in c.demux(a) if p.size and not p.is_discard]
        first = min(p.pts for p in packets)
        last = max(p.pts + p.duration for p in packets)
        return float((last - first) * a.time_base), float(first * a.time_base)


def audio_packets(path, index=0):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[index]) if p.size]


def probe(path):
    """What a player sees: container, codec, size, pixel format, colour tags, rotation,
    frame count, audio and subtitle codecs."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        first = next(c.decode(v))
        info = dict(
            format=c.format.name,
            codec=cc.name,
            width=cc.width,
            height=cc.height,
            pix_fmt=cc.pix_fmt,
            colorspace=cc.colorspace,
            primaries=cc.color_primaries,
            trc=cc.color_trc,
            color_range=cc.color_range,
            rotation=first.rotation,
            audio=[a.codec_context.name for a in c.streams.audio],
            subtitles=[s.codec_context.codec.canonical_name for s in c.streams.subtitles],
        )
        c.seek(0)
        info["frames"] = sum(1 for p in c.demux(v) if p.size)
    return info
