"""A lease: a lock file that many machines sharing a folder over NFS can take, and take over
when its holder dies (the chunks of a job, :mod:`tecogan.jobs.chunks`).

``flock`` (:mod:`tecogan.utils.locks`) is not used here: over NFS it becomes a byte-range lock
whose recovery after a client dies depends on the server's lock daemon and grace periods, and
some mounts (``nolock``, many NAS boxes, FUSE file systems) do not carry it at all.  A lease
needs only what NFSv3 and later guarantee:

* **Taking** is ``open(O_CREAT | O_EXCL)`` of the lease file: exactly one process creates it.
  It holds ``<token> <count> <host> <pid>`` (the token random per take, the count a heartbeat).
* **Holding**: a thread rewrites the file in place every ``seconds / 4`` with the count
  increased and ``fsync``s it (to the server).  Readers open the file anew each time, so NFS's
  close-to-open consistency shows them the newest count.
* **Expiry** is judged by the observer's own monotonic clock, never by timestamps: a lease whose
  content has not changed for ``seconds`` while one observer kept looking is expired.  Clocks of
  different machines need not agree; a takeover waits at least ``seconds``.
* **Breaking** an expired lease: rename it to a name of the breaker's own (``rename`` is atomic;
  of two breakers one gets ENOENT), read what was moved: when it is the content judged expired,
  remove it and take the lease anew by ``O_EXCL``; when it is a newer lease (another breaker won
  and took it meanwhile), put it back with ``link`` (which never replaces) and leave it.
* **Lost**: a holder checks :meth:`Lease.lost` before it commits work (the path still names its
  file and its token); a holder stopped for longer than the lease (SIGSTOP, a frozen VM) finds
  its lease taken and gives the work up.  The work itself is written by atomic renames of
  deterministic content, so even two holders at once lose nothing: they write the same files.
"""

import os
import secrets
import socket
import threading
import time

from tecogan import defaults

LEASE_SECONDS = defaults.LEASE_SECONDS


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read(400)
    except OSError:
        return None


class Lease:
    """``Lease(path, seconds).try_take()`` -> True when taken (then ``release()``)."""

    def __init__(self, path, seconds=LEASE_SECONDS):
        self.path = os.fspath(path)
        self.seconds = float(seconds)
        self.fd = self.token = None
        self.count = 0
        self._seen = None  # (content, monotonic time first seen) of another's lease
        self._stop = threading.Event()
        self._thread = None
        self._write_lock = threading.Lock()

    @property
    def held(self):
        return self.fd is not None

    def _content(self):
        return f"{self.token} {self.count:012d} {socket.gethostname()} {os.getpid()}\n".encode()

    def _write(self):
        with self._write_lock:
            if self.fd is None:
                return
            data = self._content()
            os.pwrite(self.fd, data, 0)
            os.ftruncate(self.fd, len(data))
            os.fsync(self.fd)

    def try_take(self):
        """Take the lease if it is free or expired; False while another holds it."""
        if self.fd is not None:
            return True
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        for _attempt in range(3):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
            except FileExistsError:
                if not self._expired() or not self._break():
                    return False
                continue
            self.fd, self.token, self.count = fd, secrets.token_hex(8), 0
            self._seen = None
            self._write()
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name="tecogan-lease", daemon=True)
            self._thread.start()
            return True
        return False

    def _expired(self):
        content = _read(self.path)
        if content is None:
            return True  # released meanwhile: free
        now = time.monotonic()
        if self._seen is None or self._seen[0] != content:
            self._seen = (content, now)
            return False
        return now - self._seen[1] >= self.seconds

    def _break(self):
        judged = self._seen[0] if self._seen else None
        aside = f"{self.path}.broken-{secrets.token_hex(6)}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True  # another breaker (or the holder's release) was first: try to take it
        if _read(aside) == judged:
            os.remove(aside)
            self._seen = None
            return True
        try:  # a newer lease: back where it was (link never replaces a lease taken meanwhile)
            os.link(aside, self.path)
        except FileExistsError:
            pass
        os.remove(aside)
        self._seen = None
        return False

    def _beat(self):
        while not self._stop.wait(self.seconds / 4):
            self.count += 1
            try:
                self._write()
            except OSError:
                return  # the folder went away: lost() tells the holder

    def lost(self):
        """True when this process no longer holds the lease (released, or taken over)."""
        if self.fd is None:
            return True
        content = _read(self.path)
        return content is None or content.split(b" ", 1)[0].decode("ascii", "replace") != self.token

    def release(self):
        if self.fd is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            if not self.lost():
                os.remove(self.path)
        except OSError:
            pass
        finally:
            os.close(self.fd)
            self.fd = self.token = None

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.release()
        return False
