"""The loops over a chunked job's chunks (:mod:`tecogan.jobs.chunks`) for ``upscale.py``:
``--worker`` (any chunk nobody holds), ``--shard I/N`` (chunks I, I+N, ...) and ``--assemble``.
No coordinator: processes meet only in the job folder.  A worker takes chunks until none is
left undone, waiting while others hold the rest (a holder that dies leaves its lease to
expire: its chunk is then taken over here); the process that finds every chunk done assembles
the output (one at a time, under a lease)."""

from __future__ import annotations

import time

from tecogan.jobs.batch import parse_shard
from tecogan.jobs.chunks import ChunkedJob
from tecogan.jobs.video_job import output_identity
from tecogan.utils.errors import UserError
from tecogan.utils.progress import counted


def shard_indices(text, count):
    """The chunks of ``--shard I/N`` among ``count``: I, I+N, ..."""
    index, parts = parse_shard(text)
    return list(range(index, count, parts))


def work(upscaler, job, *, shard=None, lease=None, report=print, progress=True, summary=None):
    """Run chunks of ``job`` until every chunk (of the shard) is done, then assemble when all
    are; returns the output's frame count, or None when others still have chunks to make."""
    if shard is not None:
        parse_shard(shard)  # before the first pass: a bad value is one line
    chunked = ChunkedJob(upscaler, job, lease=lease, report=report, summary=summary)
    if chunked.setup() is None:
        (summary or report)(f"{job.dst}: assembled by another worker")
        return None
    count = len(chunked.chunks)
    mine = None if shard is None else shard_indices(shard, count)
    where = "" if shard is None else f" (shard {shard}: {len(mine)} of {count} chunks)"
    report(f"{chunked.folder.path}: {counted(count, 'chunk')}{where}")
    started, made = time.perf_counter(), 0
    while chunked.folder.exists():
        pending = chunked.pending(mine)
        if not pending:
            break
        busy = 0
        for index in pending:
            state = chunked.run_chunk(index, progress=progress and not job.video.quiet)
            if state == "busy":
                busy += 1
            elif state == "made":
                seconds, frames = chunked.last
                made += frames
                start, end = chunked.chunks[index]
                report(
                    f"chunk {index} (frames {start}-{end - 1}): {frames} frames in {seconds:.2f} s; "
                    + chunked.progress_line(made, time.perf_counter() - started)
                )
        if busy == len(pending):
            time.sleep(chunked.poll)  # all held by others: look again (a dead holder's lease expires)
    if not chunked.folder.exists():
        (summary or report)(f"{job.dst}: assembled by another worker")
        return None
    left = chunked.pending()
    if left:
        (summary or report)(
            f"this worker's chunks are done; {len(left)} of {count} chunks are left to other workers (the last "
            "to finish assembles, or --assemble when all are done)" + chunked.describe_damaged(left)
        )
        return None
    return chunked.assemble()


def check_assemblable(job):
    """``--assemble`` before the model loads: one line if the output has no chunked job (and is
    not there) or a chunk is not done, so nothing about the model is printed before it.  What
    needs the model (a job made with these options) is checked after, by ``setup``."""
    chunked = ChunkedJob(None, job)
    found = chunked.folder.manifest()
    if found is None and output_identity(job.dst) is None:
        raise chunked.no_job()
    if found is not None and "chunked" in found:  # else assembled meanwhile, or another kind of job
        chunked.manifest = found
        chunked.raise_not_done()


def assemble_only(upscaler, job, *, report=print):
    """``--assemble``: the output of a chunked job whose chunks are all done (else one line)."""
    chunked = ChunkedJob(upscaler, job, report=report)
    if chunked.setup(create=False) is None:
        report(f"{job.dst}: assembled by another worker")
        return None
    count = chunked.assemble()
    if count is None and not chunked.folder.exists():
        return None
    if count is None:
        raise UserError(f"--assemble {job.dst}: another process is assembling it now")
    return count
