"""Resumable jobs (``upscale.py``, ``--batch``): the output made in segments recorded in a job
folder (:mod:`tecogan.jobs.job_folder`), then assembled.

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

from tecogan.inference.precision import continuation_conflict
from tecogan.jobs.assembly import assemble
from tecogan.jobs.estimates import estimator
from tecogan.jobs.job_folder import JobDamaged, JobFolder
from tecogan.jobs.scene_cuts import ChunkRule, upscale_with_cuts
from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import write_image_rgb
from tecogan.utils.fingerprint import fingerprint, numerics, weights_sha256
from tecogan.utils.progress import Progress
from tecogan.video import BackgroundWriter, VideoSink, shown


def job_manifest(upscaler, run):
    """What makes the output's pixels and file (see :mod:`tecogan.jobs.job_folder`).  Precision and
    back-end as the job's first run asked for them (``auto``; no back-end: torch): each record's
    state says what ran, and a resume is checked against that (:func:`_restore`), not against
    what the first run asked (a job that ``auto`` ran in fp32 resumes with ``--precision fp32``)."""
    job, enc = run.job, run.out_enc
    video = {k: v for k, v in asdict(job.video).items() if k not in ("overwrite", "quiet", "compare")}
    encoding = (
        None
        if enc is None
        else {
            "format": enc.fmt,
            "codec": enc.codec,
            "encoder": enc.spec.encoder,
            "crf": enc.crf,
            "preset": enc.preset,
            "pix_fmt": enc.pix_fmt,
        }
    )
    inference = upscaler.requested.pixels_key()
    recorded = (JobFolder(job.dst).manifest() or {}).get("inference") if job.resume else None
    if isinstance(recorded, dict):  # resuming: the job's own record of what was asked stays
        inference.update({k: recorded[k] for k in ("precision", "backend") if k in recorded})
    manifest = {
        "version": 1,
        "output": os.path.basename(os.path.abspath(job.dst)),
        "input": {"path": os.path.abspath(job.src), **fingerprint(job.src)},
        "model": {"sha256": weights_sha256(upscaler.generator), "arch": run.arch},
        "inference": inference,
        "video": video,
        "encoding": encoding,
        "segment_frames": job.segment_frames,
        "frames": run.source.count,
        "numerics": numerics(upscaler.device),
    }
    if run.detector is not None:  # segments restart where chunks start (tecogan.jobs.chunks)
        manifest["chunk_frames"] = job.chunk_frames
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

    def __init__(self, folder, index, frames_end, sink, state, following, check=None):
        self.folder, self.index, self.frames_end = folder, index, frames_end
        self.sink, self.state, self.following, self.check = sink, state, following, check

    def write(self, _name, _image, _time):
        sink = self.sink
        sink.close(True)
        if self.check is not None:
            self.check()
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
    sink = VideoSink(enc, run.source, audio=False, shown_as=run.job.dst)
    sink.last_pts = last_pts
    opened.append(sink)
    return sink


def run_segments(upscaler, run, progress=True):
    """Run (or continue) the resumable job ``run`` (from :func:`tecogan.jobs.video_job._start`) under
    its lock (taken by :func:`tecogan.jobs.video_job.prepare_job`, released here); returns the number
    of frames of the output."""
    job = run.job
    folder = job.folder if job.folder is not None else JobFolder(job.dst).lock()
    try:
        return _run_locked(upscaler, run, folder, progress)
    finally:
        folder.unlock()


def _run_locked(upscaler, run, folder, progress):
    job, report = run.job, run.report
    records = folder.begin(job_manifest(upscaler, run), job.resume)
    done = records[-1]["frames_end"] if records else 0
    if records:
        report(f"resuming from frame {done} ({len(records)} segments done in {shown(folder.path)})")
    elif job.resume is True and not folder.continued:
        report(f"--resume: no job of {shown(job.dst)} to continue; starting from the first frame")
    started = time.perf_counter()
    try:
        if folder.complete(records) is None:
            count, segments = _upscale(upscaler, run, folder, records, progress)
            records = folder.records()
            if len(records) != segments or (records[-1]["frames_end"] if records else 0) != count:
                raise UserError(
                    f"{shown(folder.path)}: a segment's files changed while this run wrote them; --resume makes them again"
                )
            folder.mark_complete(records)
        else:
            run.frames.close()
        records = folder.records()
        folder.complete(records)  # still agrees (or one line)
        count = assemble(run, folder, records)
    except BaseException as err:
        _keep_or_drop(folder, job, err)
        raise
    folder.remove()
    run.finished(count, started, resumed=done)
    return count


class _ResumeRefused(UserError):
    """A resume the recorded job cannot take (asked in another precision): the job stays as it is
    and the error line alone says how to continue it."""


def _keep_or_drop(folder, job, err=None):
    """After a failure: a job with recorded work is kept (one warning says so and how to continue),
    one without is removed (nothing is lost)."""
    try:
        records = folder.records()
    except OSError:
        return
    if not records:
        folder.remove()
    elif isinstance(err, _ResumeRefused):
        return
    elif isinstance(err, JobDamaged):
        warn(f"{shown(job.dst)}: the job in {shown(folder.path)} is kept as it is")
    else:
        warn(
            f"{shown(job.dst)}: {records[-1]['frames_end']} upscaled frames are kept in {shown(folder.path)}; "
            + (
                "the same command continues from there"
                if job.resume == "auto"
                else "the same command with --resume continues from there"
            )
        )


def _restore(upscaler, run, folder, record, report):
    """The recorded clip state, continued in the precision and back-end it ran in: ``auto`` takes
    them (also when the job's first run asked for one), an explicit precision must be the one
    that ran (else one line saying which to ask for)."""
    state = folder.load_state(record, run.first_hw, run.arch["scale"])
    asked, ran, through = upscaler.requested, state["precision"], state.get("backend") or "torch"
    conflict = continuation_conflict(asked.precision, asked.backend, ran, through)
    if conflict is not None:
        given, what, fix = conflict
        raise _ResumeRefused(f"{given}: the job ran in {what}; resume it with {fix}, or --overwrite to start again")
    clip = upscaler.new_clip()
    clip.load_state_dict(state)
    if asked.precision == "auto":
        report(f"precision {ran} ({through}), as the job ran it")
    return clip


def _upscale(upscaler, run, folder, records, progress):
    job, detector = run.job, run.detector  # (detector None: scene_cuts off)
    frames, k = run.frames, records[-1]["frames_end"] if records else 0
    rule = ChunkRule(job.chunk_frames) if detector is not None else None
    for i in range(k):  # decoded again up to the last recorded frame (the detector looks at them too)
        frame = next(frames, None)
        if frame is None:
            raise UserError(
                f"{shown(job.src)}: has {i} frames; the job recorded {k} done (the input changed?); --overwrite starts again"
            )
        if detector is not None and detector.is_cut(frame.image, frame.time):
            rule.at_cut(i)
    return upscale_segments(upscaler, run, folder, records, frames, detector, rule=rule, progress=progress)


def upscale_segments(
    upscaler, run, folder, records, frames, detector, *, rule=None, base=0, total=None, progress=True, last_pts=None, check=None
):
    """Upscale ``frames`` into recorded segments of ``folder`` after its ``records``; returns (frames
    done, segments).  ``base``: the input's index of the folder's first frame (a chunk's start;
    records count from there), ``total``: the frames to do from ``base``; ``rule``: a
    :class:`~tecogan.jobs.scene_cuts.ChunkRule`: where it starts a chunk, the segment ends early and
    the next one starts with the chunk, so a single-machine job encodes the segments a chunked one
    does; ``last_pts``: of the frame before the first (timestamps go on increasing);
    ``check()``: called before each record (a chunk's lease; raises when lost)."""
    job, source, n = run.job, run.source, run.job.segment_frames
    k = records[-1]["frames_end"] if records else 0
    clip = _restore(upscaler, run, folder, records[-1], run.report) if records else None
    if run.out_enc is None:
        os.makedirs(folder.frames_dir, exist_ok=True)
    clips = [None, None]  # the ClipRun before the current one, and the current one
    boundary = [None]  # where the next chunk starts (from base)

    def on_clip(c):
        clips[0], clips[1] = clips[1], c

    def on_cut(_frame):
        if rule is not None and rule.at_cut(detector.index - 1):
            boundary[0] = detector.index - 1 - base

    index = len(records)
    opened = []  # the segments' sinks: any left open by a failure are discarded
    if records:
        last_pts = records[-1].get("last_pts")
    sink = _segment_sink(run, folder, index, opened, last_pts)
    writer = BackgroundWriter()
    bar = Progress(
        total=total if total is not None else source.count,
        desc="upscale",
        quiet=job.video.quiet or not progress,
        initial=k,
        estimate=estimator(upscaler),
    )
    ok, in_segment = False, 0
    try:
        for out in upscale_with_cuts(upscaler, frames, detector, on_cut=on_cut, clip=clip, on_clip=on_clip):
            if boundary[0] == k:  # a chunk starts at this frame: the segment before it ends here
                boundary[0] = None
                if in_segment:
                    following = _segment_sink(run, folder, index + 1, opened)
                    writer.put(_Close(folder, index, k, sink, clips[0].state_dict(), following, check), None, None, None)
                    index, in_segment, sink = index + 1, 0, following
            time_ = out.time if out.time is not None else (base + k) / source.rate
            writer.put(sink, out.name, run.final_image(out.image), time_)
            k, in_segment = k + 1, in_segment + 1
            bar.update(1)
            if in_segment == n:  # the state now is the state after the segment's last frame
                following = _segment_sink(run, folder, index + 1, opened)
                writer.put(_Close(folder, index, k, sink, clips[1].state_dict(), following, check), None, None, None)
                index, in_segment, sink = index + 1, 0, following
        if in_segment:
            writer.put(_Close(folder, index, k, sink, clips[1].state_dict(), None, check), None, None, None)
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
