"""The input's audio and subtitle streams in the output: copied packet by packet where the
container takes them, audio otherwise re-encoded, interleaved with the video as it is written."""

import os
from fractions import Fraction

import av

from tecogan.utils.errors import UserError
from tecogan.video.codecs import _LAYOUTS, AUDIO_COPY, AUDIO_ENCODER, NEGATIVE_TS, SUBTITLE_COPY, _container_codecs
from tecogan.video.common import _open_input, _seconds, _warn_once, shown


def has_audio(path):
    try:
        with av.open(path) as c:
            return bool(c.streams.audio)
    except Exception:
        return False


class Passthrough:
    """The input's audio and subtitle streams, copied (or audio re-encoded) into the output
    and interleaved with the video: packets up to each video frame's time are muxed after it.

    Within a ``--start``/``--duration`` window a packet is kept when it starts inside the
    window, so the audio starts and ends within one audio frame of the video's window.
    """

    def __init__(self, passthrough, encoding):
        self.path, (self.start, self.end), self.shift = passthrough
        self.fmt = encoding.fmt
        self.plan = []  # (input stream index, "copy" or encoder name)
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
                    if encoder not in av.codecs_available:
                        encoder = "aac"
                    self.plan.append((s.index, encoder))
                    self.notes.append(f"audio {codec} re-encoded to {av.codec.Codec(encoder, 'w').canonical_name}")
                else:
                    _warn_once(
                        f"{shown(self.path)}: subtitle stream {s.index} ({codec}) dropped: a "
                        f"{os.path.splitext(encoding.path)[1]} file cannot hold it (.mkv can)"
                    )
        self.input = None

    def open(self, out):
        """Add the output streams (before the first packet is muxed) and start demuxing."""
        if not self.plan:
            return
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
                raise UserError(
                    f"{shown(self.path)}: {packet.stream.type} stream {packet.stream.index}: FFmpeg "
                    f"failed to {'copy' if encoder is None else 're-encode'} it ({err.strerror or err}); "
                    "--no_audio drops it"
                ) from None

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
