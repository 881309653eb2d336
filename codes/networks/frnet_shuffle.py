"""FRNetShuffle: FRNet whose SRNet upsamples its features with one pixel shuffle at low resolution.

FRNet's SRNet ends in two stride-2 transposed convolutions and a 3x3 convolution at the output
resolution; at small widths those full-resolution layers cost more than the residual blocks
(docs/models.md, "Choosing the size").  Here ``srnet.conv_out`` is one 3x3 convolution from
``nf`` features to ``out_nc * scale**2`` channels at the low resolution, rearranged by a pixel
shuffle into the ``scale``-times larger residual; ``srnet.conv_up`` is empty.  The saved time
buys wider residual blocks (a candidate for the fast model, ``experiments_BI/FRVSR_fast2``; the
shipped ``frvsr-fast`` is an FRNet with fewer channels at the output resolution instead).  SRNet's ReLUs (after ``conv_in`` and
inside the residual blocks) are leaky (slope 0.2): with plain ReLUs, training from random weights
left 98% of ``conv_in``'s outputs dead within 1,000 iterations, and at nb 8 the whole residual.
FNet, the warp, the recurrence and the fixed upsampler the residual is added to are FRNet's,
under the same parameter names.
"""

import re

from torch import nn

from tecogan.defaults import MAX_NB, MAX_NF
from tecogan.networks.frnet import FNET_NF, SCALES, FRNet
from tecogan.utils.errors import UserError


class FRNetShuffle(FRNet):
    """FRNet with a pixel-shuffle output head (module docstring); same step, inputs and outputs."""

    def __init__(self, in_nc=3, out_nc=3, nf=48, nb=4, degradation="BI", scale=4, fnet_nf=8):
        super().__init__(in_nc, out_nc, nf, nb, degradation, scale, fnet_nf)
        for parent in (self.srnet.conv_in, *(block.conv for block in self.srnet.resblocks)):
            for i, layer in enumerate(parent):
                if isinstance(layer, nn.ReLU):
                    parent[i] = nn.LeakyReLU(0.2, inplace=True)
        self.srnet.conv_up = nn.Sequential()
        self.srnet.conv_out = nn.Sequential(nn.Conv2d(nf, out_nc * scale * scale, 3, 1, 1, bias=True), nn.PixelShuffle(scale))

    def arch(self):
        """The keyword arguments that rebuild this network; ``fnet_nf`` always (its default is not FRNet's)."""
        return {**super().arch(), "fnet_nf": self.fnet_nf}

    @classmethod
    def arch_from_config(cls, section, degradation, scale):
        if section.get("hr_nf") is not None:
            raise UserError("model.generator.hr_nf: FRNetShuffle has no layer at the output resolution; leave it out")
        arch = super().arch_from_config(section, degradation, scale)
        arch["fnet_nf"] = section.get("fnet_nf", FNET_NF)
        return arch

    @staticmethod
    def arch_from_state_dict(state_dict, path="checkpoint"):
        """The architecture read from the tensors: ``scale`` from ``srnet.conv_in`` (``(scale**2 + 1) *
        in_nc`` input channels), ``out_nc`` from ``srnet.conv_out.0`` (``out_nc * scale**2`` outputs)."""
        tensors = {}
        for key in ("srnet.conv_in.0.weight", "srnet.conv_out.0.weight", "fnet.encoder1.0.weight"):
            t = state_dict.get(key)
            if t is None:
                raise UserError(f"{path}: not an FRNetShuffle generator checkpoint (no {key})")
            if t.dim() != 4 or min(t.shape) < 1:
                raise UserError(
                    f"{path}: {key} has shape {tuple(t.shape)}; expected a 4-D convolution weight "
                    f"(a crafted or damaged checkpoint)"
                )
            tensors[key] = t
        conv_in, conv_out, encoder = tensors.values()
        in_nc = encoder.shape[1] // 2
        ratio = conv_in.shape[1] // max(in_nc, 1) - 1
        scale = int(round(ratio**0.5))
        if scale not in SCALES or scale * scale != ratio or conv_out.shape[0] % ratio:
            raise UserError(
                f"{path}: srnet.conv_in takes {conv_in.shape[1]} channels and srnet.conv_out.0 gives "
                f"{conv_out.shape[0]}: not an FRNetShuffle of scale {' or '.join(map(str, SCALES))}"
            )
        nb = len({int(m.group(1)) for k in state_dict for m in [re.match(r"srnet\.resblocks\.(\d+)\.", k)] if m})
        if max(conv_in.shape[0], encoder.shape[0]) > MAX_NF or nb > MAX_NB:
            raise UserError(
                f"{path}: nf {conv_in.shape[0]}, fnet_nf {encoder.shape[0]}, nb {nb}: implausibly large "
                f"for an FRNetShuffle generator (a crafted or damaged checkpoint)"
            )
        return {
            "in_nc": in_nc,
            "out_nc": conv_out.shape[0] // ratio,
            "nf": conv_in.shape[0],
            "nb": nb,
            "degradation": "BD" if "upsample_func.kernels" in state_dict else "BI",
            "scale": scale,
            "fnet_nf": encoder.shape[0],
        }
