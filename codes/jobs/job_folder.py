"""The job folder of a resumable upscale: ``.<OUTPUT NAME>.tecogan-job/`` beside the output.

It holds ``manifest.json`` (what makes the output's pixels: the input's fingerprint, the model
weights' SHA-256, every option that changes pixels or the encoding, the CPU's flags and thread
count, library versions) and, per completed segment of frames, a record ``segNNNNNN.json``
written last (through a temporary file and a rename, after the segment's files are on disk):
the encoded segment file (or the names and sizes of its PNG frames, kept under ``frames/``), and
the recurrent state after its last frame in ``segNNNNNN.npz`` (numpy, read without pickle).  A
SIGKILL or a power loss at any moment leaves a consistent job: a record exists only for a
segment whose files are complete (size and SHA-256, PNG frames too), and a record whose files do
not match it ends the usable prefix.  Only the newest state is kept: a segment's state replaces
the one before it once the segment's record is on disk, so the folder holds the encoded segments
(or PNG frames), one state and small records.  ``complete.json`` says every frame is done (only
the final file is left to assemble) and names the records it covers by their hash.

One process works on a job at a time: :meth:`JobFolder.lock` takes ``.<OUTPUT>.tecogan-lock``
beside the output (:mod:`tecogan.utils.locks`) before the folder is looked at.  The folder is
treated as an output (:func:`tecogan.utils.outputs.check_job_folder`): removed or resumed only
while it holds nothing but a job's files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil

import numpy as np

from tecogan.errors import JobDamaged, UserError
from tecogan.jobs.job_state import pack_state, state_problem, unpack_state
from tecogan.utils.errors import warn
from tecogan.utils.fileio import atomic_write, atomic_write_json, read_json_object
from tecogan.utils.fingerprint import describe_differences, differences
from tecogan.utils.hashing import file_sha256
from tecogan.utils.locks import FileLock
from tecogan.utils.outputs import check_job_folder
from tecogan.utils.tempfiles import NAME_MAX, is_own_temp, remove_own_temps, remove_stale_temps, temp_sibling
from tecogan.video.common import not_writable, shown

JOB_VERSION = 1
JOB_SUFFIX = ".tecogan-job"
LOCK_SUFFIX = ".tecogan-lock"
MANIFEST = "manifest.json"
COMPLETE = "complete.json"
FRAMES_DIR = "frames"


def job_path(dst, suffix=JOB_SUFFIX):
    """``.<name>.tecogan-job`` beside the output ``dst`` (``suffix``: ``.tecogan-lock``, its lock);
    a name too long for one file name (255 bytes) is cut and marked with a hash of the whole name,
    so two long names stay apart."""
    folder, name = os.path.split(os.path.abspath(os.fspath(dst)))
    entry = f".{name}{suffix}"
    if len(os.fsencode(entry)) > NAME_MAX:
        mark = "-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
        budget = NAME_MAX - len(os.fsencode(f".{mark}{suffix}"))
        entry = f".{os.fsdecode(os.fsencode(name)[:budget])}{mark}{suffix}"
    return os.path.join(folder, entry)


def lock_path(dst):
    return job_path(dst, LOCK_SUFFIX)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path):
    data = read_json_object(path)
    return data if data is not None and data.get("version") == JOB_VERSION else None


def _records_hash(records):
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


class JobFolder:
    """The job folder of the output ``dst`` (see the module's text)."""

    def __init__(self, dst):
        self.dst = os.fspath(dst)
        self.path = job_path(dst)
        self.frames_dir = os.path.join(self.path, FRAMES_DIR)
        self._lock = FileLock(lock_path(dst), f"the job of {shown(self.dst)}")
        self._hashes = {}  # path -> (size, mtime_ns, sha256): files verified once per change
        self.continued = False  # set by begin(): an existing job was continued

    # ---------------------------------------------------------------- lock ----
    def lock(self):
        """Take the job's lock (one process per job); a held lock is one line naming its process, a
        folder that takes no files (/proc, /sys, a read-only mount) one naming the output."""
        try:
            self._lock.acquire()
        except OSError as err:
            raise not_writable(self.dst, err) from None
        return self

    def unlock(self):
        self._lock.release()

    @property
    def locked(self):
        return self._lock.held

    # ------------------------------------------------------------- reading ----
    def exists(self):
        return os.path.lexists(self.path)

    def manifest(self):
        """The recorded manifest, or None (missing or unreadable)."""
        return _read_json(os.path.join(self.path, MANIFEST))

    def _name(self, index, ext):
        return os.path.join(self.path, f"seg{index:06d}{ext}")

    def segment_path(self, index, ext):
        return self._name(index, ext)

    def describe(self, records=None):
        manifest = self.manifest()
        total = manifest.get("frames") if manifest else None
        records = self.records() if records is None else records
        done = records[-1]["frames_end"] if records else 0
        return f"{done} of {total} frames done" if total else f"{done} frames done"

    def _hash(self, path):
        st = os.stat(path)
        known = self._hashes.get(path)
        if known is not None and known[:2] == (st.st_size, st.st_mtime_ns):
            return known[2]
        digest = file_sha256(path)
        self._hashes[path] = (st.st_size, st.st_mtime_ns, digest)
        return digest

    def _files_valid(self, record, index):
        if record is None or record.get("index") != index or not isinstance(record.get("frames_end"), int):
            return False
        try:
            for name, facts in record["files"].items():
                path = os.path.join(self.path, name)
                if os.path.getsize(path) != facts["size"] or self._hash(path) != facts["sha256"]:
                    return False
        except (OSError, KeyError, TypeError, AttributeError):
            return False
        return True

    def _state_valid(self, record):
        try:
            return self._hash(os.path.join(self.path, record["state_file"])) == record["state_sha256"]
        except (OSError, KeyError, TypeError):
            return False

    def records(self):
        """The usable records: segments 0, 1, ... up to the first missing or not matching its
        files, cut back to the newest one whose state is on disk (only the newest is kept)."""
        out = []
        while True:
            record = _read_json(self._name(len(out), ".json"))
            if not self._files_valid(record, len(out)):
                break
            out.append(record)
        while out and not self._state_valid(out[-1]):
            out.pop()
        return out

    def load_state(self, record, frame_hw=None, scale=None):
        """The recurrent state after ``record``'s segment, checked (:func:`state_problem`) when
        the frame size and scale are given: a damaged state is one line, never resumed."""
        path = os.path.join(self.path, record["state_file"])
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            state = unpack_state(record["state"], arrays)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise JobDamaged(
                f"{shown(path)}: the recorded state cannot be read ({err}); --overwrite starts the job again"
            ) from None
        problem = state_problem(state, frame_hw, scale) if frame_hw is not None else None
        if problem:
            raise JobDamaged(f"{shown(path)}: the recorded state {problem}; it is not resumed: --overwrite starts the job again")
        return state

    # ------------------------------------------------------------- checks ----
    def check_plain_run(self, overwrite, resume):
        """Before any work (the lock held): the folder must be a job folder of ours, or it is
        refused without touching it; ``overwrite`` discards it; a plain run (no ``resume``) over a
        job with recorded work is refused, naming --resume and --overwrite; a job without any
        (killed before its first segment) is nothing to keep and is discarded."""
        if not self.exists():
            return
        check_job_folder(f"{shown(self.path)} (the job folder of {shown(os.path.basename(self.dst))})", self.path)
        if overwrite:
            self.remove()
            return
        if self.manifest() is None:
            if not [e for e in os.listdir(self.path) if not is_own_temp(e)]:
                self.remove()  # only what a run killed while making it left
                return
            raise UserError(
                f"{shown(self.path)}: a job folder of {shown(os.path.basename(self.dst))} whose "
                "manifest.json is missing or damaged; --overwrite discards it and starts again"
            )
        if "chunked" in self.manifest():  # its chunks are not this run's records: never discarded unasked
            raise UserError(
                f"{shown(self.dst)}: a chunked job of it is in {shown(self.path)} (--worker, --shard or --ray "
                "made it); continue it with the same command, or --assemble once its chunks are done; "
                "--overwrite discards it and starts again"
            )
        records = self.records()
        if not records:
            if os.path.exists(self._name(0, ".json")):  # segment 0 was recorded: its files are damaged
                if resume:
                    return  # begin() names the segment and continues the job from frame 0
                warn(
                    f"{shown(self.path)}: segment 0 does not match its record (changed or damaged); "
                    "nothing of the job is usable, so it starts again"
                )
            self.remove()  # no segment was finished: nothing to continue
            return
        if not resume:
            raise UserError(
                f"{shown(self.dst)}: an unfinished job of it is in {shown(self.path)} "
                f"({self.describe(records)}); --resume continues it, --overwrite discards it and starts "
                "again"
            )

    def begin(self, manifest, resume):
        """The usable records (a prefix, maybe empty) to continue from.  ``resume``: continue a job
        whose manifest matches (a different one is refused, naming what changed); else a new job.
        ``self.continued`` says whether an existing job was continued (maybe from frame 0)."""
        self.continued = bool(resume) and self.exists()
        if self.exists():
            if not resume:
                self.remove()
            else:
                old = self.manifest()
                if old is None:
                    raise UserError(
                        f"{shown(self.path)}: manifest.json is missing or damaged; --overwrite discards the job and starts again"
                    )
                changed = differences(old, manifest)
                if changed:
                    raise UserError(
                        f"{shown(self.dst)}: its unfinished job in {shown(self.path)} was made differently "
                        f"({describe_differences(old, manifest, changed)}); run it with the same input and options, or "
                        "--overwrite to discard it and start again"
                    )
                remove_own_temps(self.path)
                records = self.records()
                if os.path.exists(self._name(len(records), ".json")):
                    warn(
                        f"{shown(self.path)}: segment {len(records)} does not match its record (changed or damaged) "
                        f"or the state before it is gone; the job continues from frame "
                        f"{records[-1]['frames_end'] if records else 0}"
                    )
                return records
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)  # OUTPUT may name a folder that does not exist yet
        remove_stale_temps(self.path)
        tmp = temp_sibling(self.path)
        os.mkdir(tmp)
        try:
            atomic_write_json(os.path.join(tmp, MANIFEST), manifest)
            os.rename(tmp, self.path)  # the job exists only with its manifest
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(parent)
        return []

    # ------------------------------------------------------------ segments ----
    def save_segment(self, index, frames_end, state, files, extra=None):
        """Record segment ``index`` (its ``files`` complete: a video segment's path, or the PNG
        frames' paths under ``frames/``) with the recurrent state after its last frame; then the
        state before it is dropped (only the newest is needed to resume)."""
        arrays = {}
        skeleton = pack_state(state, arrays)
        npz = self._name(index, ".npz")
        buf = io.BytesIO()
        np.savez(buf, **arrays)

        def write(tmp):
            with open(tmp, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())

        atomic_write(npz, write, suffix=".npz", overwrite=True)
        listed = {}
        for path in files:
            _fsync(path)  # on disk before the record that lists it
            inner = (
                os.path.basename(path) if os.path.dirname(path) == self.path else os.path.join(FRAMES_DIR, os.path.basename(path))
            )
            listed[inner] = {"size": os.path.getsize(path), "sha256": self._hash(path)}
        if files and os.path.dirname(files[0]) != self.path:
            _fsync(self.frames_dir)
        record = {
            "version": JOB_VERSION,
            "index": index,
            "frames_end": frames_end,
            "files": listed,
            "state": skeleton,
            "state_file": os.path.basename(npz),
            "state_sha256": self._hash(npz),
            **(extra or {}),
        }
        atomic_write_json(self._name(index, ".json"), record)
        _fsync(self.path)  # the record is durable before the state it replaces goes
        if index > 0:
            try:
                os.remove(self._name(index - 1, ".npz"))
            except FileNotFoundError:
                pass

    def mark_complete(self, records):
        """Every frame is done: ``complete.json`` names the records it covers (by their hash)."""
        atomic_write_json(
            os.path.join(self.path, COMPLETE),
            {
                "version": JOB_VERSION,
                "frames": records[-1]["frames_end"] if records else 0,
                "segments": len(records),
                "records_sha256": _records_hash(records),
            },
        )

    def complete(self, records):
        """``complete.json`` when there is one, else None; one that does not agree with the
        records (changed by hand, or a segment damaged since) is refused in one line."""
        path = os.path.join(self.path, COMPLETE)
        if not os.path.lexists(path):
            return None
        done = _read_json(path)
        frames = records[-1]["frames_end"] if records else 0
        if (
            done is None
            or done.get("segments") != len(records)
            or done.get("frames") != frames
            or done.get("records_sha256") != _records_hash(records)
        ):
            raise JobDamaged(
                f"{shown(path)}: does not agree with the job's recorded segments ({len(records)} usable, "
                f"{frames} frames); the job is not assembled from it: --overwrite starts again"
            )
        return done

    def remove(self):
        """Remove the job folder: first renamed to a temporary name of ours, so a kill while
        deleting never leaves a job folder without its manifest."""
        if not os.path.lexists(self.path):
            return
        aside = temp_sibling(self.path)
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        shutil.rmtree(aside, ignore_errors=True)
