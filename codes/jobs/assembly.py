"""The last step of a resumable job (:mod:`tecogan.jobs.segments`): the final output from the job's
recorded segments.  A frame folder is renamed into place (its frames go back into the job if
that fails); a video is assembled by copying the segments' packets (no re-encoding), each with
the timestamps it has in the whole clip (:class:`_Timeline`), with the input's audio and
subtitles, checked and renamed into place.
"""

from __future__ import annotations

import os
from fractions import Fraction

import av

from tecogan.utils.errors import UserError
from tecogan.utils.fileio import temp_file_beside
from tecogan.utils.outputs import AtomicFolder
from tecogan.utils.tempfiles import publish
from tecogan.video import VideoSink, shown
from tecogan.video.writing import output_sar


def assemble(run, folder, records):
    """The final output from the recorded segments; returns its frame count."""
    total = records[-1]["frames_end"] if records else 0
    if run.out_enc is None:
        names = [n for r in records for n in r["files"]]
        if len(names) != total:
            raise UserError(
                f"{shown(folder.path)}: the job lists {len(names)} frames, expected {total}; --overwrite starts again"
            )
        staging = AtomicFolder(run.job.dst)
        os.rmdir(staging.tmp)
        os.rename(folder.frames_dir, staging.tmp)
        try:
            if run.job.before_publish is not None:
                run.job.before_publish(staging.tmp)
            staging.commit()
        except BaseException:
            if os.path.isdir(staging.tmp):  # not placed: the frames go back into the job
                os.rename(staging.tmp, folder.frames_dir)
            raise
        finally:
            if not os.path.lexists(staging.tmp):
                staging.close(False)  # nothing left to drop (placed, or moved back)
        return total
    return _assemble_video(run, folder, records, total)


def _assemble_video(run, folder, records, total):
    """Copy the segments' video packets (no re-encoding) into the final file with the input's
    audio and subtitles, each packet with the timestamps it has in the whole clip (see
    :class:`_Timeline`); returns the frame count."""
    job, enc = run.job, run.out_enc
    described = VideoSink(enc, run.source, audio=job.video.audio)  # the audio plan (and its warnings)
    run.report(f"writing {described.describe()}, from {len(records)} segment{'' if len(records) == 1 else 's'}")
    passthrough = described.passthrough
    tmp = temp_file_beside(job.dst, os.path.splitext(job.dst)[1])
    out = None
    try:
        out = av.open(tmp, "w", format=enc.fmt, options={"movflags": "+faststart"} if enc.fmt in ("mp4", "mov") else {})
        segments = [os.path.join(folder.path, next(iter(r["files"]))) for r in records]
        with av.open(segments[0]) as first:
            stream = out.add_stream_from_template(first.streams.video[0], opaque=True)
        sar = output_sar(run.source, stream.codec_context.width, stream.codec_context.height)
        if sar is not None:  # the container's pixel aspect (vp9/av1 in MP4, prores in MOV): the template drops it
            stream.codec_context.sample_aspect_ratio = sar
        stream.codec_context.framerate = described.rate  # the stream's frame rate, as the one-go writer's
        if passthrough is not None:
            passthrough.open(out)
        out.start_encoding()  # the header: the muxer settles the output's time base
        timeline = _Timeline(stream.time_base, described, enc.fmt == "avi")
        count = 0
        for path, record in zip(segments, records, strict=True):
            with av.open(path) as seg:  # a first pass reads the segment's timing
                times = timeline.segment(seg, record)
            with av.open(path) as seg:
                for packet, (pts, dts, duration) in zip(_video_packets(seg), times, strict=True):
                    packet.pts, packet.dts, packet.duration, packet.time_base = pts, dts, duration, timeline.tb
                    packet.stream = stream
                    out.mux(packet)
                    count += packet.size > 0
                    if passthrough is not None:
                        passthrough.advance(pts * timeline.tb)
        if passthrough is not None:
            passthrough.finish()
        out.close()
        out = None
        _verify(tmp, job.dst, total, passthrough.audio_streams if passthrough is not None else 0)
        os.chmod(tmp, 0o666 & ~_umask())
        if job.before_publish is not None:
            job.before_publish(tmp)
        publish(tmp, job.dst)  # never over an output that appeared meanwhile, unless --overwrite
    except av.error.FFmpegError as err:
        raise UserError(
            f"{shown(job.dst)}: FFmpeg failed to assemble the segments ({err.strerror or err}); the "
            f"job is kept in {shown(folder.path)}"
        ) from None
    finally:
        if passthrough is not None:
            passthrough.close()
        if out is not None:
            out.close()
        if os.path.exists(tmp):
            os.remove(tmp)
    return count


def _video_packets(container):
    """A segment file's video packets in decode order (the demuxer's closing empty packet left out)."""
    for packet in container.demux(container.streams.video[0]):
        if packet.size or packet.pts is not None or packet.dts is not None:
            yield packet


def _nearest(x):
    """``x`` rounded to the nearest integer, halves away from zero (as FFmpeg's av_rescale)."""
    return int(x + Fraction(1, 2)) if x >= 0 else -int(Fraction(1, 2) - x)


def _rescale(ts, src, dst):
    return None if ts is None else _nearest(Fraction(ts) * src / dst)


class _Timeline:
    """The timestamps of the segments' video packets in the assembled file (time base ``tb``).

    Every segment was encoded with the timestamps its frames have in the whole clip, but the
    containers keep them differently.  MP4 and MOV store the PTS and the DTS.  Matroska and WebM
    store the PTS only, and their demuxer gives the first packets of a file with reordered frames
    (h264 and h265 B-frames) no DTS: muxed as they were, the assembly failed.  AVI stores no
    timestamps at all (see :meth:`_avi_slots`).  So each packet gets a DTS made again from the
    PTS in decode order (:meth:`_dts`), strictly increasing over the whole file and never after
    its PTS, and lasts one frame interval of the writer's rate (``sink``: the segments'
    :class:`VideoSink`), as the encoders' packets do (MP4's demuxer gives DTS differences)."""

    def __init__(self, tb, sink, avi):
        self.tb, self.sink_tb, self.avi = tb, sink.time_base, avi
        self.frame = max(1, _nearest(1 / (sink.rate * tb)))
        self.index = 0
        self.depth = 0  # the reorder depth so far
        self.last_dts = None  # of the segments muxed so far
        self.latest = None  # their latest PTS

    def segment(self, container, record):
        """(pts, dts, duration) of each video packet of the next segment, in decode order."""
        stream = container.streams.video[0]
        src = stream.time_base
        packets = [(_rescale(p.pts, src, self.tb), _rescale(p.dts, src, self.tb)) for p in _video_packets(container)]
        self.index += 1
        if not packets:
            return []
        if self.avi:
            slots = self._avi_slots([dts or 0 for _, dts in packets], record)
            pts = dts = slots
        else:
            pts = [p if p is not None else d for p, d in packets]
            if None in pts:
                raise UserError(f"{shown(container.name)}: a video packet without timestamps; --overwrite starts the job again")
            dts = self._dts(pts, [d for _, d in packets])
        times = []
        for p, d in zip(pts, dts, strict=True):
            if self.last_dts is not None and d <= self.last_dts:
                d = self.last_dts + 1  # a safety net: the muxers take strictly increasing DTS only
            p = max(p, d)
            self.last_dts, self.latest = d, p if self.latest is None else max(self.latest, p)
            times.append((p, d, self.frame))
        return times

    def _dts(self, pts, stored):
        """DTS for one segment's packets (PTS ``pts`` in decode order; ``stored``: the DTS the
        file gave, None where it gave none).

        With the reorder depth D (the smallest for which the (j-D)-th earliest PTS is not after
        packet j's; at least the number of leading packets the file gives no DTS, or one before
        the segment's first frame: the encoder's delay; and never less than an earlier
        segment's), packet j's DTS is that (j-D)-th earliest PTS, and the first D packets step
        back from the first frame by the shortest frame interval, as the encoders' own DTS do.
        They come after every DTS of the segments before, whose frames all come earlier."""
        order = sorted(pts)
        depth = 0
        while depth < len(pts) and (stored[depth] is None or stored[depth] < order[0]):
            depth += 1
        depth = max(depth, self.depth)
        while any(order[j - depth] > pts[j] for j in range(depth, len(pts))):
            depth += 1
        self.depth = depth
        gaps = [b - a for a, b in zip(order, order[1:], strict=False)]
        if self.latest is not None:
            gaps.append(order[0] - self.latest)
        step = max(1, min(gaps, default=self.frame))
        return [order[j - depth] if j >= depth else order[0] - (depth - j) * step for j in range(len(pts))]

    def _avi_slots(self, slots, record):
        """The DTS (= PTS) of one AVI segment's packets (``slots``: the DTS its demuxer gave).

        AVI stores one chunk per frame interval: its muxer writes a stream's first frame in
        slot 0, then pads with empty chunks up to each later frame's DTS, so the first packet of
        a segment lost its place (the demuxer says 0).  The first segment stays as it is (the
        one-go file starts the same way); a later one is moved so that its last packet lands on
        the segment's last frame as recorded (``last_pts``, in the segment writer's time base),
        its first packet in the slot before its second (a record without ``last_pts``: right
        after the segments before)."""
        if self.index == 1:
            return slots
        last = record.get("last_pts")
        if last is not None:
            end = _rescale(last, self.sink_tb, self.tb)
        else:
            end = (self.latest if self.latest is not None else -1) + 1 + (slots[-1] - slots[1] + 1 if len(slots) > 1 else 0)
        later = [slot + end - slots[-1] for slot in slots[1:]]
        return [later[0] - 1] + later if later else [end]


def _verify(tmp, dst, frames, audio_streams):
    with av.open(tmp) as check:
        found = sum(1 for p in check.demux(check.streams.video[0]) if p.size) if check.streams.video else 0
        audio = len(check.streams.audio)
    if found != frames or audio != audio_streams:
        raise UserError(
            f"{shown(dst)}: the assembled file holds {found} frames and {audio} audio streams, expected "
            f"{frames} and {audio_streams}; the job folder is kept"
        )


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
