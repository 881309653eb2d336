"""The queue: jobs run one at a time (``--jobs N``: N at once), each as ``upscale.py --resume`` in a
child process (:mod:`tecogan.ui.child`), writing a resumable job folder beside its output.

* cancel: SIGTERM to the child, which stops cleanly; the finished segments stay and Resume puts
  the job back in the queue, where it continues from its last segment;
* a killed or stopped app: the children get SIGTERM too (:mod:`tecogan.ui.child`); a job whose
  record still says ``running`` is queued again at the next start and continues the same way;
* progress: frames done from the job folder's segment records and upscale.py's progress lines,
  the rate of this run, the time left; the latest upscaled frame from the newest segment.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from tecogan.jobs.job_folder import job_path
from tecogan.ui.frames import last_frame_png
from tecogan.ui.store import CONTAINER
from tecogan.utils.errors import UserError, one_line
from tecogan.utils.progress import format_seconds

# the child is started as this package's own file, so a clone's app runs the clone's code (tecogan.ui.child)
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.py")
UI_SEGMENT_FRAMES = 24  # a segment a second or so: fine progress, little lost by a cancel
PROGRESS = re.compile(r"^upscale: (\d+)/(\d+) frames", re.M)
RESULT = re.compile(r"^(\d+) frames in [\d.]+ s \([\d.]+ frames/s\)(?: \+ (\d+) resumed)?", re.M)
AUTO = re.compile(r"^auto: .*$", re.M)
ERROR = re.compile(r"^error: (.*)$", re.M)
ENDED = ("done", "failed", "cancelled")


def upscale_args(record, src, dst, segment_frames):
    """upscale.py's arguments for a job's settings (always ``--resume``: a new job or the rest of one)."""
    s = record["settings"]
    args = [
        src,
        dst,
        "--resume",
        "--segment_frames",
        str(segment_frames),
        "--model",
        s["model"],
        "--precision",
        s.get("precision") or "auto",
        "--codec",
        s.get("codec") or "h264",
    ]
    if s.get("crf") is not None:
        args += ["--crf", str(int(s["crf"]))]
    if s.get("size") == "factor":
        args += ["--outscale", f"{s['factor']:g}"]
    elif s.get("size") == "height":
        args += ["--target_height", str(int(s["height"]))]
    for name in ("start", "duration"):
        if s.get(name) is not None:
            args += [f"--{name}", f"{s[name]:g}"]
    if s.get("device"):
        args += ["--device", s["device"]]
    if s.get("threads"):
        args += ["--threads", str(s["threads"])]
    return args


def job_counts(dst):
    """(frames done, frames in all) of the resumable job of ``dst`` from its folder (None: unknown)."""
    folder = job_path(dst)
    total = done = None
    newest = None
    try:
        with open(os.path.join(folder, "manifest.json")) as f:
            total = json.load(f).get("frames")
        names = sorted(n for n in os.listdir(folder) if re.fullmatch(r"seg\d{6}\.json", n))
        if names:
            with open(os.path.join(folder, names[-1])) as f:
                record = json.load(f)
            done = record.get("frames_end")
            videos = [n for n in record.get("files", {}) if os.path.splitext(n)[1] in set(CONTAINER.values())]
            newest = os.path.join(folder, videos[0]) if videos else None
    except (OSError, ValueError, AttributeError):
        pass
    return done, total, newest


class JobQueue:
    """Runs the store's queued jobs; ``workers`` at a time."""

    def __init__(self, store, workers=1, segment_frames=UI_SEGMENT_FRAMES, device=None, threads=None):
        self.store, self.workers, self.segment_frames = store, workers, segment_frames
        self.device, self.threads = device, threads
        self._cv = threading.Condition()
        self._runs = {}  # job id -> {"proc", "t0", "done0", "cancel"}
        self._threads = []
        self._stopping = False

    # ------------------------------------------------------------ life ----
    def start(self):
        """Jobs a stopped or killed app left running are queued again, then the workers start."""
        for record in self.store.jobs():
            if record["state"] == "running":
                self.store.update(
                    record["id"],
                    state="queued",
                    message="interrupted (the app stopped); continues from its last finished segment",
                )
        for i in range(self.workers):
            t = threading.Thread(target=self._worker, name=f"tecogan-ui-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout=60):
        """Stop the running jobs (SIGTERM: their finished segments stay) and the workers; the jobs
        stay queued, so the next start continues them."""
        with self._cv:
            self._stopping = True
            runs = list(self._runs.values())
            self._cv.notify_all()
        for run in runs:
            _terminate(run["proc"])
        for t in self._threads:
            t.join(timeout)

    # --------------------------------------------------------- actions ----
    def submit(self, name, settings, place_input):
        """A new queued job; the app's --device and --threads are recorded with it (a resume after a
        restart with other options runs it as it began: the job folder checks the numerics)."""
        settings = {"device": self.device, "threads": self.threads, **settings}
        record = self.store.create(name, settings, place_input)
        with self._cv:
            self._cv.notify_all()
        return record

    def cancel(self, job_id):
        """A queued job leaves the queue; a running one stops, keeping its finished segments."""
        with self._cv:
            record = self.store.get(job_id)
            run = self._runs.get(job_id)
            if run is not None:
                run["cancel"] = True
                _terminate(run["proc"])
                return "cancelling: the finished segments are kept"
            if record["state"] != "queued":
                raise UserError(f"job {job_id}: {record['state']}, nothing to cancel")
            self.store.update(job_id, state="cancelled", message="cancelled before it started; Resume queues it again")
            return "cancelled"

    def resume(self, job_id):
        with self._cv:
            record = self.store.get(job_id)
            if record["state"] not in ("cancelled", "failed"):
                raise UserError(f"job {job_id}: {record['state']}; only a cancelled or failed job can be resumed")
            self.store.update(job_id, state="queued", message="waiting for its turn (continues its finished segments)")
            self._cv.notify_all()
        return "queued again"

    def remove(self, job_id):
        with self._cv:
            record = self.store.get(job_id)
            if job_id in self._runs or record["state"] == "running":
                raise UserError(f"job {job_id}: running; cancel it first")
            self.store.remove(job_id)
        return "removed"

    def wait(self, job_id, timeout=None, poll=0.2):
        """The job's record once it ended (done, failed or cancelled)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.store.get(job_id)
            if record["state"] in ENDED:
                return record
            if end is not None and time.monotonic() > end:
                raise UserError(f"job {job_id}: still {record['state']} after {timeout:g} s")
            time.sleep(poll)

    # -------------------------------------------------------- progress ----
    def progress(self, job_id):
        """``{"state", "done", "total", "fps", "left", "text", "preview"}`` of a job."""
        record = self.store.get(job_id)
        src, dst, log = self.store.paths(record)
        done, total, newest = job_counts(dst)
        if record["state"] == "done":
            done = total = record.get("frames")
        try:
            with open(log, errors="replace") as f:
                text = f.read()[-20000:]
            lines = PROGRESS.findall(text[text.rfind("---- ") :])  # this run's lines only
            if lines and record["state"] == "running":
                done = max(done or 0, int(lines[-1][0]))
                total = total or int(lines[-1][1])
        except OSError:
            pass
        run = self._runs.get(job_id)
        fps = left = None
        if run is not None and done is not None:
            seconds, done0 = time.monotonic() - run["t0"], run["done0"] or 0
            fps = (done - done0) / seconds if seconds > 0 and done > done0 else None
            if fps and total:
                left = (total - done) / fps
        preview = last_frame_png(newest, os.path.join(self.store.folder(job_id), "preview.png")) if newest else None
        if record["state"] == "done" or (preview is None and record["state"] != "running"):
            preview = self._kept_preview(job_id)
            if preview is None and record["state"] == "done" and os.path.isfile(dst):
                preview = last_frame_png(dst, os.path.join(self.store.folder(job_id), "preview.png"))
        count = f"{done or 0}/{total} frames" if total else f"{done or 0} frames"
        rate = f", {fps:.2f} frames/s" if fps else ""
        eta = f", {format_seconds(left)} left" if left is not None else (", measuring the speed" if run else "")
        text = f"{record['state']}: {count}{rate}{eta}" if record["state"] == "running" else record["state"]
        return {
            "state": record["state"],
            "done": done,
            "total": total,
            "fps": fps,
            "left": left,
            "text": text,
            "preview": preview,
        }

    def _kept_preview(self, job_id):
        path = os.path.join(self.store.folder(job_id), "preview.png")
        return path if os.path.isfile(path) else None

    # --------------------------------------------------------- running ----
    def _claim(self):
        """The oldest queued job, marked running; None when stopping."""
        with self._cv:
            while not self._stopping:
                for record in self.store.jobs():
                    if record["state"] == "queued" and record["id"] not in self._runs:
                        self.store.update(record["id"], state="running", message="starting", started=time.time())
                        self._runs[record["id"]] = {"proc": None, "t0": time.monotonic(), "done0": None, "cancel": False}
                        return record
                self._cv.wait(1.0)
        return None

    def _worker(self):
        while True:
            try:
                record = self._claim()
            except Exception as err:  # noqa: BLE001 - the work folder unreadable for a moment: try again
                print(f"warning: the queue cannot read its jobs: {one_line(err, 300)}", file=sys.stderr, flush=True)
                time.sleep(5)
                continue
            if record is None:
                return
            try:
                self._run(record)
            except Exception as err:  # noqa: BLE001 - a job's failure never ends the worker
                self._finish(record["id"], state="failed", message=f"the app could not run it: {one_line(err, 300)}")
            finally:
                with self._cv:
                    self._runs.pop(record["id"], None)

    def _run(self, record):
        job_id = record["id"]
        src, dst, log = self.store.paths(record)
        args = upscale_args(record, src, dst, self.segment_frames)
        cmd = [sys.executable, CHILD, str(os.getpid()), *args]
        err_path = os.path.join(self.store.folder(job_id), "stderr.txt")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        t0 = time.time()
        with open(log, "a") as out, open(err_path, "w") as err:
            out.write(f"---- {time.strftime('%Y-%m-%d %H:%M:%S')} upscale.py {' '.join(args)}\n")
            out.flush()
            with self._cv:
                run = self._runs[job_id]
                if self._stopping or run["cancel"]:
                    proc = None
                else:
                    proc = run["proc"] = subprocess.Popen(
                        cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=self.store.folder(job_id)
                    )
                    run["t0"], run["done0"] = time.monotonic(), job_counts(dst)[0] or 0  # this run's rate only
                    self.store.update(job_id, message="running")
            code = proc.wait() if proc is not None else None
        with open(err_path, errors="replace") as f:
            errors = f.read()
        with open(log, "a") as out:
            out.write(errors)
        with open(log, errors="replace") as f:
            text = f.read()[-50000:]
        seconds = record.get("seconds", 0.0) + (time.time() - t0)
        auto = AUTO.findall(text)
        changes = {"seconds": seconds, "auto": auto[-1] if auto else record.get("auto")}
        done, total, _ = job_counts(dst)
        if code == 0:
            result = RESULT.findall(text)
            frames = int(result[-1][0]) + int(result[-1][1] or 0) if result else total
            self._finish(
                job_id,
                state="done",
                frames=frames,
                finished=time.time(),
                message=f"done: {frames} frames in {format_seconds(seconds)}",
                **changes,
            )
        elif run["cancel"]:
            kept = f"{done or 0} of {total} frames kept" if total else "nothing finished yet"
            self._finish(job_id, state="cancelled", message=f"cancelled; {kept}: Resume continues from there", **changes)
        elif self._stopping or code is None:
            self._finish(
                job_id,
                state="queued",
                message="interrupted (the app stopped); continues from its last finished segment",
                **changes,
            )
        else:
            lines = ERROR.findall(errors)
            why = lines[-1] if lines else (errors.strip().splitlines() or [f"exit status {code}"])[-1]
            self._finish(job_id, state="failed", message=why, **changes)

    def _finish(self, job_id, **changes):
        try:
            self.store.update(job_id, **changes)
        except UserError:  # removed meanwhile
            pass


def _terminate(proc):
    if proc is not None and proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
