"""TecoGAN discriminators: spatio-temporal STNet and spatial SNet (docs/architecture.md, "Networks").

Both take a ready input (N, C, H, W) and return ``(logits (N, 1), [block1..block4 outputs])``;
the TecoGAN model builds the inputs from its clips (:mod:`tecogan.models.discriminator_inputs`).
"""

from collections import OrderedDict

import torch.nn as nn


def _disc_blocks():
    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2, inplace=True))

    return nn.Sequential(
        OrderedDict(
            [("block1", block(64, 64)), ("block2", block(64, 64)), ("block3", block(64, 128)), ("block4", block(128, 256))]
        )
    )


class _PatchDiscriminator(nn.Module):
    def __init__(self, in_channels, spatial_size):
        super().__init__()
        self.conv_in = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=True), nn.LeakyReLU(0.2, inplace=True))
        self.discriminator_block = _disc_blocks()
        self.dense = nn.Linear(256 * (spatial_size // 16) ** 2, 1)

    def forward_features(self, x):
        x = self.conv_in(x)
        feats = []
        for block in self.discriminator_block:
            x = block(x)
            feats.append(x)
        return self.dense(x.flatten(1)), feats


class STNet(_PatchDiscriminator):
    """Spatio-temporal discriminator on frame triplets (27 input channels for RGB)."""

    input_kind = "triplets"

    def __init__(self, in_nc=3, spatial_size=128, tempo_range=3):
        super().__init__(in_nc * tempo_range * 3, spatial_size)
        self.spatial_size = spatial_size
        self.use_cond = True

    @classmethod
    def from_options(cls, d, crop):
        """From the YAML's ``model.discriminator`` section and the HR crop size."""
        return cls(d["in_nc"], crop, d["tempo_range"])

    def forward(self, x):
        """x: (N, 27, H, W) triplets (:func:`tecogan.models.discriminator_inputs.st_input`)."""
        return self.forward_features(x)


class SNet(_PatchDiscriminator):
    """Spatial discriminator on single frames, optionally conditioned on the upsampled LR."""

    input_kind = "frames"

    def __init__(self, in_nc=3, spatial_size=128, use_cond=True):
        super().__init__(in_nc * (2 if use_cond else 1), spatial_size)
        self.spatial_size = spatial_size
        self.use_cond = use_cond

    @classmethod
    def from_options(cls, d, crop):
        return cls(d["in_nc"], crop, d["use_cond"])

    def forward(self, x):
        """x: (N, C or 2C, H, W) frames, after their upsampled LR frames when conditioned
        (:func:`tecogan.models.discriminator_inputs.s_input`)."""
        return self.forward_features(x)


# name -> class: the YAML's model.discriminator.name chooses from this table (config reads it)
DISCRIMINATORS = {"STNet": STNet, "SNet": SNet}
