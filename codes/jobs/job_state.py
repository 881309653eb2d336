"""A resumable job's recurrent state on disk: packed into JSON plus numpy arrays (read without
pickle, :mod:`tecogan.jobs.job_folder`) and checked before a job continues from it."""

from __future__ import annotations

import numpy as np
import torch


def pack_state(obj, arrays):
    """A JSON skeleton of ``obj`` (dicts, lists, numbers, strings, None and tensors); tensors go
    into ``arrays`` (name -> numpy array; bfloat16 kept as its 16-bit pattern)."""
    if isinstance(obj, torch.Tensor):
        name = f"a{len(arrays)}"
        t = obj.detach().to("cpu").contiguous()
        dtype = str(t.dtype).replace("torch.", "")
        arrays[name] = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().copy()
        return {"tensor": name, "dtype": dtype}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("state keys must be strings")
        return {"dict": {k: pack_state(v, arrays) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return {"list": [pack_state(v, arrays) for v in obj], "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    raise TypeError(f"cannot record a {type(obj).__name__} in a job's state")


def unpack_state(skeleton, arrays):
    """The inverse of :func:`pack_state`."""
    if "tensor" in skeleton:
        t = torch.from_numpy(np.array(arrays[skeleton["tensor"]]))
        return t.view(torch.bfloat16) if skeleton["dtype"] == "bfloat16" else t
    if "dict" in skeleton:
        return {k: unpack_state(v, arrays) for k, v in skeleton["dict"].items()}
    if "list" in skeleton:
        items = [unpack_state(v, arrays) for v in skeleton["list"]]
        return tuple(items) if skeleton.get("tuple") else items
    return skeleton["value"]


def _tensors(obj):
    """Every tensor of an unpacked state, with the path of keys that leads to it."""
    if isinstance(obj, torch.Tensor):
        yield (), obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            for path, t in _tensors(v):
                yield (k, *path), t
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            for path, t in _tensors(v):
                yield (str(i), *path), t


def state_problem(state, frame_hw, scale):
    """What is wrong with a recorded state for frames of ``frame_hw`` (h, w) and a network of
    ``scale`` (None: nothing): every tensor finite, (1, 3, h, w) frames, each ``hr_prev``
    ``scale`` times its ``lr_prev``, the whole frame's size where the state is not tiled."""
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("done"), int)
        or state["done"] < 0
        or not isinstance(state.get("precision"), str)
        or not isinstance(state.get("stepper"), (dict, type(None)))
    ):
        return "is not a job state (done, precision, stepper)"
    for path, t in _tensors(state):
        name = ".".join(path)
        if t.dtype not in (torch.float32, torch.bfloat16, torch.float16):
            return f"{name} is {str(t.dtype).replace('torch.', '')}, expected floats"
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] != 3:
            return f"{name} has the shape {tuple(t.shape)}, expected (1, 3, height, width)"
        if not bool(torch.isfinite(t.float()).all()):
            return f"{name} holds NaN or infinite values"
    stepper = state["stepper"] or {}
    pairs = [stepper] if "lr_prev" in stepper else [t for t in stepper.get("tiles", []) if isinstance(t, dict)]
    for pair in pairs:
        lr, hr = pair.get("lr_prev"), pair.get("hr_prev")
        if (lr is None) != (hr is None):
            return "holds one of lr_prev and hr_prev without the other"
        if lr is not None and tuple(hr.shape[2:]) != (lr.shape[2] * scale, lr.shape[3] * scale):
            return f"hr_prev {tuple(hr.shape[2:])} is not {scale} times lr_prev {tuple(lr.shape[2:])}"
    if "lr_prev" in stepper and stepper["lr_prev"] is not None and tuple(stepper["lr_prev"].shape[2:]) != tuple(frame_hw):
        return f"lr_prev is {tuple(stepper['lr_prev'].shape[2:])}, the input's frames {tuple(frame_hw)}"
    if "size" in stepper and stepper["size"] is not None and list(stepper["size"]) != list(frame_hw):
        return f"its tiles cover {tuple(stepper['size'])}, the input's frames are {tuple(frame_hw)}"
    return None
