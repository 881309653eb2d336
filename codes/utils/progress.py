"""Progress of long jobs: a tqdm bar on a terminal; in logs (stdout not a terminal) one line every
few seconds with frames done / total, frames per second and the time left.

Rates leave out the warm-up: they count from the first frame done (model loading, conversion,
calibration and the first frame's own start-up are behind it), so the first time left is honest.
After :data:`ESTIMATE_FRAMES` more frames, ``estimate(rate, frames_left)`` may return one line
(the whole job's expected time, faster paths) that is printed once.

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
ESTIMATE_FRAMES = 3  # frames measured after the first before the estimate line


def counted(n, noun):
    """``1 chunk``, ``3 chunks``: a count with its noun (plural by an ``s``)."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


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
    resumed job: the count includes them, the rate and time left do not); ``estimate``: called
    once with (frames/s, frames left) after the warm-up, returns a line to print or None.
    """

    def __init__(
        self,
        total=None,
        desc="progress",
        quiet=False,
        stream=None,
        every=LINE_EVERY,
        clock=time.monotonic,
        leave=True,
        initial=0,
        estimate=None,
    ):
        self.total, self.desc, self.done, self.initial = total, desc, initial, initial
        self.stream = stream or sys.stdout
        self.every, self.clock, self.leave, self.estimate = every, clock, leave, estimate
        self.last = clock()
        self.first = None  # (time, frames done) when the first frame of this run was done
        terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.mode = "quiet" if quiet else ("bar" if terminal else "lines")
        self.bar = None  # made at the first frame: its rate then leaves the warm-up out

    def update(self, n=1):
        self.done += n
        now = self.clock()
        if self.first is None:
            self.first = (now, self.done)
            if self.mode == "bar":
                self.bar = tqdm(
                    total=self.total,
                    desc=self.desc,
                    unit="frame",
                    dynamic_ncols=True,
                    leave=self.leave,
                    file=self.stream,
                    initial=self.done,
                )
            return
        if self.bar is not None:
            self.bar.update(n)
        seconds, measured = now - self.first[0], self.done - self.first[1]
        if self.estimate is not None and measured >= ESTIMATE_FRAMES and seconds > 0 and self.mode != "quiet":
            estimate, self.estimate = self.estimate, None
            left = self.total - self.done if self.total else None
            line = estimate(measured / seconds, left)
            if line:
                self.write(line)
        if self.mode == "lines" and now - self.last >= self.every:
            self.last = now
            print(progress_line(self.desc, self.done, self.total, seconds, self.first[1]), file=self.stream, flush=True)

    def write(self, line):
        """A line among the progress (above the bar on a terminal)."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
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
