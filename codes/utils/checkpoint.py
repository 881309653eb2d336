"""Loading checkpoints safely and explaining mismatches.

Every checkpoint is read with ``torch.load(weights_only=True)``: a crafted file whose
pickle would run code is refused.  Generator checkpoints are plain state dicts with the
reference's names; :func:`infer_frnet_arch` reads ``nf``, ``nb`` and the degradation
back from the tensors.
"""
import os
import pickle
import re
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


def infer_frnet_arch(state_dict, path="checkpoint"):
    """Read ``{'nf', 'nb', 'degradation', 'scale', 'in_nc', 'out_nc'}`` from FRNet tensors."""
    try:
        conv_in = state_dict["srnet.conv_in.0.weight"]
        conv_out = state_dict["srnet.conv_out.weight"]
    except KeyError:
        raise UserError(f"{path}: not an FRNet generator checkpoint (no srnet.conv_in.0.weight / "
                        f"srnet.conv_out.weight); is it a discriminator or another network?")
    nb = len({int(m.group(1)) for k in state_dict
              for m in [re.match(r"srnet\.resblocks\.(\d+)\.", k)] if m})
    nf = conv_in.shape[0]
    out_nc = conv_out.shape[0]
    in_nc = state_dict["fnet.encoder1.0.weight"].shape[1] // 2 if "fnet.encoder1.0.weight" in state_dict else 3
    ratio = conv_in.shape[1] // in_nc - 1          # = scale ** 2
    scale = int(round(ratio ** 0.5))
    degradation = "BD" if "upsample_func.kernels" in state_dict else "BI"
    return {"nf": nf, "nb": nb, "degradation": degradation, "scale": scale,
            "in_nc": in_nc, "out_nc": out_nc}


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


def frnet_hint(state_dict):
    arch = infer_frnet_arch(state_dict)
    return (f"the checkpoint is a {arch['degradation']} generator with nf {arch['nf']}, "
            f"nb {arch['nb']}, scale {arch['scale']}: set those in the YAML "
            f"(dataset.degradation.type, model.generator.nf/nb, scale)")


def load_generator_weights(net, path, degradation, nf, nb):
    """Load a published-style FRNet checkpoint into ``net`` (strict)."""
    state_dict = load_state_dict_file(path)
    return load_into(net, state_dict, path,
                     describe_expected=f"{degradation} generator with nf {nf}, nb {nb}",
                     suggest=frnet_hint)
