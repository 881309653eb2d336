"""Where the weight files this project ships are found, and their check (SHA-256, once per process).

Looked for, in order (:func:`search_dirs`):

1. ``$TECOGAN_MODELS``, a folder (for a copy kept elsewhere, e.g. on a cluster's shared disk);
2. the clone's ``pretrained_models/`` (a checkout, or ``pip install -e .``);
3. the package's own copy, ``tecogan/pretrained_models/`` (``pip install .`` or a wheel).

A damaged or replaced file is refused with one line, never used.  The models' names and what
each is for are :mod:`tecogan.pretrained`; this module is below the networks (the AlexNet
features of LPIPS and of the feature loss are found here too).
"""

import os

from tecogan.utils.errors import UserError
from tecogan.utils.hashing import file_sha256

ENV_VAR = "TECOGAN_MODELS"
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLONE_DIR = os.path.join(os.path.dirname(_PACKAGE), "pretrained_models")
PACKAGE_DIR = os.path.join(_PACKAGE, "pretrained_models")

# every weight file the project ships -> its SHA-256 (generators store their learned tensors in
# float16: half the size; outputs within 1 grey level of float32 on 0.2% of values, docs/models.md)
SHA256 = {
    "FRVSR_BD_demo.pth": "019f781c49f8c2681dba08d8cd3940777e44b978c31ff5322a1f11f7f8eda996",
    "FRVSR_BD_footage.pth": "4e272d68cc75207d4c6156f03a6a5cd285f0db9d8588cd6aedd5cb4e70e9c746",
    "FRVSR_BI_fast.pth": "b248638bb56e774b6889aed08c042c9f126c15ef079b6eb7ac225e6e01664ce7",
    "FRVSR_BI_footage.pth": "7c31e836f3d6c236d5e8492b57fe4079f40891724828e2484e428a2b1391e1cd",
    "FRVSR_BI_real.pth": "5a4e8bc6d8655bb0e093c79daa965761b828de328c5f17c65951b8754e0ca34c",
    "TecoGAN_BD_footage.pth": "87aea4f28239f9197844eccb0e6d5959a21dfc04d221309ef2ce9759d1afb033",
    "alexnet_imagenet_features.pth": "2f721ec991958ed9ea4e9d8e4f8482e5d67fcd9272fcc797f73b9fecc585cb2d",
}
ALEXNET_FILE = "alexnet_imagenet_features.pth"

_verified = set()


def search_dirs():
    """The folders searched for shipped files, in order (those that exist)."""
    env = os.environ.get(ENV_VAR)
    dirs = ([env] if env else []) + [CLONE_DIR, PACKAGE_DIR]
    return [d for d in dirs if os.path.isdir(d)]


def find_file(filename):
    """The verified path of a shipped weight file (UserError naming where it was looked for, or
    the file whose content is not the shipped one)."""
    for folder in search_dirs():
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            verify(path, filename)
            return path
    where = ", ".join(
        f"{ENV_VAR}={os.environ[ENV_VAR]}" if d == os.environ.get(ENV_VAR) else d
        for d in ([os.environ[ENV_VAR]] if os.environ.get(ENV_VAR) else []) + [CLONE_DIR, PACKAGE_DIR]
    )
    raise UserError(
        f"{filename}: shipped weight file not found (looked in {where}); reinstall the package or "
        f"set {ENV_VAR} to a folder holding it"
    )


def verify(path, filename=None):
    """Refuse a shipped file whose SHA-256 is not the recorded one (once per process and path)."""
    filename = filename or os.path.basename(path)
    key = os.path.realpath(path)
    if key in _verified or filename not in SHA256:
        return
    actual = file_sha256(path)
    if actual != SHA256[filename]:
        raise UserError(
            f"{path}: SHA-256 {actual[:16]}... is not the shipped {filename}'s "
            f"({SHA256[filename][:16]}...): the file is damaged or was replaced; restore it "
            f"(git checkout / reinstall)"
        )
    _verified.add(key)


def bundled_alexnet():
    """The bundled ImageNet AlexNet ``features`` (LPIPS backbone, AlexNet feature loss), verified."""
    return find_file(ALEXNET_FILE)


# the first folder holding the shipped files (for messages and scripts; lookups use find_file)
MODELS_DIR = (search_dirs() or [CLONE_DIR])[0]
