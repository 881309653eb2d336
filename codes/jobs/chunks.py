"""One video in chunks that any number of processes, on any number of machines sharing the
folder, make independently (``upscale.py IN OUT --scene_cuts on --worker | --shard I/N |
--assemble | --ray ADDRESS``; the loops are in :mod:`tecogan.jobs.workers`).

With ``--scene_cuts on`` the recurrence restarts at every hard cut, so the shots are independent.
A first pass (:meth:`ChunkedJob.setup`, under the job's setup lease) decodes the input's LR
frames, finds the cuts and records them, with the chunks (:func:`~tecogan.jobs.scene_cuts.chunk_bounds`:
a chunk starts at a cut once the chunk before holds ``chunk_frames`` frames; a longer shot stays
one chunk), in the job folder's manifest.  Chunk ``i`` is made in ``<job>/c00000i/`` as a
resumable job of its own (segments of ``segment_frames`` from the chunk's first frame, each
recorded with its state): it decodes the input up to its first frame (cheap next to the
network), replays the recorded cuts, and writes the frames, encoded, with the timestamps they
have in the whole clip; ``c00000i.json`` says it is done.  Its lease ``c00000i.lease``
(:mod:`tecogan.utils.leases`) keeps other workers off; a worker that dies leaves its lease to
expire, and the next worker continues the chunk from its last recorded segment.  When every
chunk is done, one process (under ``assemble.lease``) copies the segments' packets into the
output as a single-machine job does (:mod:`tecogan.jobs.assembly`).

A single-machine ``--scene_cuts on`` job ends a segment where a chunk starts
(:func:`tecogan.jobs.segments.upscale_segments`), so both encode the same segments: the outputs
are the same, decoded, for every codec (and the same bytes where the encoder is deterministic).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import time

from tecogan.errors import JobDamaged, UserError
from tecogan.jobs.assembly import assemble
from tecogan.jobs.job_folder import FRAMES_DIR, JobFolder, job_path
from tecogan.jobs.scene_cuts import CutDetector, ReplayDetector, chunk_bounds, describe_cuts, format_time
from tecogan.jobs.segments import job_manifest, upscale_segments
from tecogan.jobs.video_job import _start, output_identity
from tecogan.utils.errors import warn
from tecogan.utils.fileio import atomic_write_json, read_json_object
from tecogan.utils.fingerprint import describe_differences, differences, numerics
from tecogan.utils.leases import Lease
from tecogan.utils.progress import counted
from tecogan.video import VideoSink, shown

SETUP_SUFFIX = ".tecogan-lease"  # beside the output: the first pass's lease (before the job folder exists)
ASSEMBLE_LEASE = "assemble.lease"
NOT_COMPARED = ("numerics", "chunked")  # machines may differ; the chunks are the first pass's


def chunk_name(index):
    return f"c{index:06d}"


class ChunkFolder(JobFolder):
    """The recorded segments of one chunk, ``<job folder>/c000012/`` (records as a job's)."""

    def __init__(self, job_folder, index):  # noqa: D107 - no lock of its own: the chunk's lease
        self.dst = job_folder.dst
        self.path = os.path.join(job_folder.path, chunk_name(index))
        self.frames_dir = os.path.join(self.path, FRAMES_DIR)
        self._lock = None
        self._hashes = {}


def _records_hash(records):
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def _quiet(_line):
    pass


class ChunkedJob:
    """A chunked job of ``job`` (a :func:`~tecogan.jobs.video_job.prepare_job`-checked Job, not
    locked) run with ``upscaler``; ``lease``: seconds without a heartbeat before a chunk's lease
    is taken over; ``poll``: seconds between looks while waiting for others."""

    def __init__(self, upscaler, job, lease=None, report=print, poll=None, summary=None):
        self.upscaler, self.job, self.report = upscaler, job, report
        self.summary = summary or report  # the final line (--quiet keeps it)
        self.folder = JobFolder(job.dst)
        self.lease = float(lease) if lease is not None else None
        self.poll = poll if poll is not None else min(0.5, (self.lease or 60) / 8)
        self.manifest = None
        self._leases = {}  # path -> Lease: one object per lease, so that it sees a holder's heartbeat stop

    def _lease(self, path):
        if path not in self._leases:
            self._leases[path] = Lease(path) if self.lease is None else Lease(path, self.lease)
        return self._leases[path]

    def _open(self, report=_quiet):
        if report is not _quiet:
            return _start(self.upscaler, self.job, report)
        with contextlib.redirect_stderr(io.StringIO()):  # its warnings were shown by the first opening
            return _start(self.upscaler, self.job, report)

    # ------------------------------------------------------------ the first pass ----
    def finished_elsewhere(self):
        """Another process has made the output since this job was checked (its job folder gone)."""
        now = output_identity(self.job.dst)
        return now is not None and now != self.job.dst_seen and not self.folder.exists()

    def setup(self, create=True):
        """The job's manifest with its cuts and chunks: made by the first process here (the cuts
        found on the input's frames), read by the others (whose options must be the same);
        ``create`` False (--assemble): a job that is not there is one line.  None: another worker
        made the whole output meanwhile (a short job can be done while this one loads)."""
        run = self._open(self.report)
        try:
            wanted = job_manifest(self.upscaler, run)
            # what this worker asks for, not a record it continues: every worker must ask for the same
            # precision and back-end (auto: each machine picks its own, as docs/upscale.md says)
            wanted["inference"] = self.upscaler.requested.pixels_key()
            setup = self._lease(job_path(self.job.dst, SETUP_SUFFIX))
            try:
                while not setup.try_take():
                    if self.folder.manifest() is not None:
                        break
                    time.sleep(self.poll)
                found = self.folder.manifest()
                if found is None and self.finished_elsewhere():
                    return None
                if found is None and not create:
                    raise self.no_job()
                if found is None:
                    found = self._first_pass(run, wanted)
            finally:
                setup.release()
        finally:
            run.frames.close()
        changed = differences(
            {k: v for k, v in found.items() if k not in NOT_COMPARED}, {k: v for k, v in wanted.items() if k not in NOT_COMPARED}
        )
        if "chunked" not in found:
            raise UserError(
                f"{shown(self.job.dst)}: its job in {shown(self.folder.path)} is a single-machine job; "
                "continue it with --resume (without --worker, --shard, --assemble, --ray)"
            )
        if changed:
            raise UserError(
                f"{shown(self.job.dst)}: its chunked job in {shown(self.folder.path)} was made "
                f"differently ({describe_differences(found, wanted, changed)}); run every worker with the "
                "same input and options"
            )
        self.manifest = found
        return found

    def _first_pass(self, run, manifest):
        detector, count, started = CutDetector(), 0, time.perf_counter()
        for frame in run.frames:
            detector.is_cut(frame.image, frame.time)
            count += 1
        bounds = chunk_bounds(detector.indices, count, self.job.chunk_frames)
        manifest = {**manifest, "frames": count, "chunked": {"cuts": detector.indices, "chunks": [list(b) for b in bounds]}}
        self.folder.begin(manifest, False)
        self.report(
            f"{describe_cuts(detector.cuts)}; {counted(len(bounds), 'chunk')} of {count} frames "
            f"(first pass {time.perf_counter() - started:.1f} s, recorded in {shown(self.folder.path)})"
        )
        return manifest

    # --------------------------------------------------------------- the chunks ----
    @property
    def chunks(self):
        return [tuple(b) for b in self.manifest["chunked"]["chunks"]]

    def done(self, index):
        """Chunk ``index`` is done: its mark agrees with its recorded segments."""
        mark = read_json_object(os.path.join(self.folder.path, chunk_name(index) + ".json"))
        if mark is None:
            return False
        records = ChunkFolder(self.folder, index).records()
        start, end = self.chunks[index]
        return (
            mark.get("segments") == len(records)
            and mark.get("records_sha256") == _records_hash(records)
            and bool(records)
            and records[-1]["frames_end"] == end - start
        )

    def pending(self, indices=None):
        return [i for i in (range(len(self.chunks)) if indices is None else indices) if not self.done(i)]

    def damaged(self, indices):
        """Those of ``indices`` (not done) that were done once: marked, but their files no longer
        agree with the mark (changed or damaged since)."""
        return [i for i in indices if os.path.exists(os.path.join(self.folder.path, chunk_name(i) + ".json"))]

    def describe_damaged(self, indices):
        """One clause naming the damaged chunks among ``indices`` (empty when none)."""
        bad = self.damaged(indices)
        if not bad:
            return ""
        names = ", ".join(str(i) for i in bad[:20]) + (" ..." if len(bad) > 20 else "")
        return (
            f"; chunk{'s' if len(bad) > 1 else ''} {names} of {shown(self.folder.path)} "
            f"{'were' if len(bad) > 1 else 'was'} done, but {'their' if len(bad) > 1 else 'its'} files "
            "no longer match the records (changed or damaged): the worker that takes them makes them again"
        )

    def run_chunk(self, index, progress=False):
        """Make chunk ``index`` if no other process holds it: 'done' (already), 'busy' (held),
        'assembled' (another process made the output and removed the job meanwhile: nothing is
        made or left behind), or 'made' (seconds and frames in ``self.last``)."""
        if self.done(index):
            return "done"
        if self.folder.manifest() is None:
            return "assembled"
        lease = self._lease(os.path.join(self.folder.path, chunk_name(index) + ".lease"))
        if not lease.try_take():
            return "busy"
        state = "assembled"
        try:
            if self.folder.manifest() is None:  # removed while the lease was taken (which made the folder again)
                return state
            if self.done(index):
                state = "done"
                return state
            started = time.perf_counter()
            made = self._make(index, lease, progress)
            self.last = (time.perf_counter() - started, made)
            state = "made"
            return state
        finally:
            lease.release()
            if state == "assembled":
                with contextlib.suppress(OSError):
                    os.rmdir(self.folder.path)  # only the folder the lease made again, when empty

    def _make(self, index, lease, progress):
        start, end = self.chunks[index]
        folder = ChunkFolder(self.folder, index)
        os.makedirs(folder.path, exist_ok=True)
        here = numerics(self.upscaler.device)
        records = folder.records()
        if self.damaged([index]):
            warn(
                f"chunk {index} was done, but its files no longer match the records (changed or damaged); "
                f"it is made again from frame {start + (records[-1]['frames_end'] if records else 0)}"
            )
        mark_path = os.path.join(folder.path, "numerics.json")
        if records and (read_json_object(mark_path) or {}).get("numerics") != here:
            records = []  # recorded on another kind of machine: the chunk is made here from its start
        atomic_write_json(mark_path, {"version": 1, "numerics": here})
        run = self._open()
        try:
            k = records[-1]["frames_end"] if records else 0
            last_pts = self._skip(run, start + k)
            frames = itertools.islice(run.frames, end - start - k)
            detector = ReplayDetector(self.manifest["chunked"]["cuts"], start + k)

            def check():
                if lease.lost():
                    raise UserError(
                        f"{shown(self.job.dst)}: chunk {index} was taken over by another worker (this "
                        f"one stopped for longer than the lease); it goes on there"
                    )

            done, segments = upscale_segments(
                self.upscaler,
                run,
                folder,
                records,
                frames,
                detector,
                base=start,
                total=end - start,
                progress=progress,
                last_pts=last_pts,
                check=check,
            )
        finally:
            run.frames.close()
        records = folder.records()
        if done != end - start or len(records) != segments or records[-1]["frames_end"] != done:
            raise UserError(
                f"{shown(self.job.src)}: chunk {index} has {done} frames, the first pass found "
                f"{end - start} (the input changed?); --overwrite starts the job again"
            )
        check()
        atomic_write_json(
            os.path.join(self.folder.path, chunk_name(index) + ".json"),
            {
                "version": 1,
                "index": index,
                "start": start,
                "end": end,
                "segments": len(records),
                "records_sha256": _records_hash(records),
            },
        )
        return done - k  # made here (a chunk continued from its last segment: the rest)

    def _skip(self, run, count):
        """Decode the input's first ``count`` frames (their pixels unused); the timestamp the
        segment writer gave the last of them (timestamps go on increasing across segments)."""
        tb = VideoSink(run.out_enc, run.source, audio=False).time_base if run.out_enc is not None else None
        last = None
        for i in range(count):
            frame = next(run.frames, None)
            if frame is None:
                raise UserError(
                    f"{shown(self.job.src)}: has {i} frames; the job's first pass found more (the "
                    "input changed?); --overwrite starts the job again"
                )
            if tb is not None:
                t = frame.time if frame.time is not None else i / run.source.rate
                pts = round(t / tb)
                last = last + 1 if last is not None and pts <= last else pts
        return last

    # --------------------------------------------------------------- assembly ----
    def no_job(self):
        return UserError(
            f"--assemble {shown(self.job.dst)}: no chunked job of it in {shown(self.folder.path)}; "
            "start one with --worker or --shard"
        )

    def raise_not_done(self):
        missing = self.pending()
        if missing:
            shown_ = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
            raise UserError(
                f"--assemble {shown(self.job.dst)}: {len(missing)} of {len(self.chunks)} chunks are not "
                f"done ({shown_}){self.describe_damaged(missing)}; run --worker (or the missing --shard tasks) first"
            )

    def assemble(self):
        """The output from every chunk's segments, by one process (the others: None); a chunk
        not done is one line naming it."""
        if self.finished_elsewhere():
            self.report(f"{shown(self.job.dst)}: assembled by another worker")
            return None
        self.raise_not_done()
        lease = self._lease(os.path.join(self.folder.path, ASSEMBLE_LEASE))
        if not lease.try_take():
            self.report(f"{shown(self.job.dst)}: another worker is assembling it")
            return None
        started = time.perf_counter()
        try:
            records = self._records()
            run = self._open()
            run.frames.close()
            try:
                count = assemble(run, self.folder, records)
            except BaseException:
                self.report(f"{shown(self.job.dst)}: every chunk is kept in {shown(self.folder.path)}; --assemble tries again")
                raise
            self.folder.remove()
        finally:
            lease.release()
        self.summary(
            f"{count} frames assembled from {counted(len(self.chunks), 'chunk')} in {time.perf_counter() - started:.2f} s "
            f"-> {shown(self.job.dst)}"
        )
        return count

    def _records(self):
        """Every chunk's records as one job's (paths from the job folder, frames counted from 0);
        a frame folder's PNGs linked into the job's ``frames/`` (the assembly renames it)."""
        out = []
        frames = self.job.out_enc is None
        if frames:
            os.makedirs(self.folder.frames_dir, exist_ok=True)
        for index, (start, _end) in enumerate(self.chunks):
            name = chunk_name(index)
            for record in ChunkFolder(self.folder, index).records():
                files = {}
                for inner, facts in record["files"].items():
                    if frames:
                        target = os.path.join(self.folder.frames_dir, os.path.basename(inner))
                        if not os.path.exists(target):
                            os.link(os.path.join(self.folder.path, name, inner), target)
                        files[os.path.join(FRAMES_DIR, os.path.basename(inner))] = facts
                    else:
                        files[os.path.join(name, inner)] = facts
                out.append({**record, "files": files, "frames_end": start + record["frames_end"]})
        if not out:
            raise JobDamaged(f"{shown(self.folder.path)}: no recorded segments; --overwrite starts again")
        return out

    def progress_line(self, made_frames, seconds):
        """``chunks: 3 of 12 done, 300 of 1000 frames, 1:02.00 left`` (the rate of the frames made
        by this command so far)."""
        done = [i for i in range(len(self.chunks)) if self.done(i)]
        frames = sum(b - a for i, (a, b) in enumerate(self.chunks) if i in done)
        total = self.manifest["frames"]
        left = (total - frames) * seconds / made_frames if made_frames else None
        return f"chunks: {len(done)} of {len(self.chunks)} done, {frames} of {total} frames" + (
            f", {format_time(left)} left" if left is not None else ""
        )
