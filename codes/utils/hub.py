"""Pretrained weights of libraries (torchvision, lpips), read through the project's safe loader.

torchvision and lpips load their own weight files with ``torch.hub.load_state_dict_from_url``
/ ``torch.load`` and, for the hub cache (``$TORCH_HOME/hub/checkpoints``), with
``weights_only=False`` and no hash check of a file already there: a pickle planted in that
cache would run.  The project never lets them: networks are built without weights and the
files are opened here, by :func:`tecogan.utils.checkpoint.load_state_dict_file`
(``weights_only=True``, CRC of every zip entry, every tensor finite and within its storage).

:func:`torchvision_state` also checks a cached file against the SHA-256 prefix that
torchvision puts in its name (``alexnet-owt-7be5be79.pth``), so a file replaced in the cache
is refused instead of giving silently wrong features; a missing file is downloaded with the
same check.
"""

import hashlib
import os
import re
from urllib.parse import urlparse

import torch

from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError, one_line

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


def hub_checkpoint_path(url):
    """Where torch's hub cache keeps the file of ``url`` (``$TORCH_HOME/hub/checkpoints/<name>``)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def _sha256_prefix_ok(path, prefix):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest().startswith(prefix)


def torchvision_state(weights, what):
    """The state dict of torchvision ``weights`` (e.g. ``AlexNet_Weights.IMAGENET1K_V1``): the hub
    cache file, else a download into it; checked against the hash in its name, read safely.

    ``what`` names the weights in messages.  Raises :class:`UserError` (also when offline).
    """
    url = weights.url
    path = hub_checkpoint_path(url)
    match = _HASH_IN_NAME.search(os.path.basename(path))
    prefix = match.group(1) if match else None
    if not os.path.lexists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, path, hash_prefix=prefix, progress=False)
        except Exception as err:  # noqa: BLE001 - offline, proxy, a failed hash: one line
            raise UserError(
                f"{what}: not in torch's hub cache ({path}) and could not be downloaded "
                f"({type(err).__name__}: {one_line(err, 160)})"
            ) from None
    if not os.path.isfile(path):
        raise UserError(f"{path}: {what}: not a regular file")
    if prefix is not None and not _sha256_prefix_ok(path, prefix):
        raise UserError(
            f"{path}: {what}: the file does not match the SHA-256 prefix {prefix} in its name "
            f"(replaced or damaged); delete it to download it again"
        )
    return load_state_dict_file(path)
