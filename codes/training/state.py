"""The training state that exact resume reads back: the random generators' states, and the
``state_iter{N}.pth`` files of ``<exp>/train/ckpt`` (the latest one found, one loaded with its
checks).  :meth:`tecogan.training.trainer.Trainer.save` writes them.
"""

import glob
import os
import random
import re

import numpy as np
import torch

from tecogan.utils.checkpoint import check_tensors, verify_checkpoint_file
from tecogan.utils.errors import UserError

STATE_RE = re.compile(r"state_iter(\d+)\.pth$")


def rng_state():
    """Python's, NumPy's, torch's and CUDA's generator states as tensors and plain numbers (what
    ``torch.load(weights_only=True)`` reads back)."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": torch.tensor(py_state, dtype=torch.int64),
        "python_version": py_version,
        "python_gauss": py_gauss,
        "numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state):
    """Restore the generators from a :func:`rng_state` dict."""
    random.setstate((state["python_version"], tuple(int(x) for x in state["python"].tolist()), state["python_gauss"]))
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def find_latest_state(ckpt_dir):
    """The ``state_iter{N}.pth`` of ``ckpt_dir`` with the largest N (None when there is none)."""
    found = []
    for path in glob.glob(os.path.join(ckpt_dir, "state_iter*.pth")):
        m = STATE_RE.search(os.path.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return max(found)[1] if found else None


def load_training_state(path):
    """One training state, checked (CRC of every entry, tensors' shapes and values) before it is used."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: training state not found")
    verify_checkpoint_file(path)  # CRC of every entry: a damaged copy is not resumed silently
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a state, crafted pickle
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: not a readable training state ({first[:160]})") from None
    check_tensors(state, path)  # shapes fit their data, no NaN/Inf
    if not isinstance(state, dict) or not {"model", "iter"} <= set(state):
        weights = isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values())
        raise UserError(
            f"{path}: "
            + ("a network's weights (G_iter*.pth), not a training state" if weights else "not a training state")
            + ": --resume takes a state_iter*.pth (or auto); weights start a training through model.generator.load_path"
        )
    return state
