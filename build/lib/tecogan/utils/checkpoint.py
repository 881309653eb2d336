"""Loading checkpoints safely and explaining mismatches.

Every checkpoint is read with ``torch.load(weights_only=True)``: a crafted file whose
pickle would run code is refused.  Generator checkpoints are plain state dicts with the
reference's names; each generator class reads its architecture back from them
(``FRNet.arch_from_state_dict``; loading helpers in :mod:`tecogan.networks`).
"""
import os
import pickle
import zipfile

import torch

from tecogan.utils.errors import UserError


def load_state_dict_file(path, map_location="cpu"):
    """Read a ``torch.save``d state dict (or a dict holding one) with weights_only=True."""
    if not path:
        raise UserError("no checkpoint path given")
    if not os.path.isfile(path):
        raise UserError(f"{path}: checkpoint file not found")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe content"
        raise UserError(f"{path}: refused to load: the file holds objects other than tensors "
                        f"and plain containers (weights_only=True: {first[:160]})")
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {msg[:160]}")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: expected a state dict of tensors (as saved by torch.save(net.state_dict()))")
    # checkpoints saved from DistributedDataParallel carry a "module." prefix
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_into(net, state_dict, path, describe_expected="", suggest=None):
    """``net.load_state_dict(strict=True)`` with a one-line explanation on mismatch.

    ``suggest(state_dict) -> str`` may return a hint such as "use degradation BI, nf 64".
    """
    own = net.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    hint = ""
    if suggest is not None:
        try:
            hint = suggest(state_dict)
        except UserError:
            hint = ""
    hint = f"; {hint}" if hint else ""
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        raise UserError(f"{path}: does not fit the {describe_expected or 'network'}: "
                        f"{' and '.join(parts)}{hint}")
    for k, v in own.items():
        if tuple(state_dict[k].shape) != tuple(v.shape):
            raise UserError(f"{path}: does not fit the {describe_expected or 'network'}: {k} has shape "
                            f"{tuple(state_dict[k].shape)}, expected {tuple(v.shape)}{hint}")
    net.load_state_dict(state_dict, strict=True)
    return net
