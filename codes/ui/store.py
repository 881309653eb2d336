"""The web app's state: one folder (``--workdir``) that holds everything it keeps.

    WORKDIR/
      .tecogan-ui-lock          one app per work folder (held while it runs)
      uploads/                  Gradio's upload area (files arrive here, then are copied into a job)
      jobs/<id>/job.json        a job: settings, state, message, timings (written atomically)
      jobs/<id>/input/<name>    its input: a copy of the upload (a video file or a folder of frames)
      jobs/<id>/output/<name>   its output video, and while it runs the resumable job folder beside it
      jobs/<id>/log.txt         what upscale.py printed
      jobs/<id>/compare/        the images of the before/after comparison

A job folder is made under a temporary name (``jobs/.<id>.partial``) and renamed into place once
its input copy and ``job.json`` are complete: a full disk or a kill while adding a job leaves no
half job (the next start removes the temporary folder).  Every ``job.json`` is replaced by a
rename, so a kill at any moment leaves the old or the new record, never a torn one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import threading
import time

from tecogan.utils.errors import UserError, describe_os_error
from tecogan.utils.fileio import atomic_write_json
from tecogan.utils.locks import FileLock

RECORD = "job.json"
PARTIAL = ".partial"
STATES = ("queued", "running", "cancelled", "done", "failed")
FINISHED = ("done",)
APP_NAME = "tecogan-ui"


def default_workdir():
    """``$XDG_DATA_HOME/tecogan-ui`` (``~/.local/share/tecogan-ui``); macOS ``~/Library/Application
    Support/tecogan-ui``; Windows ``%LOCALAPPDATA%\\tecogan-ui``."""
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    elif os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~/AppData/Local")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, APP_NAME)


def new_id():
    """Sortable by creation time, unique: ``20261206-135501-3f9a1c``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def valid_id(job_id):
    """A job id as :func:`new_id` makes them (anything else never names a folder)."""
    if not isinstance(job_id, str) or len(job_id) != 22:
        return False
    date, clock, mark = job_id[:8], job_id[9:15], job_id[16:]
    return date.isdigit() and clock.isdigit() and job_id[8] == job_id[15] == "-" and all(c in "0123456789abcdef" for c in mark)


class JobStore:
    """The jobs of one work folder; every change of a job is written before it is reported."""

    def __init__(self, workdir):
        self.workdir = os.path.abspath(os.fspath(workdir))
        self.jobs_dir = os.path.join(self.workdir, "jobs")
        self.uploads_dir = os.path.join(self.workdir, "uploads")
        try:
            os.makedirs(self.jobs_dir, exist_ok=True)
            os.makedirs(self.uploads_dir, exist_ok=True)
        except OSError as err:
            raise UserError(f"--workdir {self.workdir}: cannot be made: {describe_os_error(err)}") from None
        self._lock = FileLock(os.path.join(self.workdir, ".tecogan-ui-lock"), f"the work folder {self.workdir}")
        self._mutex = threading.RLock()
        self._cache = {}

    # ------------------------------------------------------------ life ----
    def open(self):
        """Take the work folder (a second app on it is one line naming the first) and tidy what a
        killed app left: half-made jobs."""
        self._lock.acquire()
        for entry in os.listdir(self.jobs_dir):
            if entry.startswith(".") and entry.endswith(PARTIAL):
                shutil.rmtree(os.path.join(self.jobs_dir, entry), ignore_errors=True)
        return self

    def close(self):
        if self._lock.held:
            self._lock.release()

    # ---------------------------------------------------------- reading ----
    def folder(self, job_id):
        if not valid_id(job_id):
            raise UserError(f"job {job_id!r}: no such job")
        return os.path.join(self.jobs_dir, job_id)

    def get(self, job_id):
        """The job's record (a copy), or a one-line UserError."""
        path = os.path.join(self.folder(job_id), RECORD)
        with self._mutex:
            try:
                with open(path) as f:
                    record = json.load(f)
            except FileNotFoundError:
                raise UserError(f"job {job_id}: no such job (removed?)") from None
            except (OSError, ValueError) as err:
                raise UserError(f"{path}: cannot be read ({err}); remove the job folder") from None
        return record

    def jobs(self):
        """Every readable job, oldest first (a damaged record is left out and left alone)."""
        out = []
        for entry in os.listdir(self.jobs_dir):
            if valid_id(entry):
                try:
                    out.append(self.get(entry))
                except UserError:
                    continue
        return sorted(out, key=lambda r: (r.get("created") or 0, r["id"]))

    # ---------------------------------------------------------- writing ----
    def create(self, name, settings, place_input):
        """A new queued job: ``place_input(input_folder)`` copies its input there and returns the
        input's path; the job appears only when complete."""
        job_id = new_id()
        partial = os.path.join(self.jobs_dir, f".{job_id}{PARTIAL}")
        try:
            os.makedirs(os.path.join(partial, "input"))
            os.makedirs(os.path.join(partial, "output"))
            src = place_input(os.path.join(partial, "input"))
            final = os.path.join(self.jobs_dir, job_id)
            inside = os.path.commonpath([os.path.abspath(src), partial]) == partial  # a copy, or read in place
            record = {
                "id": job_id,
                "name": name,
                "input": os.path.join(final, os.path.relpath(src, partial)) if inside else os.path.abspath(src),
                "settings": settings,
                "state": "queued",
                "message": "waiting for its turn",
                "created": time.time(),
                "started": None,
                "finished": None,
                "seconds": 0.0,
                "frames": None,
                "auto": None,
            }
            atomic_write_json(os.path.join(partial, RECORD), record)
            os.rename(partial, final)
        except OSError as err:
            shutil.rmtree(partial, ignore_errors=True)
            raise UserError(f"{name}: the job could not be added: {describe_os_error(err)}") from None
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return record

    def update(self, job_id, **changes):
        """Change fields of a job's record (read, change, atomic replace); the new record."""
        with self._mutex:
            record = self.get(job_id)
            record.update(changes)
            atomic_write_json(os.path.join(self.folder(job_id), RECORD), record)
        return record

    def remove(self, job_id):
        """Delete the job's folder: input copy, output, log."""
        folder = self.folder(job_id)
        with self._mutex:
            self.get(job_id)
            trash = os.path.join(self.jobs_dir, f".{job_id}{PARTIAL}")
            os.rename(folder, trash)  # gone from the list at once; a kill now leaves a folder the next start removes
        shutil.rmtree(trash, ignore_errors=True)

    def paths(self, record):
        """``(input, output, log)`` of a job."""
        folder = self.folder(record["id"])
        return record["input"], os.path.join(folder, "output", output_name(record)), os.path.join(folder, "log.txt")


CONTAINER = {"h264": ".mp4", "h265": ".mp4", "av1": ".mp4", "vp9": ".webm", "ffv1": ".mkv", "prores": ".mov"}
CODECS = tuple(CONTAINER)


def output_name(record):
    """``<input stem>_x4.mp4`` (the size named as asked: ``_x2.5``, ``_1080p``)."""
    settings = record["settings"]
    stem = os.path.splitext(os.path.basename(record["input"].rstrip("/")))[0] or "video"
    size = settings.get("size", "model")
    tag = {
        "factor": f"x{settings.get('factor'):g}" if settings.get("factor") else "x",
        "height": f"{settings.get('height')}p",
    }.get(size, "x" + str(settings.get("scale", 4)))
    return f"{stem}_{tag}{CONTAINER.get(settings.get('codec') or 'h264', '.mp4')}"
