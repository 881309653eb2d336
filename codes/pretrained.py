"""The weight files this project ships, found from any working directory and verified.

The models by name: ``--model NAME`` in upscale.py and ``tecogan.load_generator(NAME)`` in the
API; anything else is a checkpoint path.  The default, ``frvsr``, is the one for videos shrunk
the ordinary way (area or bicubic resizing: centre-aligned low-res pixels); ``frvsr-bd`` is for
BD low-res frames (Gaussian blur, then every 4th pixel), the benchmark setting of the papers.
docs/upscale.md explains the choice; docs/models.md has their model cards.  ``tecogan`` is the
GAN model, trained from ``frvsr-bd`` with the full TecoGAN objective: more texture (lower
LPIPS) at a lower PSNR, for BD low-res frames like ``frvsr-bd``.  ``frvsr-fast`` is a small FRNet
(nf 24, nb 5, a narrower FNet) distilled from ``frvsr``: BI input, about 4x its frames/s on a
CPU for a little less detail.

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
import hashlib
import os
from typing import NamedTuple

from tecogan.networks import GENERATORS
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError

ENV_VAR = "TECOGAN_MODELS"
_PACKAGE = os.path.dirname(os.path.abspath(__file__))
CLONE_DIR = os.path.join(os.path.dirname(_PACKAGE), "pretrained_models")
PACKAGE_DIR = os.path.join(_PACKAGE, "pretrained_models")

# every weight file the project ships -> its SHA-256 (generators store their learned tensors in
# float16: half the size; outputs within 1 grey level of float32 on 0.2% of values, docs/models.md)
SHA256 = {
    "FRVSR_BD_demo.pth": "019f781c49f8c2681dba08d8cd3940777e44b978c31ff5322a1f11f7f8eda996",
    "FRVSR_BD_footage.pth": "4e272d68cc75207d4c6156f03a6a5cd285f0db9d8588cd6aedd5cb4e70e9c746",
    "FRVSR_BI_fast.pth": "d6dd3bd2bfc01674495f72db2f182debd828493f61424d7c29bbfa5220f79c26",
    "FRVSR_BI_footage.pth": "7c31e836f3d6c236d5e8492b57fe4079f40891724828e2484e428a2b1391e1cd",
    "FRVSR_BI_real.pth": "5a4e8bc6d8655bb0e093c79daa965761b828de328c5f17c65951b8754e0ca34c",
    "TecoGAN_BD_footage.pth": "fef70b43411cfe7afbf29f7b481cf5289b8c0d29839c61c752d84a2225b33033",
    "alexnet_imagenet_features.pth": "2f721ec991958ed9ea4e9d8e4f8482e5d67fcd9272fcc797f73b9fecc585cb2d",
}
ALEXNET_FILE = "alexnet_imagenet_features.pth"

KINDS = {
    "BI": "ordinary low-res video (area/bicubic shrinking, centre-aligned pixels)",
    "BD": "BD low-res frames (Gaussian blur + every 4th pixel, the papers' benchmark setting)",
}


class Shipped(NamedTuple):
    file: str       # in pretrained_models/
    kind: str       # "BD" or "BI": the low-res input it expects
    good_for: str   # one line


PRETRAINED = {
    "frvsr": Shipped("FRVSR_BI_footage.pth", "BI",
                     "your own videos: faithful 4x of ordinarily shrunk or small video (the default)"),
    "frvsr-bd": Shipped("FRVSR_BD_footage.pth", "BD",
                        "benchmarks and BD test sets (Vid4 BD style): the highest PSNR on BD input"),
    "tecogan": Shipped("TecoGAN_BD_footage.pth", "BD",
                       "BD input where texture matters more than fidelity: the GAN model, lower LPIPS"),
    "frvsr-real": Shipped("FRVSR_BI_real.pth", "BI",
                          "strongly compressed video (H.264 CRF 30 and worse): trained on the Real degradation"),
    "frvsr-fast": Shipped("FRVSR_BI_fast.pth", "BI",
                          "ordinary video when speed matters: about 4x frvsr's frames/s on a CPU, a little softer"),
}
DEFAULT_MODEL = "frvsr"

# what low-res input a model of each degradation expects (upscale.py states it; docs/upscale.md)
INPUT_KINDS = {
    "BD": "BD low-res frames (Gaussian blur, then every scale-th pixel: the papers' benchmark setting)",
    "BI": "ordinary low-res video (resized by area, bicubic or bilinear: centre-aligned pixels)",
}

_verified = set()


def search_dirs():
    """The folders searched for shipped files, in order (those that exist)."""
    env = os.environ.get(ENV_VAR)
    dirs = ([env] if env else []) + [CLONE_DIR, PACKAGE_DIR]
    return [d for d in dirs if os.path.isdir(d)]


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_file(filename):
    """The verified path of a shipped weight file (UserError naming where it was looked for, or
    the file whose content is not the shipped one)."""
    for folder in search_dirs():
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            verify(path, filename)
            return path
    where = ", ".join(f"{ENV_VAR}={os.environ[ENV_VAR]}" if d == os.environ.get(ENV_VAR) else d
                      for d in ([os.environ[ENV_VAR]] if os.environ.get(ENV_VAR) else []) + [CLONE_DIR, PACKAGE_DIR])
    raise UserError(f"{filename}: shipped weight file not found (looked in {where}); reinstall the package or "
                    f"set {ENV_VAR} to a folder holding it")


def verify(path, filename=None):
    """Refuse a shipped file whose SHA-256 is not the recorded one (once per process and path)."""
    filename = filename or os.path.basename(path)
    key = os.path.realpath(path)
    if key in _verified or filename not in SHA256:
        return
    actual = sha256_file(path)
    if actual != SHA256[filename]:
        raise UserError(f"{path}: SHA-256 {actual[:16]}... is not the shipped {filename}'s "
                        f"({SHA256[filename][:16]}...): the file is damaged or was replaced; restore it "
                        f"(git checkout / reinstall)")
    _verified.add(key)


def resolve_model(model, option="--model"):
    """A shipped model's name -> its verified checkpoint path; any other value is returned as it
    is (a path, checked where it is opened).  A bare name that is both a model's name and an
    existing file is ambiguous: one line asks for ``./NAME`` or the model name (``option``: how
    the caller named the value)."""
    key = os.fspath(model)
    if key.lower() not in PRETRAINED:
        return key
    if os.path.exists(key):
        raise UserError(f"{option} {key}: both a shipped model's name and a file in this folder; write "
                        f"./{key} for the file, or run from another folder for the shipped model")
    return find_file(PRETRAINED[key.lower()].file)


def bundled_alexnet():
    """The bundled ImageNet AlexNet ``features`` (LPIPS backbone, AlexNet feature loss), verified."""
    return find_file(ALEXNET_FILE)


def describe_models():
    """'frvsr (BI: ...), frvsr-bd (BD: ...)' for help texts."""
    return ", ".join(f"{name} ({m.kind}: {m.good_for})" for name, m in PRETRAINED.items())


def input_kind(model):
    """'BD' or 'BI': the low-res input a generator expects.

    ``model``: a shipped model's name (read from the table), a checkpoint path or a state dict
    (read from its tensors: a BD generator holds its upsampler's bicubic kernels).  A file that
    is not a generator checkpoint raises :class:`UserError`.
    """
    if isinstance(model, dict):
        state, label = model, "state dict"
    else:
        key = os.fspath(model)
        if key.lower() in PRETRAINED:
            return PRETRAINED[key.lower()].kind
        state, label = load_state_dict_file(key), key
    return GENERATORS["FRNet"].arch_from_state_dict(state, label)["degradation"]


# the first folder holding the shipped files (for messages and scripts; lookups use find_file)
MODELS_DIR = (search_dirs() or [CLONE_DIR])[0]
