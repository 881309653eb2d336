"""Fingerprints of what makes an output's pixels: the input (:func:`fingerprint`), the model's
weights (:func:`weights_sha256`) and the machine's numerics (:func:`numerics`); and comparisons of
recorded settings (:func:`differences`).  Shared by ``--batch``'s output manifests
(:mod:`tecogan.jobs.batch`) and the job folders of resumable runs (:mod:`tecogan.jobs.segments`,
:mod:`tecogan.jobs.job_folder`, :mod:`tecogan.jobs.chunks`)."""

import hashlib
import importlib.metadata
import os

import av
import cv2
import numpy as np
import torch

from tecogan.utils.device import cpu_flags
from tecogan.utils.fileio import check_regular_file, list_images
from tecogan.utils.hashing import tensors_sha256

HASH_BYTES = 1 << 20  # head and tail hashed for the fingerprint
# the variables that cap the instruction sets torch, oneDNN and MKL use (they change float results)
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")


def _hash_ends(path, h):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        h.update(f.read(HASH_BYTES))
        if size > 2 * HASH_BYTES:
            f.seek(size - HASH_BYTES)
            h.update(f.read(HASH_BYTES))
        elif size > HASH_BYTES:
            h.update(f.read())


def fingerprint(path):
    """Size, modification time and a hash of the head and tail of a file, or of every frame of a
    folder (names, sizes, times and each frame's head and tail)."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        size = 0
        files = list_images(path)
        for name in files:
            p = os.path.join(path, name)
            st = check_regular_file(p, "image file")  # a FIFO among the frames would block the hash
            size += st.st_size
            h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
            _hash_ends(p, h)
        return {"kind": "frames", "files": len(files), "size": size, "sha256_ends": h.hexdigest()}
    st = check_regular_file(path, "video file")
    _hash_ends(path, h)
    return {"kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_ends": h.hexdigest()}


def weights_sha256(generator):
    """SHA-256 of the generator's weights as loaded (names, types, shapes and bytes)."""
    # the header format jobs of 1.2 recorded: their jobs resume after an upgrade
    return tensors_sha256(generator.state_dict(), header="{name}|{dtype}|{shape}|")


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def numerics(device):
    """What besides the options can change the pixels: the device (and GPU), the CPU's flags and
    instruction-set caps, torch's thread count, the libraries' versions."""
    flags = cpu_flags()
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu_flags": sorted(flags) if flags else None,
        "isa_caps": {k: os.environ[k] for k in ISA_VARIABLES if k in os.environ},
        "threads": torch.get_num_threads(),
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "av": av.__version__,
            "ffmpeg": {k: list(v) for k, v in sorted(av.library_versions.items())},
            "openvino": _version("openvino"),
        },
    }


def _at(tree, dotted):
    for key in dotted.split("."):
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def _short(value, limit=48):
    text = "none" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_differences(old, new, keys):
    """``keys`` (dotted, from :func:`differences`) with the recorded and the given value each:
    ``inference.precision fp32 -> bf16`` (long values shortened), for a one-line refusal."""
    return ", ".join(f"{key} {_short(_at(old, key))} -> {_short(_at(new, key))}" for key in keys)


def differences(old, new, prefix=""):
    """The dotted keys whose values differ between two nested dicts (``inference.tile``)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(prefix + key)
    return out
