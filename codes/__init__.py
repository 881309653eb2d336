"""TecoGAN / FRVSR video super-resolution (x4 and x2) in PyTorch.

The public Python API (see docs/api.md)::

    import tecogan
    net = tecogan.load_generator("pretrained_models/FRVSR_BD_footage.pth", device="cpu")
    upscaler = tecogan.Upscaler(net)
    for hr in upscaler.upscale_frames(lr_frames):   # HxWx3 uint8 RGB in and out
        ...
    upscaler.upscale_video("in.mp4", "out.mp4")
    tecogan.metrics.psnr_y(gt_frame, sr_frame)

The command lines (``tecogan``, ``tecogan-upscale``, ``python codes/main.py``) are thin
layers over the same modules.  Names are imported lazily, so ``import tecogan`` is cheap.
"""

import importlib

from tecogan import _moved

__version__ = "1.3.0"
_moved.install()  # the import paths of 1.2 (tecogan.options, tecogan.pipeline ...), with a warning

_API = {
    "load_generator": "tecogan.api",
    "Upscaler": "tecogan.api",
    "build_generator": "tecogan.api",
    "InferenceOptions": "tecogan.api",
}
_ERRORS = ("UserError", "OptionError")  # the error family: tecogan.errors
__all__ = [
    "load_generator",
    "Upscaler",
    "InferenceOptions",
    "build_generator",
    "metrics",
    "errors",
    "UserError",
    "OptionError",
    "__version__",
]


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in ("metrics", "errors"):
        return importlib.import_module(f"tecogan.{name}")
    if name in _ERRORS:
        return getattr(importlib.import_module("tecogan.errors"), name)
    raise AttributeError(f"module 'tecogan' has no attribute {name!r}")
