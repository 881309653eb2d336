"""Nothing of the user's is lost: the one mechanism every command that writes goes through.

1. :func:`check_outputs` runs before anything is read or written.  It refuses an output
   that is, contains or lies inside an input (compared after resolving symlinks), an
   output that overlaps another output of the same command, an output whose folder
   cannot be written, and an existing output file or non-empty output folder unless
   ``--overwrite`` was given (even then, a folder is only replaced when it holds nothing
   but what the command itself writes: frames, sequence folders of frames, an LMDB).
2. Results are written under a temporary name beside the output (:func:`temp_sibling`,
   :class:`AtomicFolder`, ``fileio.atomic_write``) and renamed into place only when
   complete, so a full disk, an encoder error, Ctrl-C or SIGTERM leaves the old output
   untouched.  A replaced frames folder holds only the new frames.
3. Temporary names carry the writer's pid (``.tmp_<pid>_<name>.<random>``); a temporary
   file or folder whose process is gone (a killed run) is removed by the next run that
   writes the same output (:func:`remove_stale_temps`).
4. :class:`TrainingLock`: ``<exp_dir>/.train.lock`` holds the pid of the training that uses
   the experiment; a second training is refused while that process runs, and a lock
   left by a killed training is detected (its pid is gone) and replaced.
"""
import atexit
import math
import os
import re
import secrets
import shutil

from tecogan.utils.errors import UserError
from tecogan.utils.fileio import IMAGE_EXTENSIONS

TEMP_PREFIX = ".tmp_"
_TEMP_RE = re.compile(r"^\.tmp_(\d+)_(.*)$")
_TEMP_TAIL = re.compile(r"^\.(old\.)?[a-z0-9_]{8}(\.[^.]*)?$")  # after the name: [.old].<8 random>[.ext]
_OLD_MARK = ".old."

# kinds of output (what check_outputs may replace with --overwrite)
FILE = "file"            # one file (video, GIF, JSON, ...)
FRAMES = "frames"        # a folder of image frames
SEQUENCES = "sequences"  # a folder of sequence folders of frames
LMDB = "lmdb"            # an LMDB folder (data.mdb, lock.mdb, meta_info.pkl)
PARENT = "parent"        # a folder that receives outputs: may exist, is never replaced

_LMDB_FILES = {"data.mdb", "lock.mdb", "meta_info.pkl"}


# ------------------------------------------------------------------ paths ----
def real(path):
    """The absolute path with every symlink resolved (also of a path that does not exist yet)."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _inside(inner, outer):
    """True if ``inner`` is ``outer`` or lies below it (both resolved)."""
    if inner == outer:
        return True
    return inner.startswith(outer if outer.endswith(os.sep) else outer + os.sep)


def _input_paths(path, limit=100000):
    """The resolved input, plus the targets of symlinks directly inside an input folder
    (a frames folder made of links to other files protects those files too)."""
    found = [real(path)]
    if os.path.isdir(path):
        try:
            with os.scandir(path) as it:
                for k, entry in enumerate(it):
                    if k >= limit:
                        break
                    if entry.is_symlink():
                        found.append(real(entry.path))
        except OSError:
            pass
    return found


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _foreign_entry(path, kind):
    """The first entry of folder ``path`` that ``kind`` does not account for (None if all are)."""
    for entry in sorted(os.listdir(path)):
        if entry.startswith(TEMP_PREFIX):
            continue
        full = os.path.join(path, entry)
        if kind == FRAMES and os.path.isfile(full) and _is_image(entry):
            continue
        if kind == LMDB and entry in _LMDB_FILES:
            continue
        if kind == SEQUENCES and os.path.isdir(full) and not os.path.islink(full):
            inner = _foreign_entry(full, FRAMES)
            if inner is None:
                continue
            return inner
        return full
    return None


def _writable_ancestor(path):
    """Refuse an output whose nearest existing ancestor is a file or is not writable."""
    parent = os.path.dirname(os.path.abspath(path)) or os.sep
    probe = parent
    while not os.path.lexists(probe):
        up = os.path.dirname(probe)
        if up == probe:
            break
        probe = up
    if not os.path.isdir(probe):
        raise UserError(f"{path}: cannot be created: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{path}: cannot be written: the folder {probe} is not writable "
                        f"(read-only or no permission); choose another output")


def _normalise(items, default_label):
    out = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, (tuple, list)):
            out.append(tuple(item))
        else:
            out.append((default_label, item))
    return out


def _named(label, path):
    return f"{label} {path}" if label else f"{path}"


def check_outputs(outputs, inputs=(), overwrite=False):
    """Refuse unsafe outputs before anything is read or written.

    ``outputs``: ``(label, path, kind)`` tuples, kind one of FILE, FRAMES, SEQUENCES, LMDB,
    PARENT; ``inputs``: ``(label, path)`` tuples or paths (missing inputs are skipped:
    the command reports them itself).  Labels are option names used in the messages.
    When every check passes, temporary files of killed runs beside each output are removed.
    """
    outs = [(lbl, os.fspath(p), kind) for lbl, p, kind in _normalise(outputs, "")]
    ins = [(lbl, os.fspath(p)) for lbl, p in _normalise(inputs, "input")]
    resolved_inputs = []
    for lbl, p in ins:
        if os.path.lexists(p):
            resolved_inputs += [(lbl, p, r) for r in _input_paths(p)]
    resolved_outputs = []
    for lbl, p, kind in outs:
        if not p:
            raise UserError(f"{lbl or 'output'}: empty path (expected a file or folder name)")
        r = real(p)
        for in_lbl, in_p, in_r in resolved_inputs:
            if r == in_r:
                raise UserError(f"{_named(lbl, p)}: is the input {_named(in_lbl, in_p)}; "
                                f"choose an output that is not an input")
            if _inside(r, in_r):
                raise UserError(f"{_named(lbl, p)}: lies inside the input {_named(in_lbl, in_p)}; "
                                f"write the output outside the input")
            if _inside(in_r, r):
                raise UserError(f"{_named(lbl, p)}: contains the input {_named(in_lbl, in_p)}; "
                                f"choose an output folder that does not hold the input")
        for o_lbl, o_p, o_kind, o_r in resolved_outputs:
            if r == o_r:
                raise UserError(f"{_named(lbl, p)}: is also the output {_named(o_lbl, o_p)}; "
                                f"give each output its own name")
            nested = (_inside(r, o_r) and o_kind != PARENT) or (_inside(o_r, r) and kind != PARENT)
            if nested:
                raise UserError(f"{_named(lbl, p)}: overlaps the output {_named(o_lbl, o_p)}; "
                                f"give each output its own place")
        resolved_outputs.append((lbl, p, kind, r))
    for lbl, p, kind, _r in resolved_outputs:
        _check_existing(lbl, p, kind, overwrite)
        _writable_ancestor(p)
    for _lbl, p, kind, _r in resolved_outputs:  # all checks passed: drop what killed runs left
        if kind != PARENT:
            remove_stale_temps(p)


def _check_existing(lbl, p, kind, overwrite):
    name = _named(lbl, p)
    if not os.path.lexists(p):
        return
    if kind == FILE:
        if os.path.isdir(p):
            raise UserError(f"{name}: is a folder; expected a file name")
        if not overwrite:
            raise UserError(f"{name}: already exists; pass --overwrite to replace it (it is kept otherwise)")
        return
    if not os.path.isdir(p):
        raise UserError(f"{name}: is a file; expected a folder")
    if kind == PARENT:
        return
    entries = [e for e in os.listdir(p) if not e.startswith(TEMP_PREFIX)]
    if not entries:
        return
    if not overwrite:
        raise UserError(f"{name}: already exists and is not empty; pass --overwrite to replace it "
                        f"(it is kept otherwise)")
    foreign = _foreign_entry(p, kind)
    if foreign is not None:
        what = {FRAMES: "image frames", SEQUENCES: "sequence folders of frames",
                LMDB: "an LMDB (data.mdb, lock.mdb, meta_info.pkl)"}.get(kind, "outputs")
        raise UserError(f"{name}: --overwrite would delete {foreign}, which is not one of the "
                        f"{what} this command writes; move it away or choose another output")


# -------------------------------------------------------- temporary names ----
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


def temp_sibling(path, suffix="", old=False):
    """A new temporary name beside ``path`` (not created): ``.tmp_<pid>_<name>.<random><suffix>``
    (``.tmp_<pid>_<name>.old.<random>`` for an output moved aside while it is replaced)."""
    folder = os.path.dirname(os.path.abspath(path))
    token = secrets.token_hex(4)
    mark = _OLD_MARK if old else "."
    return os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}_{os.path.basename(os.path.abspath(path))}"
                                f"{mark}{token}{suffix}")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def remove_stale_temps(path):
    """Remove temporary siblings of ``path`` left by runs that were killed.

    A temporary ``.old`` folder (an output moved aside while its replacement was renamed
    into place) is put back when the output itself is missing, never deleted then.
    Returns the removed names.
    """
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(os.path.abspath(path))
    stem, ext = os.path.splitext(base)
    legacy = re.compile(rf"^\.tmp_{re.escape(stem)}_(\d+){re.escape(ext)}$")  # older VideoSink names
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for entry in entries:
        m = _TEMP_RE.match(entry)
        tail = _TEMP_TAIL.match(m.group(2)[len(base):]) if m and m.group(2).startswith(base + ".") else None
        moved_aside = False
        if tail:
            pid = int(m.group(1))
            moved_aside = tail.group(1) is not None
        else:
            m = legacy.match(entry)
            if not m:
                continue
            pid = int(m.group(1))
        if pid_alive(pid):
            continue
        full = os.path.join(folder, entry)
        if moved_aside and not os.path.lexists(os.path.join(folder, base)):
            os.rename(full, os.path.join(folder, base))
            continue
        _remove(full)
        removed.append(entry)
    return removed


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
        folder.close(ok)                 # ok: replace out_dir; else drop the sibling

    An existing ``out_dir`` (already allowed by :func:`check_outputs`) is moved aside, the new
    folder renamed into place, then the old one deleted: it survives any failure before that.
    Also a context manager (commits when the block ends without an exception).
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

    def commit(self):
        old = None
        if os.path.lexists(self.path):
            old = temp_sibling(self.path, old=True)
            os.rename(self.path, old)
        try:
            os.rename(self.tmp, self.path)
        except BaseException:
            if old is not None:
                os.rename(old, self.path)
            raise
        if old is not None:
            _remove(old)

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


# ---------------------------------------------------------------- numbers ----
def check_number(option, value, minimum=None, maximum=None, integer=False, strict_minimum=False):
    """Validate a number from the command line before any library sees it (finite, in range)."""
    if value is None:
        return value
    what = "an integer" if integer else "a number"
    try:
        finite = math.isfinite(value)
    except (TypeError, OverflowError):
        finite = False
    if not finite or (integer and int(value) != value):
        raise UserError(f"{option} {value}: expected {'an integer' if integer else 'a finite number'}")
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if strict_minimum else '>='} {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    low = minimum is not None and (value <= minimum if strict_minimum else value < minimum)
    high = maximum is not None and value > maximum
    if low or high:
        raise UserError(f"{option} {value}: expected {what} {' and '.join(bounds)}")
    return value
