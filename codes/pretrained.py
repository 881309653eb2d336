"""The weight files this project ships, found from any working directory and verified.

The models by name: ``--model NAME`` in upscale.py and ``tecogan.load_generator(NAME)`` in the
API; anything else is a checkpoint path.  The default, ``frvsr``, is the one for videos shrunk
the ordinary way (area or bicubic resizing: centre-aligned low-res pixels); ``frvsr-bd`` is for
BD low-res frames (Gaussian blur, then every 4th pixel), the benchmark setting of the papers.
docs/upscale.md explains the choice; docs/models.md has their model cards.  ``tecogan`` is the
GAN model, trained from ``frvsr-bd`` with the full TecoGAN objective: more texture (lower
LPIPS) at a lower PSNR, for BD low-res frames like ``frvsr-bd``.

Where the files are looked for, in order (:func:`search_dirs`):

1. ``$TECOGAN_MODELS``, a folder (for a copy kept elsewhere, e.g. on a cluster's shared disk);
2. the clone's ``pretrained_models/`` (a checkout, or ``pip install -e .``);
3. the package's own copy, ``tecogan/pretrained_models/`` (``pip install .`` or a wheel).

Each shipped file is checked against its SHA-256 (:data:`SHA256`) the first time a process
opens it: a damaged or replaced file is refused with one line, never used.
"""
import hashlib
import os

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
    "FRVSR_BI_footage.pth": "7c31e836f3d6c236d5e8492b57fe4079f40891724828e2484e428a2b1391e1cd",
    "TecoGAN_BD_footage.pth": "baa29a807982ea514500d61c1fb40b4d662b32c60f4b34106f1796a0c38372ec",
    "alexnet_imagenet_features.pth": "2f721ec991958ed9ea4e9d8e4f8482e5d67fcd9272fcc797f73b9fecc585cb2d",
}
ALEXNET_FILE = "alexnet_imagenet_features.pth"

# name -> (file, what it is for)
PRETRAINED = {
    "frvsr": ("FRVSR_BI_footage.pth", "FRVSR for centre-aligned low-res video (BI: ordinary resizing tools)"),
    "frvsr-bd": ("FRVSR_BD_footage.pth", "FRVSR for BD low-res frames (Gaussian blur + subsampling)"),
    "tecogan": ("TecoGAN_BD_footage.pth", "TecoGAN, the GAN model: more texture, lower PSNR; for BD low-res frames"),
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


def resolve_model(model):
    """A shipped model's name -> its verified checkpoint path; any other value is returned as it
    is (a path, checked where it is opened).  A bare name that is both a model's name and an
    existing file is ambiguous: one line asks for ``./NAME`` or the model name."""
    key = os.fspath(model)
    if key.lower() not in PRETRAINED:
        return key
    if os.path.exists(key):
        raise UserError(f"--model {key}: both a shipped model's name and a file in this folder; write "
                        f"./{key} for the file, or run from another folder for the shipped model")
    return find_file(PRETRAINED[key.lower()][0])


def bundled_alexnet():
    """The bundled ImageNet AlexNet ``features`` (LPIPS backbone, AlexNet feature loss), verified."""
    return find_file(ALEXNET_FILE)


def describe_models():
    """'frvsr (FRVSR for ...), frvsr-bd (...)' for help texts."""
    return ", ".join(f"{name} ({what})" for name, (_, what) in PRETRAINED.items())


# the first folder holding the shipped files (for messages and scripts; lookups use find_file)
MODELS_DIR = (search_dirs() or [CLONE_DIR])[0]
