"""TecoGAN discriminators: spatio-temporal STNet and spatial SNet (docs/architecture.md, "Networks").

Both return ``(logits (N, 1), [block1..block4 outputs])``.  Called with a sequence and a
context dict they first build their input from the clip (see ``build_st_input``).
"""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from tecogan.ops.warp import backward_warp


def _disc_blocks():
    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o),
                             nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(OrderedDict([("block1", block(64, 64)), ("block2", block(64, 64)),
                                      ("block3", block(64, 128)), ("block4", block(128, 256))]))


class _PatchDiscriminator(nn.Module):
    def __init__(self, in_channels, spatial_size):
        super().__init__()
        self.conv_in = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=True),
                                     nn.LeakyReLU(0.2, inplace=True))
        self.discriminator_block = _disc_blocks()
        self.dense = nn.Linear(256 * (spatial_size // 16) ** 2, 1)

    def forward_features(self, x):
        x = self.conv_in(x)
        feats = []
        for block in self.discriminator_block:
            x = block(x)
            feats.append(x)
        return self.dense(x.flatten(1)), feats


def _channel_major(frames, n_clip, c, h, w):
    """(n_clip*3, c, h, w) or (n, 3k, c, h, w) -> (n_clip, c*3, h, w), order r,r,r,g,g,g,b,b,b."""
    return frames.reshape(n_clip, 3, c, h, w).transpose(1, 2).reshape(n_clip, 3 * c, h, w)


def triplet_flows(ctx, t, hr_h, hr_w):
    """Backward, zero and forward HR flows for each triplet's middle frame, detached.

    Returns (n_clip*3, 2, hr_h, hr_w).  With ping-pong the sequence is a palindrome and the
    reversed half of ``hr_flow`` gives the forward flows; otherwise FNet computes them.
    """
    hr_flow = ctx["hr_flow"]
    n = hr_flow.shape[0]
    flow_bw = hr_flow[:, 0:t:3]
    if ctx["use_pp_crit"]:
        flow_fw = hr_flow.flip(1)[:, 1:t:3]
    else:
        net_G, lr = ctx["net_G"], ctx["lr_data"]
        _, _, c, lr_h, lr_w = lr.shape
        lr_curr = lr[:, 1:t:3].reshape(-1, c, lr_h, lr_w)
        lr_next = lr[:, 2:t:3].reshape(-1, c, lr_h, lr_w)
        flow_fw = net_G.upsample_flow(net_G.fnet(lr_curr, lr_next), lr_h, lr_w)
        flow_fw = flow_fw.view(n, t // 3, 2, hr_h, hr_w)
    merged = torch.stack([flow_bw, torch.zeros_like(flow_bw), flow_fw], dim=2)
    return merged.reshape(-1, 2, hr_h, hr_w).detach()


def build_st_input(data, ctx, spatial_size):
    """The 27-channel STNet input (original, warped, conditional) of a clip (n, t, c, H, W)."""
    n, t, c, h, w = data.shape
    t = t // 3 * 3
    n_clip = n * t // 3
    if "hr_flow_merge" not in ctx:
        ctx["hr_flow_merge"] = triplet_flows(ctx, t, h, w)
    frames = data[:, :t].reshape(n * t, c, h, w)
    original = _channel_major(frames, n_clip, c, h, w)
    warped = _channel_major(backward_warp(frames, ctx["hr_flow_merge"]), n_clip, c, h, w)
    keep = int(spatial_size * ctx["crop_border_ratio"])
    pad = (spatial_size - keep) // 2
    warped = F.pad(warped[:, :, pad:pad + keep, pad:pad + keep], (pad, pad, pad, pad))
    cond = _channel_major(ctx["bi_data"][:, :t].reshape(n * t, c, h, w), n_clip, c, h, w)
    return torch.cat([original, warped, cond], dim=1)


class STNet(_PatchDiscriminator):
    """Spatio-temporal discriminator on frame triplets (27 input channels for RGB)."""

    def __init__(self, in_nc=3, spatial_size=128, tempo_range=3):
        super().__init__(in_nc * tempo_range * 3, spatial_size)
        self.spatial_size = spatial_size

    def forward(self, x, ctx=None):
        """x: a prepared (N, 27, H, W) input, or a clip (n, t, c, H, W) with ``ctx``
        (lr_data, bi_data, hr_flow, net_G, use_pp_crit, crop_border_ratio; the triplet flows
        are cached in it as ``hr_flow_merge`` for the next call)."""
        if ctx is not None:
            x = build_st_input(x, ctx, self.spatial_size)
        return self.forward_features(x)


class SNet(_PatchDiscriminator):
    """Spatial discriminator on single frames, optionally conditioned on the upsampled LR."""

    def __init__(self, in_nc=3, spatial_size=128, use_cond=True):
        super().__init__(in_nc * (2 if use_cond else 1), spatial_size)
        self.use_cond = use_cond

    def forward(self, x, ctx=None):
        """x: (N, C, H, W) prepared input, or a clip (n, t, c, H, W) with ctx['bi_data']."""
        if ctx is not None:
            n, t, c, h, w = x.shape
            x = x.reshape(n * t, c, h, w)
            if self.use_cond:
                x = torch.cat([ctx["bi_data"].reshape(n * t, c, h, w), x], dim=1)
        return self.forward_features(x)
