"""One training per experiment folder: the lock file, the refusal to start over an earlier
training without ``--resume``, and the check that a training never writes into its inputs."""
import contextlib
import os
import socket

from tecogan.utils.errors import UserError
from tecogan.utils.outputs import PARENT, check_outputs, pid_alive


class TrainingLock:
    """``<exp_dir>/.train.lock`` holding ``<pid> <host>`` of the training using the experiment."""

    NAME = ".train.lock"

    def __init__(self, exp_dir):
        self.exp_dir = os.fspath(exp_dir)
        self.path = os.path.join(self.exp_dir, self.NAME)
        self.held = False

    def _owner(self):
        try:
            with open(self.path, "rb") as f:
                text = f.read(200).decode("utf-8", "replace").split()
        except FileNotFoundError:
            return None
        pid = int(text[0]) if text and text[0].isdigit() else -1
        host = text[1] if len(text) > 1 else ""
        return pid, host

    def acquire(self):
        me = f"{os.getpid()} {socket.gethostname()}\n"
        for _attempt in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:
                    continue
                pid, host = owner
                if host and host != socket.gethostname():
                    raise UserError(f"{self.exp_dir}: in use by a training on {host} (pid {pid}, lock file "
                                    f"{self.path}); remove the lock file if that training is over") from None
                if pid != os.getpid() and pid_alive(pid):
                    raise UserError(f"{self.exp_dir}: in use by a running training (pid {pid}, lock file "
                                    f"{self.path}); wait for it to end or stop it first") from None
                try:  # stale: left by a training that was killed
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
        log = os.path.join(train_dir, "train.log")
        entries = os.listdir(train_dir)
        fresh = entries == [] or (entries == ["train.log"] and os.path.getsize(log) == 0)
        if not fresh:
            lock.release()
            raise UserError(f"{train_dir}: already exists (an earlier training); continue it with "
                            f"--resume auto, or remove it to start again")
    return lock


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
            inputs += [(f"dataset.{name}.{k}", ds[k]) for k in ("seq_dir", "gt_seq_dir", "lr_seq_dir")
                       if ds.get(k)]
    for net in ("generator", "discriminator"):
        path = ((opt.get("model") or {}).get(net) or {}).get("load_path")
        if path:
            inputs.append((f"model.{net}.load_path", path))
    check_outputs(outputs, inputs)

