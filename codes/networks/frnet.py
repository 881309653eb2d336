"""The frame-recurrent generator of FRVSR and TecoGAN: FNet + SRNet = FRNet.

Module and parameter names follow the reference exactly (``fnet.encoder1.0.weight``,
``srnet.resblocks.3.conv.2.bias``, ``upsample_func.kernels`` ...), so published
checkpoints load with ``strict=True``.  Scales 2 and 4 follow the reference's later
versions: ``conv_in`` takes ``(scale**2 + 1) * in_nc`` channels and ``conv_up`` holds one
stride-2 transposed convolution + ReLU per factor of 2 (``conv_up.0`` for 2x, ``conv_up.0``
and ``conv_up.2`` for 4x).  :meth:`FRNet.arch_from_state_dict` reads the architecture back
from a checkpoint's tensors.
"""

import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from tecogan.defaults import MAX_NB, MAX_NF
from tecogan.networks.generator import Cast, Generator
from tecogan.ops.upsample import make_upsampler
from tecogan.ops.warp import backward_warp, space_to_depth
from tecogan.utils.errors import UserError

SCALES = (2, 4)
FNET_NF = 32  # the reference's FNet width (32-64-128-256 channels); every published checkpoint's


def _conv3x3(in_nc, out_nc):
    return nn.Conv2d(in_nc, out_nc, 3, 1, 1, bias=True)


def _double_conv(in_nc, out_nc):
    return [_conv3x3(in_nc, out_nc), nn.LeakyReLU(0.2, inplace=True), _conv3x3(out_nc, out_nc), nn.LeakyReLU(0.2, inplace=True)]


def float32_outside_autocast(fn, x):
    """``fn(x)``; under autocast (mixed-precision training), in float32 with autocast off.

    For the layers whose outputs are pixel values or flows rather than features: the flow head
    (a bfloat16 flow of 10 LR pixels is 0.04 px off, 4x that once upsampled for the HR warp)
    and the fixed bicubic upsampler that the residual is added to (bfloat16 would round the
    output image to about one grey level). They are a small part of the work.
    """
    device = x.device.type
    if not torch.is_autocast_enabled(device):
        return fn(x)
    with torch.autocast(device, enabled=False):
        return fn(x.float())


class FNet(nn.Module):
    """Optical flow between two LR frames.

    forward(lr_curr, lr_prev): (n, c, h, w) x2 -> flow (n, 2, h8, w8) with h8 = h//8*8,
    in LR pixels, bounded to +-24; it says where in ``lr_prev`` each pixel of
    ``lr_curr`` comes from.

    ``nf`` is the width of the first encoder level (the reference's 32): the levels are
    nf, 2nf, 4nf, 8nf channels. A narrower FNet (the fast model's) keeps every parameter name.
    """

    def __init__(self, in_nc, nf=FNET_NF):
        super().__init__()
        self.encoder1 = nn.Sequential(*_double_conv(2 * in_nc, nf), nn.MaxPool2d(2, 2))
        self.encoder2 = nn.Sequential(*_double_conv(nf, 2 * nf), nn.MaxPool2d(2, 2))
        self.encoder3 = nn.Sequential(*_double_conv(2 * nf, 4 * nf), nn.MaxPool2d(2, 2))
        self.decoder1 = nn.Sequential(*_double_conv(4 * nf, 8 * nf))
        self.decoder2 = nn.Sequential(*_double_conv(8 * nf, 4 * nf))
        self.decoder3 = nn.Sequential(*_double_conv(4 * nf, 2 * nf))
        self.flow = nn.Sequential(_conv3x3(2 * nf, nf), nn.LeakyReLU(0.2, inplace=True), _conv3x3(nf, 2))

    def forward(self, lr_curr, lr_prev):
        x = torch.cat([lr_curr, lr_prev], dim=1)
        x = self.encoder3(self.encoder2(self.encoder1(x)))
        for decoder in (self.decoder1, self.decoder2, self.decoder3):
            x = F.interpolate(decoder(x), scale_factor=2, mode="bilinear", align_corners=False)
        return float32_outside_autocast(lambda y: torch.tanh(self.flow(y)) * 24.0, x)


class ResidualBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, plus identity."""

    def __init__(self, nf):
        super().__init__()
        self.conv = nn.Sequential(_conv3x3(nf, nf), nn.ReLU(inplace=True), _conv3x3(nf, nf))

    def forward(self, x):
        return x + self.conv(x)


class SRNet(nn.Module):
    """Super-resolves ``lr_curr`` given the warped previous HR frame (space-to-depth).

    forward(lr_curr (n, c, h, w), hr_prev_s2d (n, s*s*c, h, w)) -> (n, out_nc, s*h, s*w).

    ``hr_nf``: the channels at the output resolution (the last transposed convolution's outputs,
    ``conv_out``'s inputs); the reference's is ``nf``.
    """

    def __init__(self, in_nc, out_nc, nf, nb, upsample_func, scale, hr_nf=None):
        super().__init__()
        hr_nf = nf if hr_nf is None else hr_nf
        self.conv_in = nn.Sequential(nn.Conv2d((scale * scale + 1) * in_nc, nf, 3, 1, 1, bias=True), nn.ReLU(inplace=True))
        self.resblocks = nn.Sequential(*[ResidualBlock(nf) for _ in range(nb)])
        up = []
        n_up = int(math.log2(scale))
        for i in range(n_up):
            out = hr_nf if i == n_up - 1 else nf
            up += [nn.ConvTranspose2d(nf, out, 3, 2, 1, output_padding=1, bias=True), nn.ReLU(inplace=True)]
        self.conv_up = nn.Sequential(*up)
        self.conv_out = nn.Conv2d(hr_nf, out_nc, 3, 1, 1, bias=True)
        # BD: an nn.Module (its buffer is saved under srnet.upsample_func); BI: a plain callable
        self.upsample_func = upsample_func

    def forward(self, lr_curr, hr_prev_s2d):
        x = self.conv_in(torch.cat([lr_curr, hr_prev_s2d], dim=1))
        x = self.conv_up(self.resblocks(x))
        return self.conv_out(x) + float32_outside_autocast(self.upsample_func, lr_curr)


class FRNet(Generator):
    """Frame-recurrent VSR generator (FRVSR and TecoGAN share it); the protocol is
    :mod:`tecogan.networks.generator`'s.

    ``degradation`` selects the upsampler: 'BD' (TF bicubic, a registered module whose
    kernels appear as ``upsample_func.kernels`` and ``srnet.upsample_func.kernels``) or
    'BI' (bilinear, stateless). ``fnet_nf`` is FNet's first width (:class:`FNet`) and ``hr_nf``
    SRNet's channels at the output resolution (:class:`SRNet`; None: ``nf``); each appears in
    :meth:`arch` only when it is not the reference's (32, ``nf``), so every published architecture
    reads back as before.
    """

    estimates_flow = True
    # int8: the layers kept out of the quantization (node names of the converted graph): the flow
    # head and the fixed upsampler (pixel values and flows, float32 in every precision) and the
    # first and last convolutions (measured: docs/benchmarks.md, "Precision")
    int8_float32 = (
        r".*fnet\.flow\..*",
        r".*upsample_func.*",
        r".*fnet\.encoder1\.0/.*",
        r".*srnet\.conv_in\..*",
        r".*srnet\.conv_out.*",
    )

    def __init__(self, in_nc=3, out_nc=3, nf=64, nb=10, degradation="BD", scale=4, fnet_nf=FNET_NF, hr_nf=None):
        super().__init__()
        if scale not in SCALES:
            raise UserError(f"FRNet: scale {scale} is not supported (expected one of {SCALES})")
        self.scale = scale
        self.out_nc, self.nf, self.nb = out_nc, nf, nb
        self.in_nc = in_nc
        self.fnet_nf = fnet_nf
        self.hr_nf = nf if hr_nf is None else hr_nf
        if self.hr_nf < 1:
            raise UserError(f"FRNet: hr_nf {hr_nf}: expected an integer >= 1 (or None: nf)")
        self.degradation = degradation
        self.upsample_func = make_upsampler(degradation, scale)
        self.fnet = FNet(in_nc, fnet_nf)
        self.srnet = SRNet(in_nc, out_nc, nf, nb, self.upsample_func, scale, self.hr_nf)

    @staticmethod
    def full_size_flow(lr_flow, h, w):
        """FNet's flow at (h//8*8, w//8*8) -> (.., 2, h, w), its last rows and columns reflected."""
        pad_h, pad_w = h - lr_flow.shape[-2], w - lr_flow.shape[-1]
        # padded unconditionally (a 0-pixel pad is a copy) so traced graphs hold for any size
        return F.pad(lr_flow, (0, pad_w, 0, pad_h), mode="reflect")

    def upsample_flow(self, lr_flow, h, w):
        """LR flow at (h//8*8, w//8*8) or (h, w) -> HR flow (.., 2, s*h, s*w) in HR pixels."""
        lr_flow = self.full_size_flow(lr_flow, h, w)
        return self.scale * float32_outside_autocast(self.upsample_func, lr_flow)

    def hr_flow(self, lr_curr, lr_prev):
        """FNet's flow from ``lr_curr`` to ``lr_prev``, upsampled: (n, 2, s*h, s*w) in HR pixels."""
        return self.upsample_flow(self.fnet(lr_curr, lr_prev), *lr_curr.shape[-2:])

    def forward(self, lr_curr, lr_prev, hr_prev):
        """One recurrent step.

        lr_curr, lr_prev: (n, c, h, w); hr_prev: (n, c, s*h, s*w). Returns hr_curr (n, c, s*h, s*w).
        """
        h, w = lr_curr.shape[-2:]
        lr_flow = self.fnet(lr_curr, lr_prev)
        hr_flow = self.upsample_flow(lr_flow, h, w)
        hr_prev_warp = backward_warp(hr_prev, hr_flow)
        return self.srnet(lr_curr, space_to_depth(hr_prev_warp, self.scale))

    def forward_sequence(self, lr_data):
        """Training-time pass over a clip.

        lr_data: (n, t, c, h, w). Returns a dict with ``hr_data`` (n, t, c, sh, sw),
        ``hr_flow`` (n, t-1, 2, sh, sw), ``lr_flow`` (n*(t-1), 2, h, w),
        ``lr_curr`` and ``lr_prev`` (n*(t-1), c, h, w).
        """
        n, t, c, h, w = lr_data.shape
        s = self.scale
        lr_prev = lr_data[:, :-1].reshape(n * (t - 1), c, h, w)
        lr_curr = lr_data[:, 1:].reshape(n * (t - 1), c, h, w)
        # full size, so the warping loss and the flow distillation take crops that are not a multiple of 8
        lr_flow = self.full_size_flow(self.fnet(lr_curr, lr_prev), h, w)
        hr_flow = self.upsample_flow(lr_flow, h, w).view(n, t - 1, 2, s * h, s * w)

        hr_prev = self.srnet(lr_data[:, 0], lr_data.new_zeros(n, s * s * c, h, w))
        hr_frames = [hr_prev]
        for i in range(1, t):
            hr_prev_warp = backward_warp(hr_prev, hr_flow[:, i - 1])
            hr_prev = self.srnet(lr_data[:, i], space_to_depth(hr_prev_warp, s))
            hr_frames.append(hr_prev)
        return {
            "hr_data": torch.stack(hr_frames, dim=1),
            "hr_flow": hr_flow,
            "lr_flow": lr_flow,
            "lr_curr": lr_curr,
            "lr_prev": lr_prev,
        }

    def arch(self):
        """The keyword arguments that rebuild this network (what a checkpoint implies)."""
        arch = {
            "in_nc": self.in_nc,
            "out_nc": self.out_nc,
            "nf": self.nf,
            "nb": self.nb,
            "degradation": self.degradation,
            "scale": self.scale,
        }
        if self.fnet_nf != FNET_NF:
            arch["fnet_nf"] = self.fnet_nf
        if self.hr_nf != self.nf:
            arch["hr_nf"] = self.hr_nf
        return arch

    @classmethod
    def arch_from_config(cls, section, degradation, scale):
        """From ``model.generator`` (``in_nc, out_nc, nf, nb, fnet_nf, hr_nf``); Real data is made with
        centre-aligned resizing, so it trains a BI generator."""
        arch = {
            "in_nc": section["in_nc"],
            "out_nc": section["out_nc"],
            "nf": section["nf"],
            "nb": section["nb"],
            "degradation": "BI" if degradation == "Real" else degradation,
            "scale": scale,
        }
        if section.get("fnet_nf", FNET_NF) != FNET_NF:  # as arch(): only a non-reference FNet width
            arch["fnet_nf"] = section["fnet_nf"]
        if section.get("hr_nf") not in (None, section["nf"]):
            arch["hr_nf"] = section["hr_nf"]
        return arch

    def low_precision(self, dtype):
        """This network (a copy: it is changed in place) with its convolution trunk (FNet's encoders
        and decoders, SRNet from ``conv_in`` to ``conv_out``) in ``dtype``, explicit casts at its ends;
        the flow head, the warp and the fixed upsampler stay float32 (what autocast runs in PyTorch)."""
        f, s = self.fnet, self.srnet
        for m in (
            f.encoder1,
            f.encoder2,
            f.encoder3,
            f.decoder1,
            f.decoder2,
            f.decoder3,
            s.conv_in,
            s.resblocks,
            s.conv_up,
            s.conv_out,
        ):
            m.to(dtype)
        f.encoder1 = nn.Sequential(Cast(dtype), *f.encoder1)
        f.flow = nn.Sequential(Cast(torch.float32), *f.flow)
        s.conv_in = nn.Sequential(Cast(dtype), *s.conv_in)
        s.conv_out = nn.Sequential(s.conv_out, Cast(torch.float32))
        return self

    @staticmethod
    def arch_from_state_dict(state_dict, path="checkpoint"):
        """``{'in_nc', 'out_nc', 'nf', 'nb', 'degradation', 'scale'}`` read from FRNet tensors
        (and ``fnet_nf``, FNet's first width, when it is not the reference's 32; ``hr_nf``, the
        channels of ``srnet.conv_out``'s input, when they are not ``nf``).

        ``scale`` comes from ``srnet.conv_in`` (``(scale**2 + 1) * in_nc`` input channels) and
        must agree with the number of ``srnet.conv_up`` layers; BD checkpoints hold the bicubic
        kernels (``upsample_func.kernels``), BI ones do not.
        """
        try:
            conv_in = state_dict["srnet.conv_in.0.weight"]
            conv_out = state_dict["srnet.conv_out.weight"]
        except KeyError:
            raise UserError(
                f"{path}: not an FRNet generator checkpoint (no srnet.conv_in.0.weight / "
                f"srnet.conv_out.weight); is it a discriminator or another network?"
            ) from None
        encoder = state_dict.get("fnet.encoder1.0.weight")
        for key, t in (
            ("srnet.conv_in.0.weight", conv_in),
            ("srnet.conv_out.weight", conv_out),
            ("fnet.encoder1.0.weight", encoder),
        ):
            if t is not None and (t.dim() != 4 or min(t.shape) < 1):
                raise UserError(
                    f"{path}: {key} has shape {tuple(t.shape)}; expected a 4-D convolution weight "
                    f"(a crafted or damaged checkpoint)"
                )
        in_nc = encoder.shape[1] // 2 if encoder is not None else 3
        if encoder is not None and encoder.shape[1] != 6:
            raise UserError(
                f"{path}: fnet.encoder1.0.weight takes {encoder.shape[1]} channels; expected 6 (two RGB "
                f"frames: every FRNet here runs on RGB)"
            )
        nb = len({int(m.group(1)) for k in state_dict for m in [re.match(r"srnet\.resblocks\.(\d+)\.", k)] if m})
        ratio = conv_in.shape[1] // max(in_nc, 1) - 1
        scale = int(round(ratio**0.5))
        ups = len({k for k in state_dict if re.match(r"srnet\.conv_up\.\d+\.weight$", k)})
        if scale not in SCALES or 2**ups != scale or scale * scale != ratio:
            raise UserError(
                f"{path}: srnet.conv_in takes {conv_in.shape[1]} channels and srnet.conv_up has "
                f"{ups} layer(s): not an FRNet of scale {' or '.join(map(str, SCALES))}"
            )
        if conv_in.shape[0] > MAX_NF or nb > MAX_NB:
            raise UserError(
                f"{path}: nf {conv_in.shape[0]}, nb {nb}: implausibly large for an FRNet generator "
                f"(a crafted or damaged checkpoint)"
            )
        arch = {
            "in_nc": in_nc,
            "out_nc": conv_out.shape[0],
            "nf": conv_in.shape[0],
            "nb": nb,
            "degradation": "BD" if "upsample_func.kernels" in state_dict else "BI",
            "scale": scale,
        }
        fnet_nf = encoder.shape[0] if encoder is not None else FNET_NF
        if fnet_nf > MAX_NF:
            raise UserError(
                f"{path}: fnet.encoder1.0.weight has {fnet_nf} output channels: implausibly large for "
                f"an FRNet generator (a crafted or damaged checkpoint)"
            )
        if fnet_nf != FNET_NF:
            arch["fnet_nf"] = fnet_nf
        hr_nf = conv_out.shape[1]
        if hr_nf > MAX_NF:
            raise UserError(
                f"{path}: srnet.conv_out.weight takes {hr_nf} channels: implausibly large for an FRNet "
                f"generator (a crafted or damaged checkpoint)"
            )
        last_up = state_dict.get(f"srnet.conv_up.{2 * (ups - 1)}.weight")
        if last_up is not None and (last_up.dim() != 4 or last_up.shape[1] != hr_nf):
            raise UserError(
                f"{path}: srnet.conv_up.{2 * (ups - 1)}.weight gives {last_up.shape[1] if last_up.dim() > 1 else '?'} "
                f"channels but srnet.conv_out.weight takes {hr_nf}; expected the same (a crafted or damaged checkpoint)"
            )
        if hr_nf != arch["nf"]:
            arch["hr_nf"] = hr_nf
        return arch
