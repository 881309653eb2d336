"""Frozen ImageNet feature extractors for TecoGAN's feature loss: VGG19 (the reference's) or
AlexNet (whose ImageNet ``features`` ship with this repository, for machines that cannot
download VGG19).  Both networks come from torchvision, built without weights; their weights are
read by the project's safe loader (a local file, the bundled AlexNet file, or torchvision's hub
cache checked against the hash in its name: :mod:`tecogan.utils.hub`), never by torchvision's
own loader, which unpickles a cached file with ``weights_only=False``."""

import os

import torch
import torch.nn as nn
import torchvision

from tecogan.utils import weight_files
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError
from tecogan.utils.hub import torchvision_state

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKBONES = ("vgg19", "alexnet")
# the bundled AlexNet features (see pretrained_models/ALEXNET_WEIGHTS.md; found by tecogan.utils.weight_files)
BUNDLED_ALEXNET = os.path.join(weight_files.MODELS_DIR, weight_files.ALEXNET_FILE)
DEFAULT_LAYERS = {"vgg19": [8, 17, 26, 35], "alexnet": [1, 4, 7, 9, 11]}  # after ReLUs


def _torchvision_features(backbone, weights_path=None):
    build = getattr(torchvision.models, backbone)
    if backbone == "alexnet" and not weights_path:
        weights_path = weight_files.bundled_alexnet()
    net = build(weights=None)
    if weights_path:
        sd = load_state_dict_file(weights_path)
        where = weights_path
    else:
        weights = {"vgg19": torchvision.models.VGG19_Weights, "alexnet": torchvision.models.AlexNet_Weights}
        try:
            sd = torchvision_state(weights[backbone].IMAGENET1K_V1, f"torchvision's ImageNet {backbone} weights")
        except UserError as err:  # no network, no cache, a replaced cache file
            raise UserError(
                f"{err}; set train.feature_crit.weights to a local torch.save'd {backbone} state "
                f"dict, or use backbone: alexnet (bundled)"
            ) from None
        where = f"torchvision's {backbone} weights"
    feats = {k[len("features.") :]: v for k, v in sd.items() if k.startswith("features.")} or sd
    try:
        net.features.load_state_dict(feats, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(f"{where}: not a torchvision {backbone} state dict ({first[:160]})") from None
    return net.features


class FeatureExtractor(nn.Module):
    """Outputs of a frozen ImageNet backbone's ``features`` after the given layer indices (cloned).

    Input: RGB in [0, 1], normalised here by the ImageNet mean/std.
    """

    def __init__(self, layers=None, weights_path=None, backbone="vgg19"):
        super().__init__()
        if backbone not in BACKBONES:
            raise UserError(f"backbone {backbone!r}: expected one of {BACKBONES}")
        self.backbone = backbone
        self.layers = sorted(layers or DEFAULT_LAYERS[backbone])
        features = _torchvision_features(backbone, weights_path)
        if self.layers[-1] >= len(features):
            raise UserError(
                f"train.feature_crit.feature_layers: {self.layers[-1]} is past the last layer of "
                f"{backbone}'s features ({len(features) - 1})"
            )
        self.features = features[: self.layers[-1] + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        return super().train(False)

    def forward(self, x):
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.layers:
                out.append(x.clone())
        return out


def VGGFeatureExtractor(layers=(8, 17, 26, 35), weights_path=None):
    """The reference's VGG19 feature extractor (kept for existing callers)."""
    return FeatureExtractor(list(layers), weights_path, "vgg19")
