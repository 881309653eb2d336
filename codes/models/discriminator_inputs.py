"""What the TecoGAN discriminators see, built from tensors by the model (the discriminators
themselves take ready inputs and never call another network).

STNet sees frame triplets: the three frames, the outer two warped to the middle one (by the
HR flows of :func:`triplet_flows`, the border replaced by zeros beyond ``crop_border_ratio``)
and the three upsampled LR frames, each group channel-major (r,r,r,g,g,g,b,b,b): 27 channels
for RGB.  SNet sees single frames, after their upsampled LR frame when conditioned.
"""

import torch
import torch.nn.functional as F

from tecogan.ops.warp import backward_warp


def channel_major(frames, n_clip, c, h, w):
    """(n_clip*3, c, h, w) or (n, 3k, c, h, w) -> (n_clip, c*3, h, w), order r,r,r,g,g,g,b,b,b."""
    return frames.reshape(n_clip, 3, c, h, w).transpose(1, 2).reshape(n_clip, 3 * c, h, w)


def triplet_flows(hr_flow, t, flow_fw=None):
    """Backward, zero and forward HR flows of each triplet's middle frame, detached.

    ``hr_flow`` (n, T, 2, H, W): the generator's HR flows of the clip (frame i to i-1);
    ``t``: the clip length cut to whole triplets; ``flow_fw`` (n, t//3, 2, H, W): the forward
    flows of the middle frames, or None for a ping-pong clip (a palindrome, whose reversed half
    holds them).  Returns (n*t, 2, H, W).
    """
    n, _, _, h, w = hr_flow.shape
    flow_bw = hr_flow[:, 0:t:3]
    if flow_fw is None:
        flow_fw = hr_flow.flip(1)[:, 1:t:3]
    merged = torch.stack([flow_bw, torch.zeros_like(flow_bw), flow_fw], dim=2)
    return merged.reshape(-1, 2, h, w).detach()


def st_input(data, flows, bi_data, crop_border_ratio, spatial_size):
    """The 27-channel STNet input of a clip ``data`` (n, t, c, H, W): original, warped (by
    ``flows`` from :func:`triplet_flows`) and conditional (``bi_data``, the upsampled LR clip)."""
    n, t, c, h, w = data.shape
    t = t // 3 * 3
    n_clip = n * t // 3
    frames = data[:, :t].reshape(n * t, c, h, w)
    original = channel_major(frames, n_clip, c, h, w)
    warped = channel_major(backward_warp(frames, flows), n_clip, c, h, w)
    keep = int(spatial_size * crop_border_ratio)
    pad = (spatial_size - keep) // 2
    warped = F.pad(warped[:, :, pad : pad + keep, pad : pad + keep], (pad, pad, pad, pad))
    cond = channel_major(bi_data[:, :t].reshape(n * t, c, h, w), n_clip, c, h, w)
    return torch.cat([original, warped, cond], dim=1)


def s_input(data, bi_data=None):
    """The SNet input of a clip (n, t, c, H, W): its frames, after their upsampled LR frames
    (``bi_data``) when the discriminator is conditioned."""
    n, t, c, h, w = data.shape
    x = data.reshape(n * t, c, h, w)
    if bi_data is None:
        return x
    return torch.cat([bi_data.reshape(n * t, c, h, w), x], dim=1)
