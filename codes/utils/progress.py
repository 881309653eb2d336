"""Progress of long jobs: a tqdm bar on a terminal; in logs (stdout not a terminal) one line every
few seconds with frames done / total, frames per second and the time left.

    with Progress(total=300, desc="upscale") as progress:
        for frame in frames:
            ...
            progress.update()

``quiet`` shows nothing.  Lines go to stdout, so a job started with ``> job.log`` keeps them.
"""
import sys
import time

from tqdm import tqdm

LINE_EVERY = 5.0  # seconds between progress lines in a log


def format_seconds(seconds):
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(desc, done, total, seconds, initial=0):
    """``upscale: 120/300 frames, 1.84 frames/s, 1m38s left`` (total None: no time left);
    ``initial``: frames done before this run (a resumed job), counted but not in the rate."""
    rate = (done - initial) / seconds if seconds > 0 else 0.0
    count = f"{done}/{total}" if total else f"{done}"
    left = f", {format_seconds((total - done) / rate)} left" if total and rate > 0 else ""
    return f"{desc}: {count} frames, {rate:.2f} frames/s{left}"


class Progress:
    """A bar on a terminal, periodic lines in a log, or nothing (``quiet``).

    ``stream``: where lines go (default stdout); ``every``: seconds between lines;
    ``clock``: the time function (tests pass a fake one); ``initial``: frames already done (a
    resumed job: the count includes them, the rate and time left do not).
    """

    def __init__(self, total=None, desc="progress", quiet=False, stream=None, every=LINE_EVERY,
                 clock=time.monotonic, leave=True, initial=0):
        self.total, self.desc, self.done, self.initial = total, desc, initial, initial
        self.stream = stream or sys.stdout
        self.every, self.clock = every, clock
        self.start = self.last = clock()
        terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.mode = "quiet" if quiet else ("bar" if terminal else "lines")
        self.bar = (tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True, leave=leave, file=self.stream,
                         initial=initial)
                    if self.mode == "bar" else None)

    def update(self, n=1):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.mode == "lines":
            now = self.clock()
            if now - self.last >= self.every:
                self.last = now
                line = progress_line(self.desc, self.done, self.total, now - self.start, self.initial)
                print(line, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()
        return False
