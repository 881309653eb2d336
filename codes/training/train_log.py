"""The training's text log: ``<exp>/train/train.log`` (and stdout) with the running averages of
the logged losses.  TensorBoard's event files are :mod:`tecogan.training.tensorboard_log`.
"""

import logging
import sys

import torch

from tecogan.utils.errors import env_flag


def make_logger(log_path, is_main):
    """The ``tecogan.train`` logger: ``log_path`` and stdout (file only with TECOGAN_LOG_FILE_ONLY)
    in the main process, silent in the others."""
    logger = logging.getLogger("tecogan.train")
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if is_main:
        fmt = logging.Formatter("%(asctime)s [%(levelname)s]: %(message)s", "%Y-%m-%d %H:%M:%S")
        fh = logging.FileHandler(log_path)
        fh.setFormatter(fmt)
        logger.addHandler(fh)
        if not env_flag("TECOGAN_LOG_FILE_ONLY"):
            sh = logging.StreamHandler(sys.stdout)
            sh.setFormatter(fmt)
            logger.addHandler(sh)
    else:
        logger.addHandler(logging.NullHandler())
    return logger


class RunningLog:
    """Exponential running averages of the logged values (``logger.decay``).

    Values may be detached device tensors: they are averaged on the device and read back
    (one host sync) only when formatted or saved, once per ``log_freq`` / ``ckpt_freq``.
    """

    def __init__(self, decay):
        self.decay, self.values = decay, {}

    def update(self, log):
        for k, v in log.items():
            v = v.double() if torch.is_tensor(v) else v  # float64, as Python floats after a resume
            old = self.values.get(k)
            self.values[k] = v if old is None else self.decay * old + (1 - self.decay) * v

    def floats(self):
        return {k: float(v) for k, v in self.values.items()}

    def format(self):
        return ", ".join(f"{k}: {v:.3e}" for k, v in self.floats().items())
