"""Temporary names that are unmistakably this project's, and renames that never replace by surprise.

Part of the outputs mechanism (:mod:`tecogan.utils.outputs`):

* :func:`temp_sibling` names a temporary beside an output:
  ``.tecogan-tmp-<pid>-<random><check>[-old]-<output name>``, where ``<check>`` is a CRC-32
  of the rest of the name.  A user's file never matches by accident (``.tmp_notes.txt``,
  ``.tmp_out_2024.mp4`` are not ours), so a name is removed only when it provably is ours
  (:func:`parse_temp`).  The output name is shortened, keeping its extension, so that the
  whole name fits in 255 bytes (a legal 244-character output name works).
* :func:`remove_stale_temps` removes the temporaries of an output left by a killed run (its
  pid is gone); a moved-aside ``-old`` folder is put back when the output itself is missing.
* :func:`publish` renames a finished temporary file into place and :class:`AtomicFolder`
  does so for folders.  An output that appeared while the command ran (another run writing
  the same name) is replaced only when ``--overwrite`` was given for it (the decision
  :func:`tecogan.utils.outputs.check_outputs` recorded); otherwise the rename is done without
  replacing (``renameat2(RENAME_NOREPLACE)``, else ``link`` + ``unlink``) and the command
  stops with one line, the other output kept.
"""
import atexit
import ctypes
import ctypes.util
import errno
import os
import re
import secrets
import shutil
import zlib

from tecogan.utils.errors import UserError

TEMP_PREFIX = ".tecogan-tmp-"
NAME_MAX = 255  # bytes of one file name on the usual file systems
_TEMP_RE = re.compile(r"^\.tecogan-tmp-(\d{1,10})-([0-9a-f]{8})([0-9a-f]{8})(-old)?-(.+)$", re.S)

# ------------------------------------------------------------- decisions ----
_DECIDED = {}  # real path of an output -> (overwrite, kind), recorded by check_outputs


def real(path):
    """The absolute path with every symlink resolved (also of a path that does not exist yet)."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def record_decision(path, overwrite, kind):
    _DECIDED[real(path)] = (bool(overwrite), kind)


def decision(path):
    """``(overwrite, kind)`` that check_outputs recorded for ``path``, or None (an internal file)."""
    return _DECIDED.get(real(path))


# ----------------------------------------------------------------- names ----
def _check(pid, rand, old, tail):
    data = f"tecogan|{pid}|{rand}|{int(bool(old))}|".encode() + os.fsencode(tail)
    return f"{zlib.crc32(data):08x}"


def _tail(name, budget):
    """``name`` cut to ``budget`` bytes, keeping its extension (a short one) at the end."""
    raw = os.fsencode(name)
    if len(raw) <= budget:
        return name
    stem, ext = os.path.splitext(name)
    ext_raw = os.fsencode(ext) if len(os.fsencode(ext)) <= 16 else b""
    return os.fsdecode(raw[:budget - len(ext_raw)] + ext_raw)


def _head(pid, rand, check, old):
    return f"{TEMP_PREFIX}{pid}-{rand}{check}{'-old' if old else ''}-"


def temp_name(name, old=False, pid=None):
    """A new temporary name for an output named ``name`` (a base name), within NAME_MAX bytes."""
    pid = os.getpid() if pid is None else int(pid)
    rand = secrets.token_hex(4)
    tail = _tail(name, NAME_MAX - len(_head(pid, rand, "0" * 8, old)))
    return _head(pid, rand, _check(pid, rand, old, tail), old) + tail


def temp_sibling(path, suffix="", old=False, pid=None):
    """A new temporary path beside ``path`` (not created).  ``suffix`` is added when the output
    name does not already end with it (encoders choose their format by the extension)."""
    path = os.path.abspath(os.fspath(path))
    name = os.path.basename(path)
    if suffix and not name.endswith(suffix):
        name += suffix
    return os.path.join(os.path.dirname(path), temp_name(name, old, pid))


def parse_temp(entry):
    """``(pid, old, tail)`` when ``entry`` (a base name) is provably one of this project's
    temporary names (its check matches), else None."""
    m = _TEMP_RE.match(entry)
    if not m:
        return None
    pid, rand, check, old, tail = int(m.group(1)), m.group(2), m.group(3), bool(m.group(4)), m.group(5)
    if check != _check(pid, rand, old, tail):
        return None
    return pid, old, tail


def is_own_temp(entry):
    return parse_temp(entry) is not None


def temp_belongs_to(entry, name):
    """True when ``entry`` is one of our temporaries of an output named ``name``."""
    parsed = parse_temp(entry)
    if parsed is None:
        return False
    pid, old, tail = parsed
    m = _TEMP_RE.match(entry)
    budget = NAME_MAX - len(_head(pid, m.group(2), m.group(3), old))
    return tail == _tail(name, budget)


def pid_alive(pid):
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def remove_stale_temps(path):
    """Remove our temporaries of ``path`` left by runs that were killed (their pid is gone).

    A moved-aside ``-old`` folder is put back when the output itself is missing, never
    deleted then.  Names that are not provably ours are never touched.  Returns the removed
    names.
    """
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(os.path.abspath(path))
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for entry in entries:
        if not entry.startswith(TEMP_PREFIX) or not temp_belongs_to(entry, base):
            continue
        pid, old, _tail_name = parse_temp(entry)
        if pid_alive(pid):
            continue
        full = os.path.join(folder, entry)
        if old and not os.path.lexists(os.path.join(folder, base)):
            os.rename(full, os.path.join(folder, base))
            continue
        _remove(full)
        removed.append(entry)
    return removed


def remove_own_temps(folder):
    """Remove every temporary of ours in ``folder`` whose process is gone (e.g. half-written
    checkpoints of a killed training); other names are kept.  Returns the removed names."""
    removed = []
    for entry in os.listdir(folder):
        parsed = parse_temp(entry) if entry.startswith(TEMP_PREFIX) else None
        if parsed is not None and not parsed[1] and not pid_alive(parsed[0]):
            _remove(os.path.join(folder, entry))
            removed.append(entry)
    return removed


# -------------------------------------------------------------- renaming ----
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_LIBC = None


def _renameat2():
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        except OSError:
            _LIBC = False
    return getattr(_LIBC, "renameat2", None) if _LIBC else None


def rename_noreplace(src, dst):
    """Rename ``src`` to ``dst`` unless ``dst`` exists: True if renamed, False if ``dst`` exists.

    ``renameat2(RENAME_NOREPLACE)`` where the kernel and file system have it; else, for a
    file, ``link`` + ``unlink`` (link never replaces); else a check just before the rename
    (a folder rename never replaces a non-empty folder).
    """
    fn = _renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), dst)
    if not os.path.isdir(src):
        try:
            os.link(src, dst)
        except FileExistsError:
            return False
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK,
                                 errno.ENOSYS):
                raise
        else:
            os.unlink(src)
            return True
    if os.path.lexists(dst):
        return False
    try:
        os.rename(src, dst)
    except OSError as err:
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            return False
        raise
    return True


def appeared_error(path):
    return UserError(f"{path}: appeared while this command ran (another run writing the same output?); "
                     f"it is kept and this run's result is dropped; pass --overwrite to replace it")


def publish(tmp, path, overwrite=None):
    """Rename the finished temporary file ``tmp`` to ``path``.

    ``overwrite``: whether an existing ``path`` may be replaced; None = what check_outputs
    decided for ``path`` (an output never checked, an internal file, is replaced).
    """
    if overwrite is None:
        decided = decision(path)
        overwrite = True if decided is None else decided[0]
    if overwrite:
        os.replace(tmp, path)
    elif not rename_noreplace(tmp, path):
        raise appeared_error(path)


_UNFINISHED = set()


@atexit.register
def _drop_unfinished():
    """A command that fails (or is stopped) between creating an output's temporary folder and
    its try/finally leaves no temporary behind: what was never committed is removed at exit."""
    for folder in list(_UNFINISHED):
        folder.close(ok=False)


class AtomicFolder:
    """A folder output written into a temporary sibling and renamed into place on success.

        folder = AtomicFolder(out_dir)   # removes stale temporaries of out_dir, makes the sibling
        ... write into folder.tmp ...
        folder.close(ok)                 # ok: put it in place; else drop the sibling

    When ``out_dir`` exists at the end, it is replaced only as check_outputs allowed: with
    --overwrite, and only while it still holds nothing but what the command writes (checked
    again now: files may have appeared meanwhile); without --overwrite only when it is empty.
    The old folder is moved aside, the new one renamed into place, then the old one deleted:
    it survives any failure before that.  Also a context manager.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        remove_stale_temps(self.path)
        self.tmp = temp_sibling(self.path)
        os.mkdir(self.tmp)
        self.closed = False
        _UNFINISHED.add(self)  # dropped at exit if never closed (an error before the writing began)

    def _may_replace(self):
        from tecogan.utils.outputs import FRAMES, foreign_entry
        decided = decision(self.path)
        if decided is None:
            return True  # an internal folder, never checked as an output
        overwrite, kind = decided
        if not os.path.isdir(self.path) or os.path.islink(self.path):
            raise UserError(f"{self.path}: a file appeared in the place of the output folder while this "
                            f"command ran; it is kept and this run's result is dropped")
        entries = [e for e in os.listdir(self.path) if not is_own_temp(e)]
        if not entries:
            return True
        if not overwrite:
            raise appeared_error(self.path)
        foreign = foreign_entry(self.path, kind or FRAMES)
        if foreign is not None:
            raise UserError(f"{self.path}: --overwrite would delete {foreign}, which appeared while this command "
                            f"ran and is not one of the files it writes; it is kept and this run's result is "
                            f"dropped")
        return True

    def commit(self):
        if rename_noreplace(self.tmp, self.path):
            return
        self._may_replace()
        old = temp_sibling(self.path, old=True)
        os.rename(self.path, old)
        try:
            placed = rename_noreplace(self.tmp, self.path)
        except BaseException:
            if not os.path.lexists(self.path):
                os.rename(old, self.path)
            raise
        _remove(old)  # replaced as --overwrite allowed
        if not placed:  # yet another output appeared in the instant between: it is kept
            raise appeared_error(self.path)

    def discard(self):
        _remove(self.tmp)

    def close(self, ok=True):
        if self.closed:
            return
        self.closed = True
        _UNFINISHED.discard(self)
        try:
            if ok:
                self.commit()
        finally:
            if os.path.lexists(self.tmp):
                self.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, _exc, _tb):
        self.close(exc_type is None)
        return False
