"""``upscale.py --batch INPUTS... -o DIR --ray ADDRESS``: a batch (:mod:`tecogan.jobs.batch`) on a
Ray cluster whose nodes share the inputs, the model and DIR (the same paths on every node).

The command (the driver) looks at each input as ``--batch`` does: an output that is still what
its manifest says is skipped, one made another way is refused (one line; the batch goes on).
The others become Ray tasks.  With ``--scene_cuts off`` a file is one task that runs its
resumable job as ``--batch`` runs it (a task Ray reruns after its node was lost continues from
the job's last recorded segment).  With ``--scene_cuts on`` a file is a chunked job
(:mod:`tecogan.jobs.chunks`) made as ``upscale.py IN OUT --ray`` makes it: a task for the first
pass, one per chunk not done, then one that assembles the output.  Either way the output equals
what ``upscale.py IN OUT`` with the same options writes, and its manifest is written just before
it is renamed into place, as the batch writes it.  Every task loads the model once per Ray
worker process (:func:`~tecogan.jobs.ray_runner.cached_upscaler`).  The driver prints each
file's result with the batch's progress (files and frames done, the time left); a failed file
is one line and the others go on; the summary counts done, skipped and failed.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from dataclasses import dataclass

from tecogan import defaults
from tecogan.errors import LockHeld
from tecogan.jobs.batch import (
    FILE_ERRORS,
    Item,
    decide,
    item_recipe,
    manifest_writer,
    open_batch,
    output_facts,
    prepare_item,
)
from tecogan.jobs.estimates import probe
from tecogan.jobs.job_folder import JobFolder, job_path
from tecogan.jobs.ray_runner import MAX_RETRIES, cached_job, cached_upscaler, chunk_task, import_ray, job_spec, join
from tecogan.jobs.scene_cuts import format_time
from tecogan.jobs.video_job import run_job
from tecogan.utils.errors import UserError, one_line
from tecogan.utils.hashing import file_sha256
from tecogan.utils.outputs import JOB, check_outputs
from tecogan.utils.progress import counted
from tecogan.video import shown

WAIT_LEASES = 2  # a rerun task waits this many leases for its dead first try's job lock (NFS frees it late)


def _quiet(_line):
    pass


# ------------------------------------------------------- in a Ray worker process ----
def _whole(spec, item, made_by, settings):
    """``item``'s file as one resumable job, continued where a dead try left it; its frame count."""
    upscaler = cached_upscaler(spec)
    deadline = time.monotonic() + WAIT_LEASES * (spec["lease"] or defaults.LEASE_SECONDS)
    while True:
        try:
            job = prepare_item(
                item,
                settings["video"],
                settings["model"],
                segment_frames=settings["segment_frames"],
                chunk_frames=settings["chunk_frames"],
            )
            break
        except LockHeld:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    try:
        job = dataclasses.replace(job, before_publish=manifest_writer(item, made_by, upscaler))
        return run_job(upscaler, job, report=_quiet, progress=False)
    finally:
        job.release()


def _setup(spec):
    """The first pass of a chunked file (or its record read back): (chunks [(start, end)], pending)."""
    chunked = cached_job(spec, create=True)
    return chunked.chunks, chunked.pending()


def _chunk(spec, index):
    """Chunk ``index`` of a chunked file: (state, frames made)."""
    state, _seconds, frames, _host = chunk_task(spec, index)
    return state, frames


def _assemble(spec, item, made_by, settings):
    """A chunked file's output from its chunks, with the batch's manifest; its frame count."""
    # the output's replacing is checked (and recorded) in this process, as the batch's run checks it
    prepare_item(
        item,
        settings["video"],
        settings["model"],
        segment_frames=settings["segment_frames"],
        chunk_frames=settings["chunk_frames"],
        resume=None,
    )
    chunked = cached_job(spec)
    chunked.job = dataclasses.replace(chunked.job, before_publish=manifest_writer(item, made_by, chunked.upscaler))
    count = chunked.assemble()
    if count is None and chunked.folder.exists():
        raise UserError(f"{shown(item.dst)}: another process is assembling it now")
    return count if count is not None else output_facts(item.dst)["frames"]  # a rerun finds it published


STEPS = {"whole": _whole, "setup": _setup, "chunk": _chunk, "assemble": _assemble}


def batch_task(step, *args):
    """One step of a batch's file in a Ray worker process: ``step`` one of :data:`STEPS`.  Returns
    (the failure's line or None, the step's value, seconds, host)."""
    started = time.perf_counter()
    try:
        value, error = STEPS[step](*args), None
    except FILE_ERRORS as err:
        value, error = None, one_line(err)
    return error, value, time.perf_counter() - started, socket.gethostname()


# ------------------------------------------------------------------ the driver ----
@dataclass
class _File:
    """An input of the batch on its way through the cluster; ``frames``: expected (0: unknown)."""

    number: int
    item: Item
    made_by: dict
    spec: dict
    chunked: bool
    frames: int = 0
    chunks: tuple = ()
    left: int = 0  # chunks not done yet
    counted: int = 0  # frames counted done in the tally
    failed: bool = False


class _Tally:
    """The batch's files and frames done; the time left at the rate of the frames made here."""

    def __init__(self, files):
        self.files, self.done, self.failed = len(files), 0, 0
        self.total, self.frames, self.made = sum(f.frames for f in files), 0, 0
        self.started = time.perf_counter()

    def line(self):
        """``batch: 2 of 5 files done, 120 of 400 frames, 0:42.00 left``."""
        left = (self.total - self.frames) * (time.perf_counter() - self.started) / self.made if self.made else None
        return (
            f"batch: {self.done} of {self.files} files done"
            + (f", {self.failed} failed" if self.failed else "")
            + f", {self.frames} of {self.total} frames"
            + (f", {format_time(left)} left" if left is not None else "")
        )


def _remove_job(dst):
    """Remove ``dst``'s job folder (already checked to hold only a job's files) under its lock."""
    folder = JobFolder(dst)
    if folder.exists():
        folder.lock()
        try:
            folder.remove()
        finally:
            folder.unlock()


def _plan(item, number, options, video, model_path, model_sha256, settings, *, model_args, lease):
    """The :class:`_File` of an input to run, or None when its output is complete (skipped)."""
    chunked = video.scene_cuts == "on"
    job = prepare_item(
        item, video, model_path, segment_frames=settings["segment_frames"], chunk_frames=settings["chunk_frames"], resume=None
    )
    check_outputs([("job folder", job_path(item.dst), JOB)], [("INPUT", item.src), ("--model", model_path)])
    made_by = item_recipe(item, model_sha256, options, video, job, model_args)
    if decide(item, made_by, video.overwrite, options) == "skip":
        _remove_job(item.dst)  # what a run stopped just after publishing left
        return None
    found = JobFolder(item.dst).manifest()
    if video.overwrite:
        _remove_job(item.dst)
    elif chunked and found is not None and "chunked" not in found:
        raise UserError(
            f"{shown(item.dst)}: its unfinished job in {shown(job_path(item.dst))} was started without "
            "--ray (a single-machine job); continue it without --ray, or --overwrite discards it"
        )
    job = dataclasses.replace(job, resume="chunks") if chunked else job
    spec = job_spec(job, options, model=model_path, model_args=model_args, lease=lease)
    size = probe(item.src)
    return _File(number, item, made_by, spec, chunked, frames=size[0] if size else 0)


def run_batch_on_ray(
    inputs,
    output_dir,
    options,
    video,
    model_path,
    address,
    *,
    model_args=None,
    shard_text=None,
    batch_ext=None,
    segment_frames=None,
    chunk_frames=defaults.CHUNK_FRAMES,
    cpus=1.0,
    gpus=0.0,
    lease=None,
    report=print,
    fail=print,
):
    """The batch (or its shard) on the Ray cluster at ``address``; returns (done, skipped, failed)."""
    ray = import_ray()
    join(ray, address, cpus, gpus)  # a cluster that cannot be joined or run a task is one line before any work
    try:
        items, where = open_batch(inputs, output_dir, video, shard_text, batch_ext, report)
        model_sha256 = file_sha256(model_path)
        settings = {
            "video": dataclasses.replace(video, overwrite=False),
            "model": model_path,  # discarded here
            "segment_frames": segment_frames,
            "chunk_frames": chunk_frames,
        }
        files, skipped, failed = [], 0, 0
        for number, item in enumerate(items, 1):
            head = f"[{number}/{len(items)}] {shown(item.src)}"
            try:
                file = _plan(item, number, options, video, model_path, model_sha256, settings, model_args=model_args, lease=lease)
            except FILE_ERRORS as err:
                fail(f"{head}: FAILED: {one_line(err)}")
                failed += 1
                continue
            if file is None:
                report(f"{head}: skipped, {shown(item.dst)} is complete")
                skipped += 1
            else:
                files.append(file)
        done = 0
        if files:
            say = _quiet if video.quiet else report  # --quiet: each input's result and the summary only
            done, lost = _run(ray, files, len(items), address, settings, cpus, gpus, say, report, fail)
            failed += lost
    finally:
        ray.shutdown()
    report(f"batch{where} summary: {done} done, {skipped} skipped, {failed} failed")
    return done, skipped, failed


def _run(ray, files, count, address, settings, cpus, gpus, say, report, fail):
    """Submit ``files`` and follow them to the end; returns (done, failed)."""
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES)(batch_task)
    refs = {}
    for f in files:
        args = ("setup", f.spec) if f.chunked else ("whole", f.spec, f.item, f.made_by, settings)
        refs[task.remote(*args)] = (f, args)
    chunked = sum(f.chunked for f in files)
    say(
        f"ray: {len(files)} files submitted to {address} ({len(files) - chunked} whole, {chunked} in chunks; "
        f"{cpus:g} CPUs, {gpus:g} GPUs a task)"
    )
    tally = _Tally(files)
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1, timeout=30)
        for ref in ready:
            f, step = refs.pop(ref)  # step: the task's arguments
            try:
                error, value, seconds, host = ray.get(ref)
            except ray.exceptions.RayError as err:
                error, value, seconds, host = f"failed on the cluster ({one_line(err)})", None, 0.0, "?"
            if f.failed:
                continue  # its other tasks' work stays recorded for a rerun
            head = f"[{f.number}/{count}] {shown(f.item.src)}"
            if error is not None:
                f.failed = True
                tally.failed += 1
                tally.total -= f.frames - f.counted  # the frames it will not make
                fail(f"{head}: FAILED: {error}")
                continue
            for submitted in _follow(f, step, value, seconds, host, tally, head, settings, say, report):
                refs[task.remote(*submitted)] = (f, submitted)
    return tally.done, tally.failed


def _follow(f, step, value, seconds, host, tally, head, settings, say, report):
    """Count ``f``'s finished ``step`` (the task's arguments) and report it; returns the steps to
    submit next (as task arguments)."""
    assemble = ("assemble", f.spec, f.item, f.made_by, settings)
    if step[0] == "setup":
        chunks, pending = value
        frames = sum(b - a for a, b in chunks)
        tally.total += frames - f.frames
        f.frames, f.chunks, f.left = frames, tuple(chunks), len(pending)
        f.counted = sum(b - a for i, (a, b) in enumerate(chunks) if i not in pending)
        tally.frames += f.counted
        say(
            f"{head}: {counted(len(chunks), 'chunk')} of {frames} frames, {len(pending)} to make (first pass on {host} in "
            f"{seconds:.2f} s)"
        )
        return [("chunk", f.spec, index) for index in pending] if pending else [assemble]
    if step[0] == "chunk":
        (state, made), (start, end) = value, f.chunks[step[2]]
        tally.frames += end - start
        f.counted += end - start
        tally.made += made
        f.left -= 1
        say(f"{head}: chunk {step[2]} {state} on {host} in {seconds:.2f} s; " + tally.line())
        return [assemble] if f.left == 0 else []
    frames = value
    tally.total += frames - f.frames
    if step[0] == "whole":
        tally.frames += frames
        tally.made += frames
    tally.done += 1
    what = f"from {counted(len(f.chunks), 'chunk')}" if step[0] == "assemble" else "made"
    report(f"{head}: {frames} frames {what} on {host} in {seconds:.2f} s -> {shown(f.item.dst)}; " + tally.line())
    return []
