"""One upscaling job: a video file or frame folder -> an :class:`~tecogan.inference.Upscaler` -> a video or PNGs.

:func:`upscale_file` runs the job with its :class:`~tecogan.jobs.video_options.VideoOptions`
(the files' side: timing window, encoder, audio, the comparison video, overwriting): every
check before any work, then decoding, inference and encoding overlapped, the outputs written
under temporary names and renamed into place only when complete.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import cv2
import numpy as np

from tecogan import defaults
from tecogan.config.limits import check_number
from tecogan.jobs.estimates import estimator
from tecogan.jobs.job_folder import JobFolder, job_path
from tecogan.jobs.scene_cuts import CutDetector, describe_cuts, upscale_with_cuts
from tecogan.jobs.segments import run_segments
from tecogan.jobs.video_options import VideoOptions, output_size, resize_frame
from tecogan.networks import own_settings
from tecogan.ops.upsample import bd_bicubic_frame
from tecogan.pretrained import DEFAULT_MODEL, INPUT_KINDS
from tecogan.utils.errors import UserError, short, warn
from tecogan.utils.outputs import FILE, FRAMES, JOB, check_outputs
from tecogan.utils.progress import Progress
from tecogan.utils.verbosity import quiet
from tecogan.video import (
    BackgroundWriter,
    VideoSink,
    VideoSource,
    check_output,
    is_video_path,
    open_sink,
    open_source,
    prefetch,
    shown,
)
from tecogan.video.codecs import bits_of, follow_depth


def compare_upsampler(arch):
    """The bicubic half of ``--compare``, placed where the model puts its pixels (BD models:
    sample-aligned; BI: centre-aligned)."""
    scale = arch["scale"]
    if arch["degradation"] == "BD":
        return lambda lr: bd_bicubic_frame(lr, scale)
    return lambda lr: cv2.resize(lr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)


def side_by_side(left, right):
    return np.ascontiguousarray(np.concatenate([left, right], axis=1))


@dataclass(frozen=True)
class Job:
    """A checked job: its paths, video options and output encodings (None: a folder of PNGs).

    ``resume``: None, written in one go (the API, ``--compare``); else a resumable job
    (:mod:`tecogan.jobs.segments`) in segments of ``segment_frames``: False starts a new one (refused
    over an unfinished job), True (``--resume``) or ``"auto"`` (``--batch``) continues the job
    folder's if there is one (one made differently is refused); ``discard``: --overwrite, an
    unfinished job is discarded instead.  ``folder``: the resumable job's
    :class:`~tecogan.jobs.job_folder.JobFolder`, its lock held from :func:`prepare_job` to the end of
    :func:`run_job` (``release()`` when the job is not run); ``before_publish``: called with the
    finished output's temporary path just before it is renamed into place (a batch records its
    manifest there, so an interruption at any point leaves an output that its manifest describes)."""

    src: str
    dst: str
    video: VideoOptions
    out_enc: object
    cmp_enc: object
    resume: bool | str | None = None
    segment_frames: int = defaults.SEGMENT_FRAMES
    discard: bool = False
    folder: object = None
    before_publish: object = None
    chunk_frames: int = defaults.CHUNK_FRAMES  # scene_cuts on: segments restart where chunks start
    dst_seen: tuple | None = None  # output_identity(dst) when checked: a chunked job's workers see another finish it

    def release(self):
        """Let go of the job's lock (a prepared job that will not be run)."""
        if self.folder is not None:
            self.folder.unlock()


def prepare_job(
    src, dst, video=None, model_path=None, resume=None, segment_frames=None, discard=None, chunk_frames=defaults.CHUNK_FRAMES
):
    """Every check before any work: outputs never an input (``model_path``, the checkpoint, is one
    too) nor an existing output without ``overwrite``; the encoder, container and quality knobs;
    for a resumable job (``resume`` not None, see :class:`Job`) its job folder: a plain run over an
    unfinished job is refused, naming --resume and --overwrite."""
    video = video or VideoOptions()
    discard = video.overwrite if discard is None else discard
    segment_frames = defaults.SEGMENT_FRAMES if segment_frames is None else segment_frames
    check_number("--segment_frames", segment_frames, minimum=1, maximum=defaults.MAX_CLIP_FRAMES, integer=True)
    check_number("--chunk_frames", chunk_frames, minimum=1, maximum=defaults.MAX_CLIP_FRAMES, integer=True)
    if resume is not None and video.compare:
        if resume:
            raise UserError(
                "--resume: a run with --compare is written in one go and cannot be resumed "
                "(make the side-by-side video in a separate run)"
            )
        resume = None
    src, dst = str(src), str(dst)
    outputs = [("OUTPUT", dst, FILE if is_video_path(dst) else FRAMES)]
    if video.compare:
        outputs.append(("--compare", video.compare, FILE))
    if resume is not None:  # the job folder is an output too: never an input, removed only when ours
        outputs.append(("job folder", job_path(dst), JOB))
    inputs = [("INPUT", src)] + ([("--model", model_path)] if model_path else [])
    if video.compare and not is_video_path(video.compare):
        raise UserError(f"--compare {shown(video.compare)}: expected a video file name (.mp4, .mkv, ...)")
    out_enc = check_output(dst, **video.encoding())
    cmp_enc = check_output(video.compare, **video.encoding(), option="--compare") if video.compare else None
    if out_enc is None and cmp_enc is None and any(v is not None for v in video.encoding().values()):
        warn("--codec, --crf, --preset and --pix_fmt apply to video files; the output is a folder of PNG frames")
    check_outputs(outputs, inputs, video.overwrite)  # after the settings: a typo is said before "already exists"
    folder = None
    if resume is not None:
        folder = JobFolder(dst).lock()  # one process per job, from here to the end of run_job
        try:
            folder.check_plain_run(discard, resume)
        except BaseException:
            folder.unlock()
            raise
    return Job(
        src,
        dst,
        video,
        out_enc,
        cmp_enc,
        resume,
        segment_frames,
        discard,
        folder,
        chunk_frames=chunk_frames,
        dst_seen=output_identity(dst),
    )


def output_identity(path):
    """What tells one version of the file or folder ``path`` from another (None: there is none)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def upscale_file(upscaler, src, dst, video=None, *, model_path=None, report=print, progress=True):
    """Super-resolve the video file or frame folder ``src`` into ``dst`` with ``upscaler`` (:func:`prepare_job`,
    then :func:`run_job`; ``Upscaler.upscale_video``).  Returns the number of frames."""
    for name, value in (("src", src), ("dst", dst)):
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise UserError(f"{name} {short(value)}: expected the path of a video file or of a folder of frames")
    if not os.path.lexists(src):  # named as the argument (upscale.py names the path alone)
        raise UserError(f"src {shown(os.fsdecode(src))}: input not found (expected a video file or a folder of frames)")
    return run_job(upscaler, prepare_job(src, dst, video, model_path), report=report, progress=progress)


def run_job(upscaler, job, report=print, progress=True):
    """Run a :func:`prepare_job`-checked job: decoding, inference and encoding overlapped; the
    outputs renamed into place only when complete (a resumable job: :mod:`tecogan.jobs.segments`).
    Returns the number of frames.  ``video.quiet``: only warnings, errors and the final line."""
    with quiet(job.video.quiet):
        return _run_job(upscaler, job, report, progress)


def _run_job(upscaler, job, report, progress):
    try:
        run = _start(upscaler, job, report)
    except BaseException:
        job.release()
        raise
    if job.resume is not None:
        return run_segments(upscaler, run, progress=progress)
    video, size, sink, compare = job.video, run.size, run.sink, run.compare
    bicubic = compare_upsampler(run.arch)
    writer = BackgroundWriter()
    ok, count, started = False, 0, time.perf_counter()
    bar = Progress(total=run.source.count, desc="upscale", quiet=video.quiet or not progress, estimate=estimator(upscaler))
    try:
        for out in upscale_with_cuts(upscaler, run.frames, run.detector):
            image = resize_frame(out.image, size) if size else out.image
            writer.put(sink, out.name, image, out.time)
            if compare is not None:
                half = bicubic(out.lr)
                writer.put(compare, out.name, side_by_side(resize_frame(half, size) if size else half, image), out.time)
            count += 1
            bar.update(1)
        writer.close()
        ok = True
    finally:
        bar.close()
        _close(writer, sink, compare, ok)
    run.finished(count, started)
    return count


@dataclass
class Run:
    """An opened job (:func:`_start`): its source, checked encodings, frames (from the first), the
    final size (None: the network's), sinks (None for a resumable job), report functions and the
    scene-cut detector (None: ``scene_cuts`` off)."""

    job: Job
    source: object
    out_enc: object
    cmp_enc: object
    frames: object
    size: tuple | None
    arch: dict
    sink: object
    compare: object
    report: object
    summary: object
    detector: CutDetector | None = None
    first_hw: tuple = None  # (h, w) of the input's frames

    def final_image(self, image):
        return resize_frame(image, self.size) if self.size else image

    def finished(self, count, started, resumed=0):
        if self.detector is not None and self.detector.index == count:  # (a resumed assembly alone sees none)
            self.report(describe_cuts(self.detector.cuts))
        seconds = time.perf_counter() - started
        job, made = self.job, count - resumed
        self.summary(
            f"{made} frames in {seconds:.2f} s ({made / max(seconds, 1e-9):.2f} frames/s) "
            + (f"+ {resumed} resumed " if resumed else "")
            + "-> "
            f"{shown(job.dst)}" + (f" and {shown(job.video.compare)}" if job.video.compare else "")
        )


def _start(upscaler, job, report):
    """Open the source (and, for a plain job, the sinks), read the first frame, probe the encoders
    with the final size and report what will be done."""
    src, dst, video, out_enc, cmp_enc = job.src, job.dst, job.video, job.out_enc, job.cmp_enc
    source = open_source(src, video.fps, video.start, video.duration, video.deinterlace)
    out_enc, cmp_enc = _follow_depth(source, video, out_enc, cmp_enc)
    arch = upscaler.generator.arch()
    sink = compare = None
    if job.resume is None:
        sink = open_sink(dst, source, out_enc, audio=video.audio)
        compare = open_sink(video.compare, source, cmp_enc, audio=video.audio, panes=2) if video.compare else None
    frames = prefetch(source.frames(), maxsize=4)
    first = next(frames, None)
    if first is None:
        raise UserError(f"{shown(src)}: no frames")
    h, w = first.image.shape[:2]
    opts = upscaler.options
    size = output_size(w, h, arch["scale"], video)
    summary = report  # --quiet keeps the final line
    if video.quiet:
        report = lambda _line: None  # noqa: E731 - --quiet: the final line only
    final = size or (w * arch["scale"], h * arch["scale"])
    probe = sink if sink is not None else (VideoSink(out_enc, source, audio=False) if out_enc is not None else None)
    for target, (out_w, out_h) in ((probe, final), (compare, (2 * final[0], final[1]))):
        if target is not None and hasattr(target, "probe"):  # the encoder takes this size: checked before
            target.probe(out_h, out_w)  # any frame is upscaled (8x20000 x4 is not)
    # the generator's own architecture values (an FRNet: nf, nb and a non-reference FNet width)
    settings = own_settings(arch, " ")
    own = f" {settings}" if settings else ""
    report(
        f"{shown(src)} -> {shown(dst)}: {arch['degradation']} generator{own}, "
        f"{w}x{h} -> {final[0]}x{final[1]}"
        + (f" (x{arch['scale']}, then resized)" if size else "")
        + f", {source.describe()}, device {upscaler.device}"
        + (f", tiles {opts.tile}+{opts.tile_overlap}" if opts.tile else "")
    )
    report(f"model input: {INPUT_KINDS[arch['degradation']]}")
    if arch["degradation"] == "BD" and isinstance(source, VideoSource):
        warn(
            f"{shown(src)}: this is a BD model (for Gaussian-blurred, subsampled frames); on an ordinary video "
            f"its pixels sit {(arch['scale'] - 1) / 2:g} px off: use --model {DEFAULT_MODEL} for videos shrunk "
            "the usual way"
        )
    if sink is not None:
        report(f"writing {sink.describe()}")
    detector = CutDetector() if video.scene_cuts == "on" else None
    return Run(job, source, out_enc, cmp_enc, _chain(first, frames), size, arch, sink, compare, report, summary, detector, (h, w))


def _follow_depth(source, video, *encodings):
    """More than 8 bits in: the encodings follow (h265, av1, vp9, ffv1; not without --pix_fmt
    for h264) and the frames are decoded, upscaled and encoded as uint16 RGB when an output
    keeps the depth (a PNG folder stays 8-bit)."""
    bits = getattr(source, "bits", 8)
    if bits <= 8:
        return encodings
    if video.pix_fmt is None:
        encodings = tuple(follow_depth(e, bits, source.chroma) if e is not None else None for e in encodings)
    source.deep = any(e is not None and bits_of(e.pix_fmt) > 8 for e in encodings)
    return encodings


def _chain(first, rest):
    yield first
    yield from rest


def _close(writer, sink, compare, ok):
    """Finish or discard the writer and both sinks; the first error is the one reported."""
    if not ok:
        try:
            writer.close(discard=True)
        except BaseException:
            pass
    try:
        sink.close(ok)  # verified and renamed into place, or removed
    except BaseException:
        ok = False
        raise
    finally:
        if compare is not None:
            compare.close(ok)
