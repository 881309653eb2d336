"""Resumable jobs (``upscale.py``, ``--batch``): the output made in segments recorded in a job
folder (:mod:`tecogan.job_folder`), then assembled.

Every ``segment_frames`` frames the segment's writer is closed (a video segment: its own encoder,
a key frame first, so no frame refers to another segment's; a frame folder: its PNG frames) and
the job records it with the recurrent state after its last frame.  ``--resume`` decodes the input
again up to the last recorded frame (the scene-cut detector looks at those frames again), loads
the state (and the precision and back-end the job ran in) and goes on: the frames equal an
uninterrupted run's bit for bit, and so do the encoded segments.  The final video is assembled by
copying the segments' packets (no re-encoding) with the input's audio and subtitles, checked
(every frame there) and renamed into place as before; a frame folder is renamed into place.
Then the job folder is removed.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import asdict

import av

from tecogan.job_folder import JobFolder, numerics, weights_sha256
from tecogan.scene_cuts import upscale_with_cuts
from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import temp_file_beside, write_image_rgb
from tecogan.utils.fingerprint import fingerprint
from tecogan.utils.outputs import AtomicFolder
from tecogan.utils.progress import Progress
from tecogan.utils.tempfiles import publish
from tecogan.video import BackgroundWriter, VideoSink, shown


def job_manifest(upscaler, run):
    """What makes the output's pixels and file (see :mod:`tecogan.job_folder`); precision as asked
    (``auto`` continues in what each record says ran)."""
    job, enc = run.job, run.out_enc
    video = {k: v for k, v in asdict(job.video).items() if k not in ("overwrite", "quiet", "compare")}
    encoding = None if enc is None else {"format": enc.fmt, "codec": enc.codec, "encoder": enc.spec.encoder,
                                         "crf": enc.crf, "preset": enc.preset, "pix_fmt": enc.pix_fmt}
    manifest = {"version": 1, "output": os.path.basename(os.path.abspath(job.dst)),
                "input": {"path": os.path.abspath(job.src), **fingerprint(job.src)},
                "model": {"sha256": weights_sha256(upscaler.generator), "arch": run.arch},
                "inference": upscaler.requested.pixels_key(), "video": video, "encoding": encoding,
                "segment_frames": job.segment_frames, "frames": run.source.count,
                "numerics": numerics(upscaler.device)}
    return json.loads(json.dumps(manifest))  # as it reads back (tuples are lists)


class _FrameSegment:
    """The PNG frames of one segment, written into the job's ``frames/``."""

    def __init__(self, folder):
        self.folder, self.paths = folder, []

    def write(self, name, image, time=None):
        path = os.path.join(self.folder.frames_dir, name)
        write_image_rgb(path, image)
        self.paths.append(path)

    def close(self, ok=True):
        pass


class _Close:
    """Queued behind a segment's frames: closes it, records it with the state after its last
    frame (in the writer's thread, so encoding overlaps the next segment's inference)."""

    def __init__(self, folder, index, frames_end, sink, state, following):
        self.folder, self.index, self.frames_end = folder, index, frames_end
        self.sink, self.state, self.following = sink, state, following

    def write(self, _name, _image, _time):
        sink = self.sink
        sink.close(True)
        extra = {}
        if isinstance(sink, VideoSink):
            files, extra["last_pts"] = [sink.path], sink.last_pts
            if self.following is not None:
                self.following.last_pts = sink.last_pts  # timestamps go on increasing across segments
        else:
            files = sink.paths
        self.folder.save_segment(self.index, self.frames_end, self.state, files, extra)


def _segment_sink(run, folder, index, opened, last_pts=None):
    if run.out_enc is None:
        return _FrameSegment(folder)
    ext = os.path.splitext(run.job.dst)[1]
    enc = dataclasses.replace(run.out_enc, path=folder.segment_path(index, ext))
    sink = VideoSink(enc, run.source, audio=False)
    sink.last_pts = last_pts
    opened.append(sink)
    return sink


def run_segments(upscaler, run, progress=True):
    """Run (or continue) the resumable job ``run`` (from :func:`tecogan.video_job._start`);
    returns the number of frames of the output."""
    job, report = run.job, run.report
    folder = JobFolder(job.dst)
    records = folder.begin(job_manifest(upscaler, run), job.resume)
    done = records[-1]["frames_end"] if records else 0
    if records:
        report(f"resuming from frame {done} ({len(records)} segments done in {shown(folder.path)})")
    elif job.resume is True:
        report(f"--resume: no job of {shown(job.dst)} to continue; starting from the first frame")
    started = time.perf_counter()
    try:
        if folder.complete(records) is None:
            count, segments = _upscale(upscaler, run, folder, records, progress)
            folder.mark_complete(count, segments)
        else:
            run.frames.close()
        records = folder.records()
        if folder.complete(records) is None:
            raise UserError(f"{shown(folder.path)}: a segment's files changed while this run wrote them; --resume "
                            "makes them again")
        count = _assemble(run, folder, records)
    except BaseException:
        _keep_or_drop(folder, job)
        raise
    folder.remove()
    run.finished(count, started, resumed=done)
    return count


def _keep_or_drop(folder, job):
    """After a failure: a job with recorded work is kept (one warning says how to continue), one
    without is removed (nothing is lost)."""
    try:
        records = folder.records()
    except OSError:
        return
    if records:
        warn(f"{shown(job.dst)}: {records[-1]['frames_end']} upscaled frames are kept in {shown(folder.path)}; "
             "the same command with --resume continues from there")
    else:
        folder.remove()


def _restore(upscaler, folder, record, report):
    state = folder.load_state(record)
    asked = upscaler.requested.precision
    if asked != "auto" and state["precision"] != asked:
        raise UserError(f"--precision {asked}: the job ran in {state['precision']}; resume it with --precision "
                        f"{state['precision']} (or auto), or --overwrite to start again")
    clip = upscaler.new_clip()
    clip.load_state_dict(state)
    if asked == "auto":
        report(f"precision {state['precision']} ({state['backend']}), as the job chose at its start")
    return clip


def _upscale(upscaler, run, folder, records, progress):
    job, source, n = run.job, run.source, run.job.segment_frames
    detector = run.detector  # (None: scene_cuts off)
    frames, k = run.frames, records[-1]["frames_end"] if records else 0
    for i in range(k):  # decoded again up to the last recorded frame (the detector looks at them too)
        frame = next(frames, None)
        if frame is None:
            raise UserError(f"{shown(job.src)}: has {i} frames; the job recorded {k} done (the input changed?); "
                            "--overwrite starts again")
        if detector is not None:
            detector.is_cut(frame.image, frame.time)
    clip = _restore(upscaler, folder, records[-1], run.report) if records else None
    if run.out_enc is None:
        os.makedirs(folder.frames_dir, exist_ok=True)
    current = [None]
    index = len(records)
    opened = []  # the segments' sinks: any left open by a failure are discarded
    sink = _segment_sink(run, folder, index, opened, records[-1].get("last_pts") if records else None)
    writer = BackgroundWriter()
    bar = Progress(total=source.count, desc="upscale", quiet=job.video.quiet or not progress, initial=k)
    ok, in_segment = False, 0
    try:
        for out in upscale_with_cuts(upscaler, frames, detector, clip=clip, on_clip=lambda c: current.__setitem__(0, c)):
            time_ = out.time if out.time is not None else k / source.rate
            writer.put(sink, out.name, run.final_image(out.image), time_)
            k, in_segment = k + 1, in_segment + 1
            bar.update(1)
            if in_segment == n:  # the state now is the state after the segment's last frame
                following = _segment_sink(run, folder, index + 1, opened)
                writer.put(_Close(folder, index, k, sink, current[0].state_dict(), following), None, None, None)
                index, in_segment, sink = index + 1, 0, following
        if in_segment:
            writer.put(_Close(folder, index, k, sink, current[0].state_dict(), None), None, None, None)
        writer.close()
        ok = True
    finally:
        bar.close()
        if not ok:
            try:
                writer.close(discard=True)
            except BaseException:
                pass
            for each in opened:
                each.close(False)
    return k, index + (in_segment > 0)


def _assemble(run, folder, records):
    """The final output from the recorded segments; returns its frame count."""
    total = records[-1]["frames_end"] if records else 0
    if run.out_enc is None:
        names = [n for r in records for n in r["files"]]
        if len(names) != total:
            raise UserError(f"{shown(folder.path)}: the job lists {len(names)} frames, expected {total}; "
                            "--overwrite starts again")
        staging = AtomicFolder(run.job.dst)
        os.rmdir(staging.tmp)
        os.rename(folder.frames_dir, staging.tmp)
        staging.close(True)
        return total
    return _assemble_video(run, folder, records, total)


def _assemble_video(run, folder, records, total):
    job, enc = run.job, run.out_enc
    described = VideoSink(enc, run.source, audio=job.video.audio)  # the audio plan (and its warnings)
    run.report(f"writing {described.describe()}, from {len(records)} segments")
    passthrough = described.passthrough
    tmp = temp_file_beside(job.dst, os.path.splitext(job.dst)[1])
    out = None
    try:
        out = av.open(tmp, "w", format=enc.fmt, options={"movflags": "+faststart"} if enc.fmt in ("mp4", "mov") else {})
        segments = [os.path.join(folder.path, next(iter(r["files"]))) for r in records]
        with av.open(segments[0]) as first:
            stream = out.add_stream_from_template(first.streams.video[0], opaque=True)
        if passthrough is not None:
            passthrough.open(out)
        last_dts, count = None, 0
        for path in segments:
            with av.open(path) as seg:
                for packet in seg.demux(seg.streams.video[0]):
                    if packet.dts is None and packet.pts is None:
                        continue  # a flush packet
                    if last_dts is not None and packet.dts is not None and packet.dts <= last_dts:
                        packet.dts = last_dts + 1
                    last_dts = packet.dts
                    seconds = packet.pts * packet.time_base if packet.pts is not None else None
                    packet.stream = stream
                    out.mux(packet)
                    count += packet.size > 0
                    if passthrough is not None and seconds is not None:
                        passthrough.advance(seconds)
        if passthrough is not None:
            passthrough.finish()
        out.close()
        out = None
        _verify(tmp, job.dst, total, passthrough.audio_streams if passthrough is not None else 0)
        os.chmod(tmp, 0o666 & ~_umask())
        publish(tmp, job.dst)  # never over an output that appeared meanwhile, unless --overwrite
    except av.error.FFmpegError as err:
        raise UserError(f"{shown(job.dst)}: FFmpeg failed to assemble the segments ({err.strerror or err}); the "
                        f"job is kept in {shown(folder.path)}") from None
    finally:
        if passthrough is not None:
            passthrough.close()
        if out is not None:
            out.close()
        if os.path.exists(tmp):
            os.remove(tmp)
    return count


def _verify(tmp, dst, frames, audio_streams):
    with av.open(tmp) as check:
        found = sum(1 for p in check.demux(check.streams.video[0]) if p.size) if check.streams.video else 0
        audio = len(check.streams.audio)
    if found != frames or audio != audio_streams:
        raise UserError(f"{shown(dst)}: the assembled file holds {found} frames and {audio} audio streams, expected "
                        f"{frames} and {audio_streams}; the job folder is kept")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
