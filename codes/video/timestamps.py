"""Where a video reader lands and what time each frame has: exact window bounds, seeking to a key
frame in files without an index, timestamps put back in presentation order (AVI) and through
the deinterlacer (bwdif counts in half the stream's time base)."""

import collections
import heapq
from fractions import Fraction

import av

from tecogan.utils.errors import UserError
from tecogan.video.common import shown


def seconds_fraction(value):
    """``value`` seconds as an exact fraction, as written: the float 0.2 is a hair over 1/5, which
    would leave out a frame at exactly 0.2 s (to the microsecond, finer than any time base)."""
    return Fraction(value).limit_denominator(1_000_000)


SEEK_BACK = (0, 1, 4, 16, 64)  # seconds before the target to try, in turn (then the file's start)


def seek(container, stream, seconds):
    """Put the demuxer on a key frame at or before ``seconds``, so that every frame from there
    decodes.  A file with an index (MP4, Matroska) lands on one; one without (MPEG-TS) can land
    between key frames, where the frames up to the next key frame cannot be decoded: then it
    seeks further back, and at worst reads from the start (never a wrong frame count)."""
    for back in SEEK_BACK:
        target = max(Fraction(0), seconds - back)
        if not _seek_to(container, stream, target):
            break
        packet = next((p for p in container.demux(stream) if p.size), None)
        if packet is None:
            return _seek_to(container, stream, target)  # nothing there: the window is past the end
        ts = packet.pts if packet.pts is not None else packet.dts
        if packet.is_keyframe and (ts is None or ts * stream.time_base <= seconds):
            return _seek_to(container, stream, target)  # the same seek again: the packet was read
        if target == 0:
            break
    container.seek(0)
    return True


def _seek_to(container, stream, seconds):
    """Seek to at or before ``seconds``; False when the file cannot seek."""
    try:
        container.seek(max(0, int(seconds / stream.time_base)), stream=stream, backward=True)
    except av.error.FFmpegError:
        container.seek(0)
        return False
    return True


REORDER_DEPTH = 8  # frames held to put timestamps back in order (B-frame pyramids reorder fewer)


def presentation_times(frames, depth=REORDER_DEPTH):
    """The decoder gives frames in presentation order, but a container without presentation
    timestamps (AVI) leaves them those of the packets in decoding order: with B-frames 0.04,
    0.12, 0.08 ... .  The k-th frame out gets the k-th smallest timestamp among the frames held
    (up to ``depth``); in-order timestamps, every other file's, come out unchanged."""
    held, times = collections.deque(), []
    for frame in frames:
        held.append(frame)
        if frame.pts is not None:
            heapq.heappush(times, frame.pts)
        if len(held) > depth:
            yield _next_time(held.popleft(), times)
    while held:
        yield _next_time(held.popleft(), times)


def _next_time(frame, times):
    if frame.pts is not None:
        frame.pts = heapq.heappop(times)
    return frame


def deinterlaced(frames, stream, path):
    """``frames`` through FFmpeg's bwdif filter (PyAV's filter graph): one output frame per input
    frame, its timestamp kept (bwdif counts in half the stream's time base, for field rate: its
    timestamps are put back in the stream's); frames not flagged interlaced pass unchanged."""
    tb = stream.time_base
    graph = av.filter.Graph()
    try:
        chain = [
            graph.add_buffer(template=stream),
            graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced"),
            graph.add("buffersink"),
        ]
        chain[0].link_to(chain[1])
        chain[1].link_to(chain[2])
        graph.configure()
    except (av.error.FFmpegError, ValueError) as err:
        raise UserError(f"{shown(path)}: --deinterlace: FFmpeg's bwdif filter cannot be set up ({err})") from None

    def drain():
        while True:
            try:
                frame = graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            if tb and frame.time_base and frame.time_base != tb and frame.pts is not None:
                frame.pts = round(Fraction(frame.pts) * frame.time_base / tb)
                frame.time_base = tb
            yield frame

    for frame in frames:
        graph.push(frame)
        yield from drain()
    graph.push(None)
    yield from drain()
