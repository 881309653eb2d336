"""``upscale.py IN OUT --scene_cuts on --ray ADDRESS``: one Ray task per chunk of a chunked job
(:mod:`tecogan.jobs.chunks`) on a Ray cluster whose nodes share the job's folder.

The command (the driver) runs the first pass, submits one task per chunk not yet done, prints
each finished chunk with the job's progress and the time left, and assembles.  A task runs
:meth:`~tecogan.jobs.chunks.ChunkedJob.run_chunk` in a Ray worker process, which loads the model
once and keeps it for every chunk it is given (:func:`cached_upscaler`; a batch's tasks share
it too, :mod:`tecogan.jobs.ray_batch`).  The tasks take the chunks' leases as ``--worker`` does,
so ``--worker`` processes may help, and a task that Ray reruns after its node was lost
(``max_retries``) waits for the dead node's lease to expire and continues the chunk from its
last recorded segment.  ``ray`` is an optional dependency (``pip install tecogan[ray]``),
imported only for ``--ray``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import time

from tecogan.errors import UserError
from tecogan.inference.upscaler import Upscaler
from tecogan.jobs.chunks import ChunkedJob
from tecogan.networks import generator_from_checkpoint
from tecogan.utils.errors import one_line
from tecogan.video import shown

MAX_RETRIES = 3  # reruns of a task whose worker process or node died
CANCEL_WAIT = 15  # seconds an interrupted driver gives its cancelled tasks to release their chunks' leases


def check_ray_address(address):
    """``HOST:PORT`` that accepts a connection, or ``auto``; else one line (never a hang)."""
    if address == "auto":
        return
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--ray {address}: expected HOST:PORT of a Ray cluster's head (e.g. 10.0.0.5:6379) or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as err:
        raise UserError(
            f"--ray {address}: no Ray cluster answers there ({err.strerror or err}); start one with "
            "`ray start --head` or check the address"
        ) from None


def import_ray():
    """The ray module (an optional dependency), or one line saying how to install it."""
    try:
        import ray  # optional dependency: only --ray needs it (pip install tecogan[ray])
    except ImportError:
        raise UserError("--ray: the ray package is not installed (pip install 'tecogan[ray]')") from None
    return ray


_UPSCALERS = {}  # in a Ray worker process: (model, its arguments, options) -> Upscaler (the model loaded once)
_JOBS = {}  # in a Ray worker process: a job's spec -> its ChunkedJob (set up once)
KEEP_JOBS = 16  # a batch's files each have a job: the oldest are dropped (set up again if asked for)


def _quiet(_line):
    pass


def cached_upscaler(spec):
    """The Upscaler of ``spec`` (model, model_args, options) in this worker process, made once."""
    key = repr((spec["model"], spec["model_args"], spec["options"]))
    upscaler = _UPSCALERS.get(key)
    if upscaler is None:
        generator = generator_from_checkpoint(spec["model"], **spec["model_args"])
        upscaler = _UPSCALERS[key] = Upscaler(generator, spec["options"], report=_quiet)
    return upscaler


def cached_job(spec, create=False):
    """The ChunkedJob of ``spec`` (its model, its ``job`` and ``lease``) in this worker process, set
    up once (``create``: the first pass runs here when no process has made it yet)."""
    key = repr(spec)
    chunked = _JOBS.get(key)
    if chunked is None:
        chunked = ChunkedJob(cached_upscaler(spec), spec["job"], lease=spec["lease"], report=_quiet)
        if chunked.setup(create=create) is None:
            raise UserError(f"{spec['job'].dst}: assembled by another process while this task started")
        while len(_JOBS) >= KEEP_JOBS:
            _JOBS.pop(next(iter(_JOBS)))
        _JOBS[key] = chunked
    return chunked


def job_spec(job, options, *, model, model_args=None, lease=None):
    """What a task needs to make ``job``'s chunks (picklable; its folder's lock stays here)."""
    return {
        "model": model,
        "model_args": {k: v for k, v in (model_args or {}).items() if v is not None},
        "options": options,
        "job": dataclasses.replace(job, folder=None),
        "lease": lease,
    }


def chunk_task(spec, index):
    """Make chunk ``index`` of the job ``spec`` describes (in a Ray worker process); waits while
    another process holds it.  Returns (state, seconds, frames made, host)."""
    chunked = cached_job(spec)
    started = time.perf_counter()
    while (state := chunked.run_chunk(index)) == "busy":
        time.sleep(chunked.poll)
    frames = chunked.last[1] if state == "made" else 0
    return state, time.perf_counter() - started, frames, socket.gethostname()


def join(ray, address, cpus=1.0, gpus=0.0):
    """Connect this process to the Ray cluster at ``address`` (one line when it cannot), and check
    that one of its nodes can run a task of ``cpus`` CPUs and ``gpus`` GPUs: Ray would otherwise
    wait for such a node for ever, without a word."""
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise UserError(f"--ray {address}: cannot join the Ray cluster ({one_line(err)})") from None
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    if not any(node.get("CPU", 0) >= cpus and node.get("GPU", 0) >= gpus for node in nodes):
        largest = max(nodes, key=lambda node: (node.get("GPU", 0), node.get("CPU", 0)), default={})
        ray.shutdown()
        raise UserError(
            f"--ray_cpus {cpus:g} --ray_gpus {gpus:g}: no node of the Ray cluster at {address} has that much "
            f"(the largest of its {len(nodes)} node(s): {largest.get('CPU', 0):g} CPUs, "
            f"{largest.get('GPU', 0):g} GPUs); ask for less, or add such a node first"
        )


def run_on_ray(upscaler, job, address, *, model, model_args=None, cpus=1.0, gpus=0.0, lease=None, report=print, summary=None):
    """The chunked ``job`` on the Ray cluster at ``address``; returns the output's frame count."""
    ray = import_ray()
    join(ray, address, cpus, gpus)  # before the first pass: a refused request leaves no job folder
    try:
        chunked = ChunkedJob(upscaler, job, lease=lease, report=report, summary=summary)
        if chunked.setup() is None:
            (summary or report)(f"{job.dst}: assembled by another worker")
            return None
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES)(chunk_task)
        spec = job_spec(job, upscaler.requested, model=model, model_args=model_args, lease=lease)
        refs = {task.remote(spec, index): index for index in chunked.pending()}
        report(f"ray: {len(refs)} of {len(chunked.chunks)} chunks submitted to {address} ({cpus:g} CPUs, {gpus:g} GPUs a task)")
        try:
            _follow(ray, refs, chunked, report)
        except KeyboardInterrupt:
            _cancel(ray, refs)
            raise
    finally:
        ray.shutdown()
    return chunked.assemble()


def _follow(ray, refs, chunked, report):
    """Report each chunk as its task ends (``refs``: task -> chunk index, emptied as they end)."""
    started, made = time.perf_counter(), 0
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1, timeout=30)
        for ref in ready:
            index = refs.pop(ref)
            try:
                state, seconds, frames, host = ray.get(ref)
            except ray.exceptions.RayError as err:
                raise UserError(
                    f"--ray: chunk {index} failed on the cluster ({one_line(err)}); the chunks done are "
                    f"kept in {shown(chunked.folder.path)}: the same command continues"
                ) from None
            if state == "assembled":  # another worker made the output meanwhile: assemble() says so
                continue
            made += frames
            progress = chunked.progress_line(made, time.perf_counter() - started)
            report(f"chunk {index} {state} on {host} in {seconds:.2f} s; {progress}")


def _cancel(ray, refs):
    """Ctrl-C on the driver: cancel the tasks still running (KeyboardInterrupt in each, so they release
    their chunks' leases and a rerun continues at once, not after the leases expire) and wait a
    little for them to end; Ray would otherwise kill them at shutdown with the leases held."""
    for ref in refs:
        with contextlib.suppress(Exception):
            ray.cancel(ref)
    with contextlib.suppress(Exception):
        ray.wait(list(refs), num_returns=len(refs), timeout=CANCEL_WAIT)
