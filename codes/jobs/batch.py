"""Many inputs in one command: ``upscale.py --batch INPUTS... -o OUTPUT_DIR [--shard I/N]``.

Inputs are video files, folders of frames, folders holding those, or text files listing them
(one path a line; blank lines and ``#`` comments skipped; relative paths from the list's
folder).  Each goes to ``OUTPUT_DIR/<stem>``: a video keeps its container's extension (or
``--batch_ext``), a folder of frames becomes a folder of PNGs.  Beside each finished output a
small manifest ``.<name>.tecogan.json`` records what made it: a fingerprint of the input
(size, modification time, hashes of its head and tail), the SHA-256 of the model weights and
every option that changes pixels.  A rerun skips an output that is still what its manifest
says (same frame count and size) and was made the same way; one made another way (or with no
manifest) is refused unless ``--overwrite``.  The precision is checked against what ran (the
manifest's ``ran_with``), as ``--resume`` does: ``auto`` keeps an output made in any precision, an
explicit precision one made in it (also by ``auto``).  A failure is reported in one line and the batch
goes on; the summary counts done, skipped and failed, and the exit status is 1 if any failed.

``--shard I/N`` (I from 0 to N-1) keeps every N-th input of the sorted list starting at the
I-th, so N processes (a Slurm job array, one per GPU) split a batch with no coordinator.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from dataclasses import asdict, dataclass

import av

from tecogan import defaults
from tecogan.defaults import BACKENDS, PRECISIONS
from tecogan.inference.auto import machine_key
from tecogan.inference.precision import continuation_conflict
from tecogan.jobs.estimates import batch_estimate, probe
from tecogan.jobs.video_job import prepare_job, run_job
from tecogan.utils.errors import UserError, one_line
from tecogan.utils.fileio import atomic_write_json, list_images
from tecogan.utils.fingerprint import differences, fingerprint
from tecogan.utils.hashing import file_sha256
from tecogan.video import CONTAINERS, is_video_path, shown

MANIFEST_VERSION = 1
LIST_EXTENSIONS = (".txt", ".lst", ".list")
FALLBACK_EXT = ".mkv"  # for inputs whose container cannot be written (.ts, .flv ...)
FILE_ERRORS = (UserError, OSError, ValueError, RuntimeError, av.error.FFmpegError)  # one input's failure: one line


@dataclass(frozen=True)
class Item:
    """One input of a batch and where its output goes."""

    src: str
    dst: str

    @property
    def manifest(self):
        folder, name = os.path.split(self.dst)
        return os.path.join(folder, f".{name}.tecogan.json")


def parse_shard(text):
    """``"I/N"`` -> (I, N) with 0 <= I < N; one line otherwise."""
    if text is None:
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise UserError(f"--shard {text}: expected I/N, e.g. 0/4 (the I-th of N parts, I from 0 to N-1)")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or i >= n:
        raise UserError(f"--shard {text}: expected 0 <= I < N (I-th of N parts, counted from 0)")
    return i, n


def shard(items, index, count):
    """The ``index``-th of ``count`` deterministic parts of ``items`` (sorted by input path)."""
    return sorted(items, key=lambda it: it.src)[index::count]


def _is_frame_folder(path):
    return os.path.isdir(path) and bool(list_images(path))


def _expand(path, found, lists_seen):
    if os.path.isfile(path) and os.path.splitext(path)[1].lower() in LIST_EXTENSIONS:
        real = os.path.realpath(path)
        if real in lists_seen:
            return
        lists_seen.add(real)
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                lines = f.read().removeprefix("\ufeff").splitlines()  # a BOM (Windows Notepad) is no path
        except OSError as err:
            raise UserError(f"{shown(path)}: cannot read the list ({err.strerror or err})") from None
        base = os.path.dirname(os.path.abspath(path))
        for line in lines:
            entry = line.strip()
            if entry and not entry.startswith("#"):
                _expand(os.path.join(base, os.path.expanduser(entry)), found, lists_seen)
    elif os.path.isdir(path) and not _is_frame_folder(path):
        for name in sorted(os.listdir(path)):
            sub = os.path.join(path, name)
            if name.startswith("."):
                continue
            if (os.path.isfile(sub) and is_video_path(sub)) or _is_frame_folder(sub):
                found.append(sub)
    else:
        found.append(path)  # a video, a frame folder, or a missing path (it fails in its turn)


def collect(inputs, output_dir, batch_ext=None):
    """The batch's :class:`Item` list, sorted by input path, each input once."""
    if batch_ext is not None:
        batch_ext = batch_ext if batch_ext.startswith(".") else "." + batch_ext
        if batch_ext.lower() not in CONTAINERS:
            raise UserError(f"--batch_ext {batch_ext}: expected one of {', '.join(sorted(CONTAINERS))}")
    found, lists_seen = [], set()
    for path in inputs:
        if not os.path.exists(path):
            raise UserError(
                f"--batch {shown(path)}: not found (expected video files, frame folders, a folder "
                "of them or a text file listing them)"
            )
        _expand(os.fspath(path), found, lists_seen)
    unique = sorted({os.path.abspath(p) for p in found})
    if not unique:
        raise UserError(f"--batch {' '.join(shown(p) for p in inputs)}: no video files or frame folders found")
    items, owner = [], {}
    for src in unique:
        stem, ext = os.path.splitext(os.path.basename(src))
        if os.path.isdir(src):
            name = os.path.basename(src)
        elif is_video_path(src):
            name = stem + (batch_ext or (ext if ext.lower() in CONTAINERS else FALLBACK_EXT))
        else:
            name = stem + (batch_ext or FALLBACK_EXT)  # not a video name: fails in its turn
        dst = os.path.join(output_dir, name)
        if dst in owner:
            raise UserError(
                f"--batch: {shown(owner[dst])} and {shown(src)} would both write "
                f"{shown(dst)} (rename one, or run them in separate batches)"
            )
        owner[dst] = src
        items.append(Item(src, dst))
    return items


def recipe(model_sha256, options, video, job, model_args=None):
    """Everything that makes an output's pixels (and its file): the model weights, inference
    options and the video options and resolved encoding."""
    keep = {k: v for k, v in asdict(video).items() if k not in ("overwrite", "quiet", "compare")}
    enc = job.out_enc
    if enc is None:  # PNG frames: no encoder, no audio, no timing (unless a window is cut by it)
        keep.update(codec=None, crf=None, preset=None, pix_fmt=None, audio=True)
        if video.start is None and video.duration is None:
            keep["fps"] = None
    encoding = None if enc is None else {"codec": enc.codec, "crf": enc.crf, "preset": enc.preset, "pix_fmt": enc.pix_fmt}
    inference = options.pixels_key()
    if options.precision == "auto":  # the choice depends on the machine: its output counts as other options
        inference["auto_machine"] = machine_key()
    return {
        "model_sha256": model_sha256,
        "model_args": model_args or {},
        "inference": inference,
        "video": keep,
        "encoding": encoding,
    }


def output_facts(path):
    """What a finished output holds: frame count and bytes (a PNG folder: files and bytes)."""
    if os.path.isdir(path):
        names = [n for n in os.listdir(path) if n.lower().endswith(".png")]
        return {"frames": len(names), "size": sum(os.path.getsize(os.path.join(path, n)) for n in names)}
    with av.open(path) as c:
        frames = sum(1 for p in c.demux(c.streams.video[0]) if p.size) if c.streams.video else 0
    return {"frames": frames, "size": os.path.getsize(path)}


def read_manifest(item):
    try:
        with open(item.manifest, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) and data.get("version") == MANIFEST_VERSION else None
    except (OSError, ValueError):
        return None


# compared against what ran instead (continuation_conflict): auto's machine is recorded, not compared
PRECISION_KEYS = ("precision", "backend", "auto_machine")


def _but_precision(made_by):
    inference = made_by.get("inference")
    if not isinstance(inference, dict):
        return made_by
    return {**made_by, "inference": {k: v for k, v in inference.items() if k not in PRECISION_KEYS}}


def _precision_conflict(item, manifest, options):
    """None when an output made as ``manifest`` records may be kept by a run with ``options`` (as
    asked: precision maybe auto, backend maybe None), else the refusal's text."""
    ran = manifest.get("ran_with")
    if not isinstance(ran, dict):  # not recorded: what was asked
        ran = (manifest.get("made_by") if isinstance(manifest.get("made_by"), dict) else {}).get("inference")
    ran = ran if isinstance(ran, dict) else {}
    if ran.get("precision") not in PRECISIONS or ran.get("precision") == "auto" or ran.get("backend") not in BACKENDS:
        if options.precision == ran.get("precision"):
            return None
        return f"{shown(item.dst)} was made differently (inference.precision changed); --overwrite replaces it"
    conflict = continuation_conflict(options.precision, options.backend, ran["precision"], ran["backend"])
    if conflict is None:
        return None
    given, what, fix = conflict
    return f"{shown(item.dst)} was made in {what}, not as {given} asks; rerun with {fix}, or --overwrite replaces it"


def decide(item, made_by, overwrite, options=None):
    """'run', 'skip' or a refusal (a UserError) for an item whose output may exist; ``options``:
    the inference options as asked (precision and backend are then checked against what ran)."""
    if not os.path.lexists(item.dst):
        return "run"
    manifest = read_manifest(item)
    if manifest is None:
        if overwrite:
            return "run"
        if os.path.lexists(item.manifest):  # safe to refuse all the same: who made it cannot be told
            raise UserError(
                f"{shown(item.dst)}: its manifest {shown(os.path.basename(item.manifest))} is damaged (not this "
                "project's JSON), so what made it cannot be told; --overwrite replaces it"
            )
        raise UserError(
            f"{shown(item.dst)} exists and was not made by this batch (no manifest "
            f"{shown(os.path.basename(item.manifest))}); --overwrite replaces it"
        )
    old = manifest.get("made_by") if isinstance(manifest.get("made_by"), dict) else {}
    if options is None:
        differs = differences(old, made_by)
    else:
        differs = differences(_but_precision(old), _but_precision(made_by))
    if differs:
        if overwrite:
            return "run"
        raise UserError(f"{shown(item.dst)} was made differently ({', '.join(differs)} changed); --overwrite replaces it")
    conflict = None if options is None else _precision_conflict(item, manifest, options)
    if conflict is not None:
        if overwrite:
            return "run"
        raise UserError(conflict)
    try:
        complete = output_facts(item.dst) == manifest.get("output")
    except (OSError, av.error.FFmpegError):
        complete = False
    if complete:
        return "skip"
    return "run"  # our own output, since damaged or changed: made again


def item_recipe(item, model_sha256, options, video, job, model_args):
    """What the manifest of ``item``'s output records as having made it: the input's fingerprint
    and :func:`recipe`."""
    return {"input": fingerprint(item.src), **recipe(model_sha256, options, video, job, model_args)}


def manifest_writer(item, made_by, upscaler):
    """The ``before_publish`` of ``item``'s job: its manifest, with what ``upscaler`` ran."""

    def write(finished):
        atomic_write_json(
            item.manifest,
            {
                "version": MANIFEST_VERSION,
                "made_by": made_by,
                "ran_with": upscaler.options.pixels_key(),  # auto resolved
                "output": output_facts(finished),
            },
        )

    return write


def _estimate_rest(measured, size, frames, seconds, rest, report):
    """Add a finished input to the batch's measured speed; after the first, say what the rest takes."""
    first = measured[1] == 0
    if size and frames and seconds > 0:
        measured[0] += frames * size[1]
        measured[1] += seconds
    if first and rest and report is not None and measured[1] > 0:
        line = batch_estimate(measured[0] / measured[1], rest)
        if line:
            report(line)


def _check_output_dir(output_dir, folders):
    """``-o`` is none of the input folders and inside no frame folder (before it is made): outputs
    there would be written among the inputs, and taken for inputs by the next run."""
    out = os.path.realpath(output_dir)
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        real = os.path.realpath(folder)
        if out == real or (_is_frame_folder(folder) and out.startswith(real.rstrip(os.sep) + os.sep)):
            raise UserError(
                f"-o {shown(output_dir)}: {'is' if out == real else 'lies inside'} the input {shown(folder)}; "
                "write the outputs to a folder outside it (they would be taken for inputs next time)"
            )


def open_batch(inputs, output_dir, video, shard_text=None, batch_ext=None, report=print):
    """The checks before any work, then the batch's (or shard's) items with ``-o`` made; returns
    (items, where: the shard's words for the lines)."""
    index, count = parse_shard(shard_text)
    if video.compare:
        raise UserError("--compare: not available with --batch (run the comparison on one file)")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UserError(f"-o {shown(output_dir)}: expected a folder for the batch's outputs")
    everything = collect(inputs, output_dir, batch_ext)
    _check_output_dir(output_dir, [os.fspath(p) for p in inputs] + [it.src for it in everything if os.path.isdir(it.src)])
    items = shard(everything, index, count)
    os.makedirs(output_dir, exist_ok=True)
    where = f" (shard {index}/{count})" if count > 1 else ""
    if not video.quiet:  # --quiet: each input's result and the summary only
        report(f"batch{where}: {len(items)} inputs -> {shown(output_dir)}")
    return items, where


def prepare_item(item, video, model_path, *, segment_frames=None, chunk_frames=defaults.CHUNK_FRAMES, resume="auto"):
    """The checked job of one input (:func:`~tecogan.jobs.video_job.prepare_job`): its output may
    exist (:func:`decide` says whether it is replaced); ``resume`` "auto": a partial output (its job
    folder made the same way) is continued, ``video.overwrite`` discards it instead."""
    if not os.path.exists(item.src):
        raise UserError(f"{shown(item.src)}: input not found")
    return prepare_job(
        item.src,
        item.dst,
        dataclasses.replace(video, overwrite=True),
        model_path=model_path,
        resume=resume,
        segment_frames=segment_frames,
        discard=video.overwrite,
        chunk_frames=chunk_frames,
    )


def run_batch(
    upscaler,
    inputs,
    output_dir,
    options,
    video,
    model_path,
    *,
    model_args=None,
    shard_text=None,
    batch_ext=None,
    segment_frames=None,
    chunk_frames=defaults.CHUNK_FRAMES,
    report=print,
    fail=print,
):
    """Process the batch (or its shard); returns (done, skipped, failed) counts."""
    items, where = open_batch(inputs, output_dir, video, shard_text, batch_ext, report)
    model_sha256 = file_sha256(model_path)
    done = skipped = failed = 0
    measured = [0.0, 0.0]  # LR pixels upscaled, seconds: the batch's speed, for its estimate
    for n, item in enumerate(items, 1):
        head = f"[{n}/{len(items)}] {shown(item.src)}"
        try:
            job = prepare_item(item, video, model_path, segment_frames=segment_frames, chunk_frames=chunk_frames)
            try:
                made_by = item_recipe(item, model_sha256, options, video, job, model_args)
                if decide(item, made_by, video.overwrite, options) == "skip":
                    job.folder.remove()  # what a run stopped just after publishing left
                    report(f"{head}: skipped, {shown(item.dst)} is complete")
                    skipped += 1
                    continue
                # the manifest is written just before the output is renamed into place: an old
                # manifest describes the old output until then, and an output never is without one
                job = dataclasses.replace(job, before_publish=manifest_writer(item, made_by, upscaler))
                started = time.perf_counter()
                frames = run_job(upscaler, job, report=report, progress=not video.quiet)
                _estimate_rest(
                    measured,
                    probe(item.src),
                    frames,
                    time.perf_counter() - started,
                    [i.src for i in items[n:]],
                    report if not video.quiet else None,
                )
            finally:
                job.release()
            done += 1
        except FILE_ERRORS as err:
            fail(f"{head}: FAILED: {one_line(err)}")
            failed += 1
    report(f"batch{where} summary: {done} done, {skipped} skipped, {failed} failed")
    return done, skipped, failed
