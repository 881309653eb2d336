"""Frame-recurrent inference shared by test mode, profiling and ``upscale.py``.

The reference's procedure (SPEC 3): ``num_pad_front`` frames are prepended to the LR
sequence (reflect: frames num_pad..1; replicate: frame 0), the generator runs frame by
frame from zero ``lr_prev``/``hr_prev``, outputs are rounded to uint8 and the padded
frames' outputs dropped.  Speed comes from the channels-last memory format,
``torch.inference_mode`` and keeping the recurrent state on the device.
"""
import contextlib

import numpy as np
import torch


def front_padding_indices(num_frames, num_pad_front, mode="reflect"):
    """Indices of the frames prepended before frame 0.

    reflect: [num_pad, ..., 2, 1] (mirrored again if the clip is shorter);
    replicate: [0] * num_pad.
    """
    if mode not in ("reflect", "replicate"):
        raise ValueError(f"padding mode {mode!r}: expected reflect or replicate")
    if num_pad_front <= 0:
        return []
    if mode == "replicate" or num_frames == 1:
        return [0] * num_pad_front
    period = 2 * (num_frames - 1)
    idx = []
    for k in range(num_pad_front, 0, -1):
        r = k % period
        idx.append(r if r < num_frames else period - r)
    return idx


def resolve_device(device):
    """'cpu', 'cuda', 'cuda:1' or a torch.device -> torch.device."""
    return device if isinstance(device, torch.device) else torch.device(device)


class RecurrentUpscaler:
    """Runs an FRNet one frame at a time, holding ``lr_prev``/``hr_prev``.

    ``step(lr)`` takes an (h, w, 3) uint8 RGB frame and returns the (s*h, s*w, 3) uint8
    frame.  ``half`` runs under CUDA autocast (fp16); ``channels_last`` uses the NHWC
    memory format (about 2x faster on CPU, same numbers).
    """

    def __init__(self, net, device="cpu", channels_last=True, half=False):
        self.device = resolve_device(device)
        self.scale = net.scale
        self.channels_last = channels_last
        self.half = half and self.device.type == "cuda"
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.memory_format = memory_format
        self.net = net.to(self.device).eval().to(memory_format=memory_format)
        self.reset()

    def reset(self):
        self.lr_prev = None
        self.hr_prev = None

    def _to_tensor(self, frame):
        t = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device, non_blocking=True)
        t = t.permute(2, 0, 1).unsqueeze(0).float() / 255.0
        return t.contiguous(memory_format=self.memory_format)

    def _autocast(self):
        if self.half:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def step_tensor(self, lr_curr):
        """(1, c, h, w) float in [0, 1] -> (1, c, s*h, s*w) float (not rounded)."""
        n, c, h, w = lr_curr.shape
        s = self.scale
        if self.lr_prev is None or self.lr_prev.shape != lr_curr.shape:
            self.lr_prev = torch.zeros_like(lr_curr)
            self.hr_prev = torch.zeros(n, c, s * h, s * w, device=self.device).contiguous(
                memory_format=self.memory_format)
        with torch.inference_mode(), self._autocast():
            hr_curr = self.net(lr_curr, self.lr_prev, self.hr_prev).float()
        self.lr_prev, self.hr_prev = lr_curr, hr_curr
        return hr_curr

    def step(self, lr_frame):
        hr = self.step_tensor(self._to_tensor(lr_frame))
        return to_uint8_frame(hr)


def to_uint8_frame(hr):
    """(1, c, H, W) float -> (H, W, c) uint8 numpy, ``uint8(clip(round(x*255), 0, 255))``."""
    with torch.inference_mode():
        out = (hr[0] * 255.0).round_().clamp_(0, 255).to(torch.uint8)
        return out.permute(1, 2, 0).contiguous().cpu().numpy()


def infer_sequence(net, lr_frames, num_pad_front=5, padding_mode="reflect",
                   device="cpu", channels_last=True, half=False, upscaler=None):
    """Super-resolve a whole LR clip.

    lr_frames: sequence of (h, w, 3) uint8 RGB frames (a list or a (t, h, w, 3) array).
    Yields the (s*h, s*w, 3) uint8 outputs of the original frames, in order.
    """
    num = len(lr_frames)
    if upscaler is None:
        upscaler = RecurrentUpscaler(net, device, channels_last=channels_last, half=half)
    upscaler.reset()
    for i in front_padding_indices(num, num_pad_front, padding_mode):
        upscaler.step_tensor(upscaler._to_tensor(lr_frames[i]))
    for i in range(num):
        yield upscaler.step(lr_frames[i])
