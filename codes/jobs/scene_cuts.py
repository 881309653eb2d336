"""Scene cuts: restart the recurrence at each hard cut (``upscale.py --scene_cuts on``).

A frame-recurrent model carries the previous HR frame into the next; across a hard cut that is
the previous shot's detail, warped onto the new one for a few frames.  Here PySceneDetect's
content detector (``scenedetect-headless``) looks at each LR frame as it streams past; at a
cut the clip is split and the new shot starts a new :class:`~tecogan.inference.upscaler.ClipRun`, with
its own front padding, exactly as if it had been a clip of its own.  The detector keeps the times
of the cuts it found: :func:`describe_cuts` is the line ``upscale.py`` prints about them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

import cv2
from scenedetect import ContentDetector, FrameTimecode
from scenedetect.detector import FlashFilter

from tecogan import defaults
from tecogan.video.common import Frame

SCENE_CUTS = defaults.SCENE_CUTS
THRESHOLD = defaults.SCENE_CUT_THRESHOLD  # PySceneDetect's default content threshold (HSV change, 0-255)
MIN_SHOT = defaults.SCENE_CUT_MIN_SHOT  # frames: no cut this soon after the last one (flashes, fast pans)


class CutDetector:
    """``is_cut(image, time)`` for consecutive RGB frames (uint8 or uint16): True when ``image`` starts
    a new shot.  Each frame is looked at once, in order, with no look-ahead; ``cuts`` lists the
    times (seconds; the frame's index / 25 when it has none) of the frames that start a shot."""

    def __init__(self, threshold=THRESHOLD, min_shot=MIN_SHOT):
        self.detector = ContentDetector(threshold=threshold, min_scene_len=min_shot, filter_mode=FlashFilter.Mode.SUPPRESS)
        self.index = 0
        self.rate = Fraction(25)  # the detector counts frames; the rate only names them
        self.cuts = []
        self.indices = []  # the frame indices of the cuts

    def is_cut(self, image, time=None):
        if image.dtype != "uint8":
            image = (image >> 8).astype("uint8")
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        cuts = self.detector.process_frame(FrameTimecode(self.index, fps=self.rate), bgr)
        found = any(c.frame_num == self.index for c in cuts) and self.index > 0
        if found:
            self.cuts.append(time if time is not None else self.index / self.rate)
            self.indices.append(self.index)
        self.index += 1
        return found


class ChunkRule:
    """Where chunks start (``--worker``, ``--shard``, ``--ray``; and where a single-machine job's
    segments restart): at frame 0, then at a cut once the current chunk holds at least
    ``chunk_frames`` frames.  Causal (each cut is decided when it is found, in order), so a
    streaming run and the first pass of a chunked job place the same boundaries; a shot longer
    than ``chunk_frames`` stays one chunk (the recurrence cannot be split inside a shot)."""

    def __init__(self, chunk_frames):
        self.chunk_frames = chunk_frames
        self.start = 0

    def at_cut(self, index):
        """A cut at frame ``index``: True when a chunk starts there."""
        if index - self.start >= self.chunk_frames:
            self.start = index
            return True
        return False


def chunk_bounds(cuts, total, chunk_frames):
    """[(start, end), ...] of the chunks of ``total`` frames with cuts at the frame indices ``cuts``."""
    rule, starts = ChunkRule(chunk_frames), [0]
    starts += [k for k in cuts if rule.at_cut(k)]
    return [(a, b) for a, b in zip(starts, starts[1:] + [total], strict=True) if b > a]


class ReplayDetector:
    """A :class:`CutDetector` that knows the cuts already (frame indices, found by a first pass):
    a chunk starting at ``first`` restarts the recurrence where the whole run did, without
    looking at the frames before it."""

    def __init__(self, cuts, first=0, rate=Fraction(25)):
        self.known, self.index, self.rate = set(cuts), first, Fraction(rate)
        self.cuts = []

    def is_cut(self, image, time=None):
        found = self.index in self.known and self.index > 0
        if found:
            self.cuts.append(time if time is not None else self.index / self.rate)
        self.index += 1
        return found


SHOWN_CUTS = 50  # times listed in the line; more are counted


def format_time(seconds):
    """``0:07.52``, ``1:02:03.00`` (hundredths of a second)."""
    hundredths = int(round(float(seconds) * 100))
    minutes, rest = divmod(hundredths, 6000)
    hours, minutes = divmod(minutes, 60)
    text = f"{minutes}:{rest // 100:02d}.{rest % 100:02d}"
    return f"{hours}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}" if hours else text


def describe_cuts(times):
    """``scene cuts: 3 at 0:01.20, 0:04.00, 0:07.52`` (output times), or ``scene cuts: none found``."""
    if not times:
        return "scene cuts: none found"
    shown = ", ".join(format_time(t) for t in times[:SHOWN_CUTS])
    more = f" and {len(times) - SHOWN_CUTS} more" if len(times) > SHOWN_CUTS else ""
    return f"scene cuts: {len(times)} at {shown}{more}"


def upscale_with_cuts(
    upscaler, frames: Iterable[Frame], detector: CutDetector | None = None, on_cut=None, clip=None, on_clip=None
) -> Iterator:
    """``upscaler.upscale_clip`` over ``frames``, restarted (a new ClipRun with its front
    padding) at every cut ``detector`` finds; ``on_cut(frame)`` is told of each.  Without a
    detector this is ``upscale_clip`` itself.

    Resumable jobs: ``clip``, a restored ClipRun, continues the first shot (a detector that has
    already looked at the frames before ``frames`` may find a cut at the first one: then a new
    shot starts there, as in the uninterrupted run); ``on_clip(run)`` is told of each ClipRun as
    it starts (its state is what a job records)."""

    def started(run=None):
        run = run or upscaler.new_clip()
        if on_clip is not None:
            on_clip(run)
        return run

    if detector is None:
        yield from upscaler.upscale_clip(frames, started(clip))
        return
    it = iter(frames)
    pending = next(it, None)
    if pending is not None and detector.is_cut(pending.image, pending.time):  # never at a clip's first frame
        clip = None
        if on_cut is not None:
            on_cut(pending)
    while pending is not None:
        first, pending = pending, None

        def shot(first=first):
            nonlocal pending
            yield first
            for frame in it:
                if detector.is_cut(frame.image, frame.time):
                    pending = frame
                    if on_cut is not None:
                        on_cut(frame)
                    return
                yield frame

        yield from upscaler.upscale_clip(shot(), started(clip))
        clip = None
