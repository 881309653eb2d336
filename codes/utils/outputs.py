"""Nothing of the user's is lost: the one mechanism every command that writes goes through.

1. :func:`check_outputs` runs before anything is read or written.  It refuses an output
   that is, contains or lies inside an input, an output that overlaps another output of the
   same command, an output whose folder cannot be written, and an existing output file or
   non-empty output folder unless ``--overwrite`` was given (even then, a folder is only
   replaced when it holds nothing but what the command itself writes: PNG frames, sequence
   folders of PNG frames, an LMDB's three files).  Paths are compared by file identity
   (:mod:`tecogan.utils.file_identity`), not by spelling: on a case-insensitive file system
   ``IN.mp4`` is ``in.mp4``, and a hard link or a symlinked folder is the file it reaches.
2. Results are written under a temporary name beside the output and renamed into place only
   when complete (``publish`` of :mod:`tecogan.utils.tempfiles`, :class:`AtomicFolder`, ``fileio.atomic_write``);
   an output that appeared meanwhile is replaced only with ``--overwrite``.
3. Temporary names are provably this project's (``.tecogan-tmp-<pid>-<random><check>-<name>``)
   and only such names are ever removed as stale.
4. The training lock and the training's own checks: :mod:`tecogan.utils.training_lock`.

The names of :mod:`tecogan.utils.tempfiles` are re-exported here.
"""

import atexit
import os
import re

from tecogan.utils.errors import UserError
from tecogan.utils.file_identity import FileIdentities, input_paths
from tecogan.utils.tempfiles import (  # noqa: F401
    TEMP_PREFIX,
    _remove,
    appeared_error,
    decision,
    is_own_temp,
    parse_temp,
    pid_alive,
    publish,
    real,
    record_decision,
    remove_own_temps,
    remove_stale_temps,
    rename_noreplace,
    temp_sibling,
)

# kinds of output (what check_outputs may replace with --overwrite)
FILE = "file"  # one file (video, GIF, JSON, ...)
FRAMES = "frames"  # a folder of PNG frames
SEQUENCES = "sequences"  # a folder of sequence folders of PNG frames
DATASET = "dataset"  # a folder of SEQUENCES folders (e.g. GT/ and LR/ of an evaluation set)
LMDB = "lmdb"  # an LMDB folder (data.mdb, lock.mdb, meta_info.pkl)
PARENT = "parent"  # a folder that receives outputs: may exist, is never replaced
JOB = "job"  # a resumable job's folder (tecogan.jobs.job_folder): may exist; only ours is ever removed
KINDS = (FILE, FRAMES, SEQUENCES, DATASET, LMDB, PARENT, JOB)

_LMDB_FILES = {"data.mdb", "lock.mdb", "meta_info.pkl"}
FRAME_EXTENSION = ".png"  # every command writes its frames as PNG
# what a job folder holds: its manifest, the completion mark, per segment a record, a state and an
# encoded segment (seg000012.json, .npz, .mp4 ...), frames/ of PNG frames, its lock
# (a chunked job, tecogan.jobs.chunks: per chunk a folder c000012/ of such files with numerics.json, its
# mark c000012.json and lease c000012.lease, the assembly's lease; a lease being broken)
_JOB_FILE = re.compile(
    r"(manifest|complete|numerics|c\d{6})\.json|seg\d{6}\.[A-Za-z0-9]{1,8}"
    r"|(c\d{6}|assemble)\.lease(\.broken-[0-9a-f]{12})?"
)
_JOB_CHUNK = re.compile(r"c\d{6}")
JOB_FRAMES = "frames"


_INNER_KIND = {SEQUENCES: FRAMES, DATASET: SEQUENCES}  # what a folder of each kind holds


def foreign_entry(path, kind):
    """The first entry of folder ``path`` that ``kind`` does not account for (None if all are):
    FRAMES holds PNG files only, SEQUENCES folders of them, DATASET folders of SEQUENCES, LMDB
    its three files, JOB a job folder's files; our own temporaries are accounted for."""
    for entry in sorted(os.listdir(path)):
        if is_own_temp(entry):
            continue
        full = os.path.join(path, entry)
        if kind == FRAMES and not entry.startswith(".") and entry.endswith(FRAME_EXTENSION) and os.path.isfile(full):
            continue
        if kind == LMDB and entry in _LMDB_FILES:
            continue
        if kind == JOB and _JOB_FILE.fullmatch(entry) and os.path.isfile(full) and not os.path.islink(full):
            continue
        if kind == JOB and _JOB_CHUNK.fullmatch(entry) and os.path.isdir(full) and not os.path.islink(full):
            inner = foreign_entry(full, JOB)
            if inner is None:
                continue
            return inner
        if kind == JOB and entry == JOB_FRAMES and os.path.isdir(full) and not os.path.islink(full):
            inner = foreign_entry(full, FRAMES)
            if inner is None:
                continue
            return inner
        inner_kind = _INNER_KIND.get(kind)
        if inner_kind and os.path.isdir(full) and not os.path.islink(full) and not entry.startswith("."):
            inner = foreign_entry(full, inner_kind)
            if inner is None:
                continue
            return inner
        return full
    return None


_foreign_entry = foreign_entry  # older name


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
        raise UserError(
            f"{path}: cannot be written: the folder {probe} is not writable (read-only or no permission); choose another output"
        )


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


def check_overwrite_flag(overwrite, option="overwrite"):
    """``overwrite`` must be True or False (None counts as False): ``overwrite='no'`` is an error,
    not a truthy string that replaces the output."""
    if overwrite is None:
        return False
    if not isinstance(overwrite, bool):
        raise UserError(f"{option} {overwrite!r}: expected True or False")
    return overwrite


def check_outputs(outputs, inputs=(), overwrite=False):
    """Refuse unsafe outputs before anything is read or written.

    ``outputs``: ``(label, path, kind)`` tuples, kind one of FILE, FRAMES, SEQUENCES, DATASET, LMDB,
    PARENT; ``inputs``: ``(label, path)`` tuples or paths (missing inputs are skipped:
    the command reports them itself).  Labels are option names used in the messages.
    When every check passes, the decision (replace or not) is recorded for the final rename
    and temporary files of killed runs beside each output are removed.
    """
    overwrite = check_overwrite_flag(overwrite)
    ids = FileIdentities()
    outs = [(lbl, os.fspath(p), kind) for lbl, p, kind in _normalise(outputs, "")]
    ins = [(lbl, os.fspath(p)) for lbl, p in _normalise(inputs, "input")]
    input_chains = []
    for lbl, p in ins:
        if os.path.lexists(p):
            input_chains += [(lbl, p, ids.chain(q)) for q in input_paths(p)]
    checked = []
    for lbl, p, kind in outs:
        if not p:
            raise UserError(f"{lbl or 'output'}: empty path (expected a file or folder name)")
        if kind not in KINDS:
            raise UserError(f"output kind {kind!r}: expected one of {KINDS}")
        chain = ids.chain(p)
        for in_lbl, in_p, in_chain in input_chains:
            if chain[0] == in_chain[0]:
                raise UserError(f"{_named(lbl, p)}: is the input {_named(in_lbl, in_p)}; choose an output that is not an input")
            if in_chain[0] in chain[1:]:
                raise UserError(
                    f"{_named(lbl, p)}: lies inside the input {_named(in_lbl, in_p)}; write the output outside the input"
                )
            if chain[0] in in_chain[1:]:
                raise UserError(
                    f"{_named(lbl, p)}: contains the input {_named(in_lbl, in_p)}; "
                    f"choose an output folder that does not hold the input"
                )
        for o_lbl, o_p, o_kind, o_chain in checked:
            if chain[0] == o_chain[0]:
                raise UserError(f"{_named(lbl, p)}: is also the output {_named(o_lbl, o_p)}; give each output its own name")
            nested = (o_chain[0] in chain[1:] and o_kind != PARENT) or (chain[0] in o_chain[1:] and kind != PARENT)
            if nested:
                raise UserError(f"{_named(lbl, p)}: overlaps the output {_named(o_lbl, o_p)}; give each output its own place")
        checked.append((lbl, p, kind, chain))
    for lbl, p, kind, _chain in checked:
        _check_existing(lbl, p, kind, overwrite)
        _writable_ancestor(p)
    for _lbl, p, kind, _chain in checked:  # all checks passed: decided, and drop what killed runs left
        if kind not in (PARENT, JOB):
            record_decision(p, overwrite, kind)
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
    if kind == JOB:
        check_job_folder(name, p)
        return
    if not os.path.isdir(p):
        raise UserError(f"{name}: is a file; expected a folder")
    if kind == PARENT:
        return
    entries = [e for e in os.listdir(p) if not is_own_temp(e)]
    if not entries:
        return
    if not overwrite:
        raise UserError(f"{name}: already exists and is not empty; pass --overwrite to replace it (it is kept otherwise)")
    foreign = foreign_entry(p, kind)
    if foreign is not None:
        what = {
            FRAMES: "PNG frames",
            SEQUENCES: "sequence folders of PNG frames",
            DATASET: "folders of sequence folders of PNG frames",
            LMDB: "an LMDB (data.mdb, lock.mdb, meta_info.pkl)",
        }.get(kind, "outputs")
        raise UserError(
            f"{name}: --overwrite would delete {foreign}, which is not one of the "
            f"{what} this command writes; move it away or choose another output"
        )


def check_job_folder(name, path):
    """A job folder is removed or resumed only when it is one this project wrote: a real folder
    holding nothing but a job's files (no advice to --overwrite otherwise: that would delete it)."""
    if os.path.islink(path) or not os.path.isdir(path):
        raise UserError(
            f"{name}: is in the place of a job folder and is not one (a "
            f"{'link' if os.path.islink(path) else 'file'}); move it away"
        )
    foreign = foreign_entry(path, JOB)
    if foreign is not None:
        raise UserError(
            f"{name}: holds {foreign}, which no job of this project writes; it is not touched: move it "
            "away (or choose another output name)"
        )


# ------------------------------------------------------------ folders ----
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
        decided = decision(self.path)
        if decided is None:
            return True  # an internal folder, never checked as an output
        overwrite, kind = decided
        if not os.path.isdir(self.path) or os.path.islink(self.path):
            raise UserError(
                f"{self.path}: a file appeared in the place of the output folder while this "
                f"command ran; it is kept and this run's result is dropped"
            )
        entries = [e for e in os.listdir(self.path) if not is_own_temp(e)]
        if not entries:
            return True
        if not overwrite:
            raise appeared_error(self.path)
        foreign = foreign_entry(self.path, kind or FRAMES)
        if foreign is not None:
            raise UserError(
                f"{self.path}: --overwrite would delete {foreign}, which appeared while this command "
                f"ran and is not one of the files it writes; it is kept and this run's result is "
                f"dropped"
            )
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
