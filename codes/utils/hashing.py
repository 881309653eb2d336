"""SHA-256 of files and of a network's tensors: the one home of both (weights in caches, jobs,
the precision table and converted models; files in manifests, job records and shipped weights)."""

import hashlib

import torch

BLOCK = 1 << 20


def file_sha256(path):
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def update_with_tensors(digest, state_dict, header="{name}:{dtype}:{shape}"):
    """Feed ``digest`` each tensor's ``header`` (its name, dtype and shape) and raw bytes, in order.

    ``header`` is a format with ``name``, ``dtype`` and ``shape``; the default is the one the
    precision table's keys were measured with, so it never changes."""
    for name, tensor in state_dict.items():
        t = tensor.detach().to("cpu").contiguous()
        digest.update(header.format(name=name, dtype=t.dtype, shape=tuple(t.shape)).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest


def tensors_sha256(state_dict, header="{name}:{dtype}:{shape}"):
    """Hex SHA-256 of a state dict's names, dtypes, shapes and values."""
    return update_with_tensors(hashlib.sha256(), state_dict, header).hexdigest()
