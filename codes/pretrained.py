"""The models this project ships, by name: ``--model NAME`` in upscale.py, and
``tecogan.load_generator(NAME)`` in the API.  Anything else is a checkpoint path.

The default, ``frvsr``, is the one for videos shrunk the ordinary way (area or bicubic
resizing: centre-aligned low-res pixels); ``frvsr-bd`` is for BD low-res frames (Gaussian
blur, then every 4th pixel), the benchmark setting of the papers.  docs/upscale.md explains
the choice; the README has their model cards.  ``tecogan`` is the GAN model, trained from
``frvsr-bd`` with the full TecoGAN objective: more texture (lower LPIPS) at a lower PSNR, for BD
low-res frames like ``frvsr-bd``.
"""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(REPO, "pretrained_models")

# name -> (file in pretrained_models/, what it is for)
PRETRAINED = {
    "frvsr": ("FRVSR_BI_footage.pth", "FRVSR for centre-aligned low-res video (BI: ordinary resizing tools)"),
    "frvsr-bd": ("FRVSR_BD_footage.pth", "FRVSR for BD low-res frames (Gaussian blur + subsampling)"),
    "tecogan": ("TecoGAN_BD_footage.pth", "TecoGAN, the GAN model: more texture, lower PSNR; for BD low-res frames"),
}
DEFAULT_MODEL = "frvsr"


def resolve_model(model):
    """A shipped model's name -> its checkpoint path; any other value is returned unchanged
    (a path, checked where it is opened).  A bare name that is both a shipped model and an
    existing file (``--model tecogan`` beside a file ``tecogan``) is ambiguous: one line."""
    from tecogan.utils.errors import UserError
    key = os.fspath(model)
    if isinstance(key, str) and key.lower() in PRETRAINED:
        if os.path.lexists(key):
            raise UserError(f"--model {key}: both the shipped model {key.lower()!r} and the file ./{key} exist; "
                            f"pass ./{key} to use the file, or move the file away to use the shipped model")
        return os.path.join(MODELS_DIR, PRETRAINED[key.lower()][0])
    return key


def describe_models():
    """'frvsr (FRVSR for ...), frvsr-bd (...)' for help texts."""
    return ", ".join(f"{name} ({what})" for name, (_, what) in PRETRAINED.items())
