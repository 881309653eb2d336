"""The RNG-free weight rule of the golden fixtures (GOLDEN.md)."""

import math
import zlib

import numpy as np
import torch


def rule_value(name, shape):
    numel = int(np.prod(shape)) if len(shape) else 1
    phase = (zlib.crc32(name.encode()) % 1000) / 1000 * 2 * math.pi
    s = np.sin(0.618 * np.arange(numel, dtype=np.float64) + phase).reshape(shape)
    if len(shape) >= 2:
        value = s * math.sqrt(1.0 / (numel // shape[0]))
    elif name.endswith("weight"):
        value = 1 + 0.1 * s
    else:
        value = 0.1 * s
    return torch.from_numpy(value.astype(np.float32))


def apply_rule(module):
    """Set every named parameter (not buffers) of ``module`` by the rule."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(rule_value(name, tuple(p.shape)))
    return module
