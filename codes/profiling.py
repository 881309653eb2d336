"""Model statistics as the reference's profile mode: parameters, FLOPs, FPS.

FLOPs count Conv2d and ConvTranspose2d modules only, as the reference's profile mode:
``2 * Cin/groups * kh * kw * Cout * Hout * Wout`` per layer for ONE generator step
``forward(lr_curr, lr_prev, hr_prev)``.
"""

import platform
import time

import torch
import torch.nn as nn

from tecogan import defaults
from tecogan.inference.steppers import make_step
from tecogan.utils.errors import UserError

MIN_LR_SIZE = defaults.MIN_LR_SIZE
MAX_LR_SIZE = 8192


def parse_lr_size(text):
    """'3x134x320' -> (3, 134, 320) with a clear error for anything else."""
    parts = str(text).lower().split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) <= 0:
        raise UserError(f"--lr_size {text}: expected CxHxW with three positive integers, e.g. 3x134x320")
    if min(values[1:]) < MIN_LR_SIZE or max(values[1:]) > MAX_LR_SIZE:
        raise UserError(
            f"--lr_size {text}: height and width must be {MIN_LR_SIZE}..{MAX_LR_SIZE} pixels "
            f"(the flow network halves the LR frame three times)"
        )
    return values


def count_parameters(net):
    return sum(p.numel() for p in net.parameters())


def conv_flops(module, output):
    out_c, out_h, out_w = output.shape[1], output.shape[2], output.shape[3]
    kh, kw = module.kernel_size
    in_per_group = module.in_channels // module.groups
    return 2 * in_per_group * kh * kw * out_c * out_h * out_w * output.shape[0]


def count_flops(net, inputs):
    """FLOPs of ``net(*inputs)`` over its Conv2d/ConvTranspose2d modules."""
    total = [0]

    def hook(module, _inp, out):
        total[0] += conv_flops(module, out)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.inference_mode():
            net(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def step_inputs(c, h, w, scale, device):
    lr_curr = torch.rand(1, c, h, w, device=device)
    lr_prev = torch.rand(1, c, h, w, device=device)
    hr_prev = torch.rand(1, c, scale * h, scale * w, device=device)
    return lr_curr, lr_prev, hr_prev


def time_steps(net, inputs, repeats=3, warmup=1):
    """Average seconds of ``repeats`` timed forward calls after ``warmup`` untimed ones."""
    device = inputs[0].device
    with torch.inference_mode():
        for _ in range(warmup):
            net(*inputs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            net(*inputs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def profile_generator(net, lr_size, device, channels_last=True, test_speed=True, backend="torch", precision="fp32"):
    """Returns {'params', 'flops', 'seconds', 'fps'} for one generator step (timed with ``backend``
    in ``precision``: tecogan.inference.precision)."""
    c, h, w = lr_size
    net = net.to(device).eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    torch.manual_seed(0)
    inputs = step_inputs(c, h, w, net.scale, device)
    if channels_last:
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) for x in inputs)
    stats = {"params": count_parameters(net), "flops": count_flops(net, inputs)}
    if test_speed:
        step = net if backend == "torch" and precision == "fp32" else make_step(net, device, backend, channels_last, precision)
        seconds = time_steps(step, inputs)
        stats.update(seconds=seconds, fps=1.0 / seconds)
    return stats


def cpu_name():
    """The CPU model and its widest vector instruction set, e.g. 'AMD EPYC (AVX2)', for benchmark
    reports (speeds differ between machines; ratios measured in one run hold)."""
    model, isa = None, ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model is None:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = line.split()
                    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return f"{model} ({isa})" if isa else model
