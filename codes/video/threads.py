"""Decoding, inference and encoding overlap: a prefetching reader thread and a writer thread,
each behind a bounded queue (a few frames in flight).  The threads run in a copy of the
starting thread's context (:mod:`contextvars`): their warnings are worded as the caller's."""

import contextvars
import queue
import threading

_END = object()


def prefetch(iterable, maxsize=4):
    """Iterate ``iterable`` in a background thread, at most ``maxsize`` items ahead."""
    q = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def run():
        try:
            for item in iterable:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_END)
        except BaseException as err:  # handed to the consumer
            q.put(err)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


class BackgroundWriter:
    """Writes ``(sink, name, image, time)`` items in a thread behind a bounded queue."""

    def __init__(self, maxsize=4):
        self.q = queue.Queue(maxsize=maxsize)
        self.error = None
        self.discard = False
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,), daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is None and not self.discard:
                try:
                    sink, name, image, time = item
                    sink.write(name, image, time)
                except BaseException as err:
                    self.error = err

    def put(self, sink, name, image, time=None):
        if self.error is not None:
            raise self.error
        self.q.put((sink, name, image, time))

    def close(self, discard=False):
        """Wait for the queued items to be written (``discard``: drop them, after a failure)."""
        self.discard = discard
        self.q.put(None)
        self.thread.join()
        if self.error is not None and not discard:
            raise self.error
