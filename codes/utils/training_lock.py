"""One training per experiment folder: the lock file, the refusal to start over an earlier
training without ``--resume``, and the check that a training never writes into its inputs
(part of the outputs mechanism, :mod:`tecogan.utils.outputs`).

``<exp_dir>/.train.lock`` holds ``<pid> <host> <start>`` of the training that uses the
experiment, ``<start>`` being the process's start time (Linux: ``/proc/<pid>/stat``, in clock
ticks since boot, with the boot id).  A second training is refused while that process runs;
a lock whose process is gone, or whose pid now belongs to another process (a reused pid:
its start time differs), is stale and taken over.
"""

import contextlib
import os
import socket
import time

from tecogan.utils.errors import UserError, warn
from tecogan.utils.outputs import PARENT, check_outputs
from tecogan.utils.tempfiles import pid_alive


def process_start(pid):
    """``'<boot id>:<start ticks>'`` of process ``pid``, or None where /proc does not say."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        fields = stat[stat.rindex(")") + 2 :].split()
        start = fields[19]  # field 22 of stat(5); fields[0] is field 3
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                boot = f.read().strip()[:36]
        except OSError:
            boot = "-"
        return f"{boot}:{start}"
    except (OSError, ValueError, IndexError):
        return None


class TrainingLock:
    """``<exp_dir>/.train.lock`` holding ``<pid> <host> <start>`` of the training using the experiment."""

    NAME = ".train.lock"

    def __init__(self, exp_dir):
        self.exp_dir = os.fspath(exp_dir)
        self.path = os.path.join(self.exp_dir, self.NAME)
        self.held = False

    def _owner(self):
        try:
            with open(self.path, "rb") as f:
                text = f.read(300).decode("utf-8", "replace").split()
        except FileNotFoundError:
            return None
        pid = int(text[0]) if text and text[0].isdigit() and len(text[0]) < 12 else -1
        host = text[1] if len(text) > 1 else ""
        start = text[2] if len(text) > 2 else None
        return pid, host, start

    def _running(self, pid, start):
        """The lock's process still runs: its pid exists and (where known) started when the lock says."""
        if pid == os.getpid() or not pid_alive(pid):
            return False
        now = process_start(pid)
        return start is None or now is None or now == start

    def acquire(self):
        start = process_start(os.getpid()) or "-"
        me = f"{os.getpid()} {socket.gethostname()} {start}\n"
        for _attempt in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:
                    continue
                pid, host, lock_start = owner
                if host and host != socket.gethostname():
                    raise UserError(
                        f"{self.exp_dir}: in use by a training on {host} (pid {pid}, lock file "
                        f"{self.path}); remove the lock file if that training is over"
                    ) from None
                if self._running(pid, None if lock_start in (None, "-") else lock_start):
                    raise UserError(
                        f"{self.exp_dir}: in use by a running training (pid {pid}, lock file "
                        f"{self.path}); wait for it to end or stop it first"
                    ) from None
                try:  # stale: left by a training that was killed (or its pid is now another process's)
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self.held = True
            return self
        raise UserError(f"{self.path}: could not take the training lock (another training starting?)")

    def release(self):
        if self.held:
            owner = self._owner()
            if owner is not None and owner[0] == os.getpid():
                os.remove(self.path)
            self.held = False

    def __enter__(self):
        return self if self.held else self.acquire()

    def __exit__(self, *_exc):
        self.release()
        return False


def training_guard(exp_dir, resume, is_main=True):
    """Lock the experiment for one training and refuse to start over an existing ``train/``
    without ``--resume`` (as train.sh does).  A ``train/`` that holds only an empty
    ``train.log`` (made by train.sh for its log) is a fresh start."""
    lock = TrainingLock(exp_dir)
    if not is_main:
        return contextlib.nullcontext()
    lock.acquire()
    train_dir = os.path.join(exp_dir, "train")
    if not resume and os.path.isdir(train_dir):
        if saved_anything(train_dir):
            lock.release()
            _refuse_start_over(train_dir)
        _start_over_unsaved(train_dir)
    return lock


def check_training_free(exp_dir, resume):
    """What :func:`training_guard` refuses (a running training, a saved one without ``--resume``),
    checked without keeping the lock or changing ``train/``: train.sh runs it before it goes to
    the background, where an error would only reach the log."""
    TrainingLock(exp_dir).acquire().release()
    train_dir = os.path.join(exp_dir, "train")
    if not resume and os.path.isdir(train_dir) and saved_anything(train_dir):
        _refuse_start_over(train_dir)


def _refuse_start_over(train_dir):
    raise UserError(
        f"{train_dir}: already exists (an earlier training); continue it with --resume auto, or remove it to start again"
    )


def saved_anything(train_dir):
    """Whether a training in ``train_dir`` saved a checkpoint (a ``.pth`` file anywhere in it)."""
    return any(name.endswith(".pth") for _root, _dirs, names in os.walk(train_dir) for name in names)


def _start_over_unsaved(train_dir):
    """An earlier start that saved no checkpoint (a typo in the YAML, a crash before the first
    save) does not lock the experiment: it starts afresh (under the lock, so no training is
    running there); its log goes on in ``train.log``, its TensorBoard events are set aside."""
    entries = os.listdir(train_dir)
    if entries == [] or (entries == ["train.log"] and os.path.getsize(os.path.join(train_dir, "train.log")) == 0):
        return  # train.sh's empty log: nothing to say
    events = os.path.join(train_dir, "tensorboard")
    if os.path.isdir(events) and os.listdir(events):
        os.rename(events, os.path.join(train_dir, f"tensorboard.unsaved-{time.strftime('%Y%m%d-%H%M%S')}"))
    warn(f"{train_dir}: an earlier start saved no checkpoint; this one starts afresh (its log goes on in train.log)")


def check_training_outputs(opt, exp_dir):
    """What a training writes (``<exp>/train``, ``test.res_dir``, ``test.json_dir``) never is,
    holds or lies inside its data or the checkpoints it starts from."""
    test = opt.get("test") or {}
    outputs = [("", os.path.join(exp_dir, "train"), PARENT)]
    for key in ("res_dir", "json_dir"):
        if test.get(key):
            outputs.append((f"test.{key}", test[key], PARENT))
    inputs = []
    for name, ds in sorted((opt.get("dataset") or {}).items()):
        if isinstance(ds, dict):
            inputs += [(f"dataset.{name}.{k}", ds[k]) for k in ("seq_dir", "gt_seq_dir", "lr_seq_dir") if ds.get(k)]
    for net in ("generator", "discriminator"):
        path = ((opt.get("model") or {}).get(net) or {}).get("load_path")
        if path:
            inputs.append((f"model.{net}.load_path", path))
    check_outputs(outputs, inputs)
