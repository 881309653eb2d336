"""A lock file held by one process: ``flock`` on an open file that names its holder.

The holder keeps the file open with an exclusive ``flock``; the kernel drops the lock when the
process ends in any way (SIGKILL, a power loss ends every process), so a lock file left by a dead
process is simply free and the next process takes it over: nothing to guess from pids.  The file
holds ``<pid> <host> <start>`` of the holder, only to name it in the refusal.  On Linux, NFS
clients turn ``flock`` into NFS byte-range locks (NLM or NFSv4), so the lock also holds between
machines that share the folder.

Taking a lock: open (create) the file, ``flock(LOCK_EX | LOCK_NB)``, then check that the path
still names the file locked (a releasing holder unlinks it: a process that locked the unlinked
file starts again).  Releasing: unlink while still holding, then close.
"""

import atexit
import fcntl
import os
import socket

from tecogan.errors import LockHeld, UserError


def holder_text():
    return f"{os.getpid()} {socket.gethostname()}\n"


_HELD = set()


@atexit.register
def _release_all():
    """A command that ends (or fails) while holding a lock leaves no lock file behind."""
    for lock in list(_HELD):
        lock.release()


class FileLock:
    """``FileLock(path, subject).acquire()`` or ``with FileLock(...):``; ``subject`` names what is
    locked in the refusal (``"the job of out.mp4"``)."""

    def __init__(self, path, subject):
        self.path = os.fspath(path)
        self.subject = subject
        self.fd = None

    @property
    def held(self):
        return self.fd is not None

    def _holder(self, fd):
        try:
            text = os.pread(fd, 300, 0).decode("utf-8", "replace").split()
        except OSError:
            return None, None
        pid = int(text[0]) if text and text[0].isdigit() and len(text[0]) < 12 else None
        return pid, (text[1] if len(text) > 1 else None)

    def acquire(self):
        if self.fd is not None:
            return self
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)  # the output's folder, as runs make it
        for _attempt in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid, host = self._holder(fd)
                os.close(fd)
                who = f"pid {pid}" if pid is not None else "a process"
                where = f" on {host}" if host else ""
                raise LockHeld(
                    f"{self.subject}: another process ({who}{where}) is running it now (lock file "
                    f"{self.path}); wait for it to end, or stop it first",
                    pid,
                    host,
                ) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # its holder released (unlinked) it between our open and flock
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder_text().encode(), 0)
            self.fd = fd
            _HELD.add(self)
            return self
        raise UserError(f"{self.path}: could not take the lock (other processes keep taking and releasing it)")

    def release(self):
        if self.fd is None:
            return
        _HELD.discard(self)
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *_exc):
        self.release()
        return False
