"""The import paths of version 1.2 that moved in 1.3 (the sub-packages ``inference``, ``jobs``,
``config``): importing an old path still works until 1.4, with a DeprecationWarning naming the
new home.  The old module is a thin face whose names are looked up in the new module(s)."""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

UNTIL = "1.4"

# old module -> the modules its names now come from (first match wins)
MOVED = {
    "tecogan.options": ("tecogan.inference.options",),
    "tecogan.precision": ("tecogan.inference.precision",),
    "tecogan.precision_auto": ("tecogan.inference.auto",),
    "tecogan.backends": ("tecogan.inference.backends",),
    # the API's Upscaler first: the old pipeline.Upscaler had upscale_video
    "tecogan.pipeline": ("tecogan.api", "tecogan.inference.upscaler"),
    # 1.2's VideoOptions, its limits (MAX_*) and output_size now live in jobs.video_options
    "tecogan.video_job": ("tecogan.jobs.video_options", "tecogan.jobs.video_job"),
    "tecogan.segments": ("tecogan.jobs.segments",),
    # 1.2's weights_sha256, numerics and ISA_VARIABLES now live beside the input's fingerprint
    "tecogan.job_folder": ("tecogan.utils.fingerprint", "tecogan.jobs.job_folder"),
    "tecogan.job_state": ("tecogan.jobs.job_state",),
    "tecogan.assembly": ("tecogan.jobs.assembly",),
    "tecogan.batch": ("tecogan.jobs.batch",),
    "tecogan.scene_cuts": ("tecogan.jobs.scene_cuts",),
    "tecogan.yaml_io": ("tecogan.config.yaml_io",),
    "tecogan.schema": ("tecogan.config.schema",),
    "tecogan.limits": ("tecogan.config.limits",),
}


def _face(old, targets):
    """``__getattr__``/``__dir__`` for the old module: names come from ``targets``, imported on first use."""

    def modules():
        return [importlib.import_module(t) for t in targets]

    def __getattr__(name):
        for module in modules():
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r} (it moved to {targets[-1]})")

    def __dir__():
        return sorted({n for m in modules() for n in dir(m) if not n.startswith("__")})

    return __getattr__, __dir__


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None  # a plain module, filled by exec_module

    def exec_module(self, module):
        targets = MOVED[module.__name__]
        warnings.warn(
            f"{module.__name__} moved to {targets[-1]} in tecogan 1.3; the old name works until {UNTIL}",
            DeprecationWarning,
            stacklevel=2,
        )
        module.__getattr__, module.__dir__ = _face(module.__name__, targets)
        first = importlib.import_module(targets[-1])
        module.__doc__ = f"Moved to :mod:`{targets[-1]}`.\n\n{first.__doc__ or ''}"
        module.__all__ = list(getattr(first, "__all__", [n for n in dir(first) if not n.startswith("_")]))


def install():
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
