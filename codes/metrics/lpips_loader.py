"""LPIPS (alex, v0.1) from the ``lpips`` package, usable without internet access.

LPIPS has two parts:

* its linear calibration layers, shipped inside the ``lpips`` package (always local);
* the ImageNet AlexNet backbone, which ``lpips`` normally takes from torchvision
  (downloaded once into torch's hub cache, ``~/.cache/torch/hub/checkpoints``).

:func:`load_lpips` finds the backbone in this order:

1. ``weights_path`` (``--lpips_weights PATH`` on the command lines, ``lpips_weights=`` in the
   API, ``metric.LPIPS.weights`` in a training config): a ``torch.save`` state dict holding
   torchvision's AlexNet ``features.*`` tensors (a full torchvision AlexNet checkpoint works
   too, its ``classifier.*`` entries are ignored);
2. the environment variable ``TECOGAN_LPIPS_WEIGHTS`` (same kind of file);
3. the file bundled with the project, ``alexnet_imagenet_features.pth`` where the shipped
   weights are found (:func:`tecogan.utils.weight_files.search_dirs`; checked against its SHA-256):
   the default, no flag and no download needed;
4. only where that file is absent: torchvision's own weights (``AlexNet_Weights.IMAGENET1K_V1``:
   the hub cache, else a download).
   Torchvision's file is checked against the hash in its name and read by the safe loader
   (:mod:`tecogan.utils.hub`: never through an unpickler that can run code).

The linear calibration layers shipped inside the ``lpips`` package are read by the same safe loader.

When none of them works, a :class:`UserError` says how to provide the file.

The helpers :func:`lpips_features` and :func:`lpips_from_features` split the LPIPS forward
pass in two so that the AlexNet features of a frame are computed once and reused for
several distances (LPIPS and tLP need each frame in up to three pairs).  Their result
equals ``model(in0, in1)`` (tested).
"""

import os
import warnings

import numpy as np
import torch
from torchvision.models import AlexNet_Weights

from tecogan.utils.checkpoint import check_tensors, load_state_dict_file, verify_checkpoint_file
from tecogan.utils.errors import UserError
from tecogan.utils.hub import torchvision_state
from tecogan.utils.weight_files import ALEXNET_FILE, MODELS_DIR, search_dirs, verify

ENV_VAR = "TECOGAN_LPIPS_WEIGHTS"

# torchvision AlexNet ``features`` index of each conv -> the lpips backbone slice holding it
_FEATURE_SLICES = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


def bundled_weights_path():
    """The bundled ``alexnet_imagenet_features.pth``: the first one found where the shipped weights
    are looked for (:func:`tecogan.utils.weight_files.search_dirs`), else where it belongs (absent)."""
    for folder in search_dirs():
        path = os.path.join(folder, ALEXNET_FILE)
        if os.path.isfile(path):
            return path
    return os.path.join(MODELS_DIR, ALEXNET_FILE)


def _how_to():
    return (
        f"restore the bundled {bundled_weights_path()} (the repository's "
        f"pretrained_models/alexnet_imagenet_features.pth), or name a state dict of torchvision's "
        f"ImageNet AlexNet 'features.*' tensors (command lines: --lpips_weights PATH; Python: "
        f"lpips_weights=PATH; training config: metric.LPIPS.weights; or {ENV_VAR}=PATH)"
    )


def _build_lpips():
    """LPIPS alex v0.1 with its calibration layers and a randomly initialised backbone (every
    weight file read by the safe loader: lpips itself would ``torch.load`` its own file)."""
    try:  # lazy: a missing lpips package is one line when LPIPS is asked for, not an import failure
        import lpips
    except ImportError as err:
        raise UserError(f"the 'lpips' package is not installed ({err}); pip install lpips==0.1.4") from None
    with warnings.catch_warnings():
        # lpips calls torchvision's deprecated ``pretrained=`` argument
        warnings.simplefilter("ignore", UserWarning)
        try:
            model = lpips.LPIPS(net="alex", version="0.1", pretrained=False, pnet_rand=True, verbose=False)
        except (OSError, RuntimeError) as err:
            raise UserError(f"lpips package: cannot build its alex v0.1 model ({err}); reinstall lpips==0.1.4") from None
    path = os.path.join(os.path.dirname(os.path.abspath(lpips.__file__)), "weights", "v0.1", "alex.pth")
    state = load_state_dict_file(path)
    own = {k for k in model.state_dict() if k.startswith("lin") and not k.startswith("lins.")}
    if set(state) != own:
        raise UserError(
            f"{path}: the lpips package's alex v0.1 linear layers hold {sorted(state)[:3]}..., "
            f"expected {sorted(own)[:3]}...; reinstall lpips==0.1.4"
        )
    model.load_state_dict(state, strict=False)
    return model


def _read_weights_file(path):
    if not os.path.isfile(path):
        raise UserError(
            f"{path}: LPIPS AlexNet weights file not found (expected a state dict of torchvision's AlexNet 'features.*' tensors)"
        )
    verify_checkpoint_file(path)  # CRC of every entry: a damaged copy never scores silently
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a user error
        raise UserError(
            f"{path}: cannot be read as a torch state dict ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(
            f"{path}: holds a {type(state).__name__}, expected a state dict of torchvision's AlexNet 'features.*' tensors"
        )
    check_tensors(state, path)
    return state


def _torchvision_alexnet_state():
    """torchvision's ImageNet AlexNet state dict (hub cache, else download; hash-checked, read
    safely). Raises UserError."""
    return torchvision_state(AlexNet_Weights.IMAGENET1K_V1, "torchvision's ImageNet AlexNet weights")


def _load_backbone(model, state, source):
    """Copy ``features.{i}.*`` tensors into the lpips backbone, strictly."""
    mapped = {}
    for key, value in state.items():
        if not key.startswith("features."):
            continue
        parts = key.split(".")
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) not in _FEATURE_SLICES:
            raise UserError(
                f"{source}: unexpected AlexNet entry '{key}' (expected features.N.weight/"
                f"bias with N in {sorted(_FEATURE_SLICES)})"
            )
        index = int(parts[1])
        mapped[f"slice{_FEATURE_SLICES[index]}.{index}.{parts[2]}"] = value
    expected = [f"features.{i}.{kind}" for i in sorted(_FEATURE_SLICES) for kind in ("weight", "bias")]
    missing = [k for k in expected if k not in state]
    if missing:
        raise UserError(f"{source}: missing AlexNet tensors {', '.join(missing)} (expected torchvision's 'features.*' keys)")
    own = model.net.state_dict()
    for key, value in mapped.items():
        if not torch.is_tensor(value) or tuple(value.shape) != tuple(own[key].shape):
            shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            index = key.split(".")[1]
            raise UserError(
                f"{source}: features.{index}.{key.split('.')[2]} has shape {shape}, "
                f"expected {tuple(own[key].shape)} (torchvision AlexNet)"
            )
    model.net.load_state_dict({k: v.float() for k, v in mapped.items()}, strict=True)


def resolve_weights_path(weights_path=None):
    """The explicit path, else ``$TECOGAN_LPIPS_WEIGHTS``, else the bundled file when it is
    there, else None (torchvision's weights)."""
    if weights_path:
        return os.fspath(weights_path)
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env
    bundled = bundled_weights_path()
    if not os.path.isfile(bundled):
        return None
    verify(bundled, ALEXNET_FILE)  # a damaged or replaced bundled file is refused, never used
    return bundled


def load_lpips(weights_path=None, device="cpu"):
    """LPIPS alex v0.1 in eval mode, frozen, on ``device``; inputs are RGB in [-1, 1].

    ``weights_path``: AlexNet ``features.*`` state dict (see the module docstring); None
    tries ``$TECOGAN_LPIPS_WEIGHTS``, then the bundled file, then torchvision's cache/download.
    """
    path = resolve_weights_path(weights_path)
    model = _build_lpips()
    if path is not None:
        state = _read_weights_file(path)
        source = path
    else:
        try:
            state = _torchvision_alexnet_state()
        except Exception as err:  # noqa: BLE001 - offline, proxy, a replaced cache file...
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(
                f"LPIPS needs ImageNet AlexNet weights: the bundled file is missing, and "
                f"torchvision's could not be used ({reason}); {_how_to()}"
            ) from None
        source = "torchvision AlexNet_Weights.IMAGENET1K_V1"
    _load_backbone(model, state, source)
    model.eval()
    model.requires_grad_(False)
    return model.to(device)


def lpips_features(model, x):
    """Unit-normalised AlexNet features (list of 5 tensors) of ``x`` (n, 3, h, w) in [-1, 1]."""
    import lpips  # lazy, as in _build_lpips (this runs only with a model that function built)

    outs = model.net(model.scaling_layer(x))
    return [lpips.normalize_tensor(f) for f in outs]


def lpips_from_features(model, feats_a, feats_b):
    """LPIPS distances (n,) between two batches given by :func:`lpips_features`."""
    total = 0
    for lin, fa, fb in zip(model.lins, feats_a, feats_b, strict=False):
        total = total + lin((fa - fb) ** 2).mean(dim=(2, 3), keepdim=True)
    return total.reshape(-1)


def uint8_to_lpips_input(frames, device="cpu", dtype=None):
    """(t, h, w, 3) or (h, w, 3) uint8 RGB numpy -> float tensor (t, 3, h, w) in [-1, 1]
    (float32 unless ``dtype`` is given, e.g. the model's)."""
    arr = np.ascontiguousarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    x = torch.from_numpy(arr).to(device).permute(0, 3, 1, 2).to(dtype or torch.float32)
    return x / 127.5 - 1.0
