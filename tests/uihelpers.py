"""Helpers of the web app's tests (tests/test_ui_*.py): free ports, the app in this process or as
a command, tiny clips, waiting for a job."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from helpers import REPO

APP = REPO / "codes" / "app.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, poll=0.1):
    """``predicate()``'s first true value within ``timeout`` seconds, or an AssertionError naming ``what``."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


class InProcessApp:
    """``tecogan.app.serve`` in a thread of this process (its jobs still run as child processes)."""

    def __init__(self, workdir, *extra):
        from tecogan import app

        self.port = free_port()
        self.args = app.build_parser().parse_args(["--workdir", str(workdir), "--port", str(self.port), *extra])
        self.stop, self.ready, self.error = threading.Event(), threading.Event(), None
        self.url = f"http://127.0.0.1:{self.port}/"

        def run():
            try:
                app.serve(self.args, ready=lambda _url: self.ready.set(), stop=self.stop)
            except BaseException as err:  # noqa: BLE001 - reported by start()
                self.error = err
                self.ready.set()

        self.thread = threading.Thread(target=run, daemon=True)

    def start(self, timeout=120):
        self.env = {k: os.environ.get(k) for k in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
        self.thread.start()
        self.ready.wait(timeout)
        if self.error is not None:
            raise self.error
        return self

    def close(self):
        self.stop.set()
        self.thread.join(120)
        for k, v in self.env.items():  # serve() set them for Gradio
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_app_command(workdir, port, *extra, env=None):
    """``python codes/app.py`` as a child process (its output in workdir/../app_<port>.log)."""
    log = open(os.path.join(os.path.dirname(str(workdir)), f"app_{port}.log"), "a")
    proc = subprocess.Popen(
        [sys.executable, str(APP), "--workdir", str(workdir), "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, **(env or {})),
    )
    proc.log_path = log.name
    return proc


def wait_serving(proc, port, timeout=120):
    def up():
        if proc.poll() is not None:
            raise AssertionError(f"the app ended with status {proc.returncode}:\n{open(proc.log_path).read()}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(up, timeout, f"the app on port {port}", poll=0.2)


def stop_app(proc, sig=signal.SIGINT, timeout=60):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def tiny_clip(path, n=12, h=24, w=32, seed=0):
    from avclips import make_clip, pattern

    make_clip(path, pattern(n=n, h=h, w=w, seed=seed))
    return path


def video_facts(path):
    """(frames, width, height) of a video file, decoded."""
    import av

    with av.open(str(path)) as c:
        frames = [f for f in c.decode(video=0)]
    return len(frames), frames[0].width, frames[0].height
