"""Loading checkpoints safely and explaining mismatches.

Every checkpoint is read with ``torch.load(weights_only=True)``: a crafted file whose
pickle would run code is refused.  Generator checkpoints are plain state dicts with the
reference's names; each generator class reads its architecture back from them
(``FRNet.arch_from_state_dict``; loading helpers in :mod:`tecogan.networks`).  Their
metadata (``state_dict._metadata``, where this project's generators record their name) is kept.

Before ``torch.load``, the zip entries' CRC-32 are checked (:func:`verify_checkpoint_file`:
torch itself does not, so a flipped bit would load as a silently wrong weight); after it,
every tensor must fit its own storage (a crafted shape over a tiny storage is refused)
and every floating tensor must be finite (a diverged training's NaN/Inf is refused).
"""

import pickle
import struct
import zipfile
from collections import OrderedDict

import torch

from tecogan.utils.errors import UserError, one_line
from tecogan.utils.fileio import check_regular_file


def verify_checkpoint_file(path):
    """Refuse a zip checkpoint whose entries fail their CRC-32 (or whose zip directory is damaged)."""
    if not zipfile.is_zipfile(path):
        return  # the legacy (non-zip) format: torch.load reports what it cannot read
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise UserError(
            f"{path}: damaged checkpoint (zip structure: {one_line(err, 120)}); copy it again or use another checkpoint"
        ) from None
    if bad is not None:
        raise UserError(
            f"{path}: damaged checkpoint: entry {bad} fails its CRC check (a corrupted copy?); "
            f"copy it again or use another checkpoint"
        )


def check_tensors(state, path):
    """Every tensor of ``state`` (nested dicts/lists) fits its storage; floating ones are finite."""
    stack, seen = [("", state)], 0
    while stack:
        name, obj = stack.pop()
        seen += 1
        if seen > 1_000_000:
            raise UserError(f"{path}: holds more than a million entries (not a checkpoint)")
        if isinstance(obj, dict):
            stack.extend((f"{name}.{k}" if name else str(k), v) for k, v in obj.items())
        elif isinstance(obj, (list, tuple)):
            stack.extend((f"{name}.{i}" if name else str(i), v) for i, v in enumerate(obj))
        elif isinstance(obj, torch.Tensor):
            _check_tensor(obj, name, path)


def _check_tensor(t, name, path):
    if t.layout != torch.strided:
        raise UserError(f"{path}: {name} is a {t.layout} tensor (expected plain dense tensors)")
    if t.numel():
        span = t.storage_offset() + sum((size - 1) * abs(stride) for size, stride in zip(t.shape, t.stride(), strict=False)) + 1
        if (
            any(st == 0 for st, size in zip(t.stride(), t.shape, strict=False) if size > 1)
            or span * t.element_size() > t.untyped_storage().nbytes()
        ):
            raise UserError(
                f"{path}: {name} has shape {tuple(t.shape)} but its data holds "
                f"{t.untyped_storage().nbytes() // max(t.element_size(), 1)} values (a crafted "
                f"or damaged checkpoint)"
            )
    if t.is_floating_point() or t.is_complex():
        if not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise UserError(f"{path}: {name} holds {bad} NaN/Inf values (a diverged training?); use an earlier checkpoint")


def _head(path, size=16):
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def load_state_dict_file(path, map_location="cpu"):
    """Read a ``torch.save``d state dict (or a dict holding one) with weights_only=True."""
    if not path:
        raise UserError("no checkpoint path given")
    check_regular_file(path, "checkpoint file")  # also refuses /dev/zero, FIFOs, folders
    head = _head(path)
    if head and not head.startswith((b"PK", b"\x80")):  # neither torch.save's zip nor its old pickle
        raise UserError(
            f"{path}: not a PyTorch checkpoint (it starts with {head!r}; torch.save writes a zip archive or a pickle)"
        )
    verify_checkpoint_file(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe content"
        raise UserError(
            f"{path}: refused to load: the file holds objects other than tensors "
            f"and plain containers (weights_only=True: {first[:160]})"
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
        struct.error,
    ) as err:
        # a file that is no checkpoint at all (a text file, random bytes) reaches the old
        # non-zip format's unpickler, which fails with whatever its first opcode leads to
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {msg[:160]}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: expected a state dict of tensors (as saved by torch.save(net.state_dict()))")
    check_tensors(obj, path)
    # checkpoints saved from DistributedDataParallel carry a "module." prefix
    if obj and all(k.startswith("module.") for k in obj):
        obj = _strip_module_prefix(obj)
    return obj


def _strip_module_prefix(state):
    """The state dict without DistributedDataParallel's ``module.`` prefix, its metadata (the
    per-module versions, the generator's name) moved along with the keys."""
    out = OrderedDict((k[len("module.") :], v) for k, v in state.items())
    meta = getattr(state, "_metadata", None)
    if isinstance(meta, dict):
        out._metadata = OrderedDict(
            (k[len("module.") :] if k.startswith("module.") else "", v)
            for k, v in meta.items()
            if k == "module" or k.startswith("module.")
        )
    return out


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
        raise UserError(f"{path}: does not fit the {describe_expected or 'network'}: {' and '.join(parts)}{hint}")
    for k, v in own.items():
        if tuple(state_dict[k].shape) != tuple(v.shape):
            raise UserError(
                f"{path}: does not fit the {describe_expected or 'network'}: {k} has shape "
                f"{tuple(state_dict[k].shape)}, expected {tuple(v.shape)}{hint}"
            )
    net.load_state_dict(state_dict, strict=True)
    return net
