"""Frozen ImageNet VGG19 feature extractor for TecoGAN's feature loss."""
import torch
import torch.nn as nn

from tecogan.utils.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg19_features(weights_path=None):
    import torchvision
    if weights_path:
        from tecogan.utils.checkpoint import load_state_dict_file
        vgg = torchvision.models.vgg19(weights=None)
        sd = load_state_dict_file(weights_path)
        feats = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
        if not feats:
            feats = sd
        try:
            vgg.features.load_state_dict(feats, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise UserError(f"{weights_path}: not a torchvision vgg19 state dict ({first[:160]})")
        return vgg.features
    try:
        weights = torchvision.models.VGG19_Weights.IMAGENET1K_V1
        return torchvision.models.vgg19(weights=weights).features
    except Exception as err:  # no network, no cache
        raise UserError(f"cannot get the ImageNet VGG19 weights from torchvision ({type(err).__name__}); "
                        f"set train.feature_crit.vgg_weights to a local torch.save'd vgg19 state dict")


class VGGFeatureExtractor(nn.Module):
    """Outputs of VGG19 ``features`` after the given layer indices (cloned), frozen."""

    def __init__(self, layers=(8, 17, 26, 35), weights_path=None):
        super().__init__()
        self.layers = sorted(layers)
        self.features = _vgg19_features(weights_path)[: self.layers[-1] + 1]
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
