"""The weight files this project ships, found from any working directory and verified.

The models by name: ``--model NAME`` in upscale.py and ``tecogan.load_generator(NAME)`` in the
API; anything else is a checkpoint path.  The default, ``frvsr``, is the one for videos shrunk
the ordinary way (area or bicubic resizing: centre-aligned low-res pixels); ``frvsr-bd`` is for
BD low-res frames (Gaussian blur, then every 4th pixel), the benchmark setting of the papers.
docs/upscale.md explains the choice; docs/models.md has their model cards.  ``tecogan`` is the
GAN model, trained from ``frvsr-bd`` with the full TecoGAN objective: more texture (lower
LPIPS) at a lower PSNR, for BD low-res frames like ``frvsr-bd``.  ``frvsr-fast`` is a small FRNet
(nf 24, nb 7, a narrower FNet and 8 channels at the output resolution) distilled from ``frvsr``:
BI input, 4-5x its frames/s on a CPU for a little less detail.

Where the files are looked for, in order (:func:`search_dirs`):

1. ``$TECOGAN_MODELS``, a folder (for a copy kept elsewhere, e.g. on a cluster's shared disk);
2. the clone's ``pretrained_models/`` (a checkout, or ``pip install -e .``);
3. the package's own copy, ``tecogan/pretrained_models/`` (``pip install .`` or a wheel).

Each shipped file is checked against its SHA-256 (:data:`SHA256`) the first time a process
opens it: a damaged or replaced file is refused with one line, never used.

Each shipped model records the kind of low-res input it expects (docs/models.md): ``BI``,
centre-aligned low-res pixels as area/bicubic resizing makes them (ordinary video), or ``BD``,
Gaussian blur (sigma 1.5) then every 4th pixel (the papers' benchmark setting).  For any other
checkpoint :func:`input_kind` reads the kind from the checkpoint itself.
"""

import os
from typing import NamedTuple

from tecogan.networks.generator import generator_class
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError
from tecogan.utils.weight_files import (  # noqa: F401 - the lookup of 1.2's tecogan.pretrained, re-exported
    ALEXNET_FILE,
    CLONE_DIR,
    ENV_VAR,
    MODELS_DIR,
    PACKAGE_DIR,
    SHA256,
    bundled_alexnet,
    find_file,
    search_dirs,
    verify,
)


class Shipped(NamedTuple):
    file: str  # in pretrained_models/
    kind: str  # "BD" or "BI": the low-res input it expects
    good_for: str  # one line


PRETRAINED = {
    "frvsr": Shipped(
        "FRVSR_BI_footage.pth", "BI", "your own videos: faithful 4x of ordinarily shrunk or small video (the default)"
    ),
    "frvsr-bd": Shipped(
        "FRVSR_BD_footage.pth", "BD", "benchmarks and BD test sets (Vid4 BD style): the highest PSNR on BD input"
    ),
    "tecogan": Shipped(
        "TecoGAN_BD_footage.pth", "BD", "BD input where texture matters more than fidelity: the GAN model, lower LPIPS"
    ),
    "frvsr-real": Shipped(
        "FRVSR_BI_real.pth", "BI", "strongly compressed video (H.264 CRF 30 and worse): trained on the Real degradation"
    ),
    "frvsr-fast": Shipped(
        "FRVSR_BI_fast.pth", "BI", "ordinary video when speed matters: 4-5x frvsr's frames/s on a CPU, a little softer"
    ),
}
DEFAULT_MODEL = "frvsr"

# what low-res input a model of each degradation expects (upscale.py states it; docs/upscale.md)
INPUT_KINDS = {
    "BD": "BD low-res frames (Gaussian blur, then every scale-th pixel: the papers' benchmark setting)",
    "BI": "ordinary low-res video (resized by area, bicubic or bilinear: centre-aligned pixels)",
}


def resolve_model(model, option="--model"):
    """A shipped model's name -> its verified checkpoint path; any other value is returned as it
    is (a path, checked where it is opened).  A bare name that is both a model's name and an
    existing file is ambiguous: one line asks for ``./NAME`` or the model name (``option``: how
    the caller named the value)."""
    key = os.fspath(model)
    if key.lower() not in PRETRAINED:
        if not os.path.exists(key) and os.sep not in key and "." not in key:  # a name, not a file's
            raise UserError(
                f"{option} {key}: no shipped model of that name ({', '.join(PRETRAINED)}) and no such checkpoint file"
            )
        return key
    if os.path.exists(key):
        raise UserError(
            f"{option} {key}: both a shipped model's name and a file in this folder; write "
            f"./{key} for the file, or run from another folder for the shipped model"
        )
    return find_file(PRETRAINED[key.lower()].file)


def describe_models():
    """'frvsr (BI: ...), frvsr-bd (BD: ...)' for help texts."""
    return ", ".join(f"{name} ({m.kind}: {m.good_for})" for name, m in PRETRAINED.items())


def input_kind(model):
    """'BD' or 'BI': the low-res input a generator expects.

    ``model``: a shipped model's name (read from the table), a checkpoint path or a state dict
    (read from its tensors by the generator class it records, an FRNet when none: a BD FRNet
    holds its upsampler's bicubic kernels).  A file that
    is not a generator checkpoint raises :class:`UserError`.
    """
    if isinstance(model, dict):
        state, label = model, "state dict"
    else:
        key = os.fspath(model)
        if key.lower() in PRETRAINED:
            return PRETRAINED[key.lower()].kind
        state, label = load_state_dict_file(key), key
    return generator_class(state, label)[1].arch_from_state_dict(state, label)["degradation"]
