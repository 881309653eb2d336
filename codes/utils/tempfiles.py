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
* :func:`publish` renames a finished temporary file into place (``AtomicFolder`` in
  :mod:`tecogan.utils.outputs` does so for folders).  An output that appeared while the
  command ran (another run writing the same name) is replaced only when ``--overwrite`` was
  given for it (the decision
  :func:`tecogan.utils.outputs.check_outputs` recorded); otherwise the rename is done without
  replacing (``renameat2(RENAME_NOREPLACE)``, else ``link`` + ``unlink``) and the command
  stops with one line, the other output kept.
"""

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
    return os.fsdecode(raw[: budget - len(ext_raw)] + ext_raw)


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
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
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
    return UserError(
        f"{path}: appeared while this command ran (another run writing the same output?); "
        f"it is kept and this run's result is dropped; pass --overwrite to replace it"
    )


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
