"""Inference precision: ``fp32 | bf16 | int8 | fp16 | auto`` (docs/precision.md).

* ``fp32``: the reference's numbers (test mode's golden outputs).
* ``bf16``: on CPUs with bf16 units (AVX512_BF16, AMX) and Ampere-or-later GPUs. The torch
  backend runs under autocast; the openvino backend runs a copy of the network whose
  convolution trunk is bfloat16 (:func:`low_precision_copy`, the generator's ``low_precision``). Either way the flow head, the
  warp and the fixed upsampler stay float32, as in mixed-precision training
  (:func:`tecogan.networks.frnet.float32_outside_autocast`).
* ``fp16``: CUDA autocast (``--half``), or CPUs with AMX-FP16.
* ``int8``: OpenVINO with NNCF post-training quantization, on every CPU class from AVX2 up (its
  int8 kernels use VNNI or AMX where present, AVX2's integer units otherwise:
  :mod:`tecogan.inference.backends`); the same float32 layers are kept out of the quantization.
* ``auto``: :func:`tecogan.inference.auto.resolve_auto`: the fastest of these that this machine runs natively and whose
  measured loss is within :data:`GATE`, from ``precision_table.json`` for the shipped models,
  else from a check on the user's own first frames (cached).

A precision this machine cannot run natively is refused with one line (:func:`check_precision`),
never emulated at a fraction of float32's speed.
"""

import copy
import os

import torch

from tecogan import defaults
from tecogan.utils.device import cpu_computes, cpu_flags
from tecogan.utils.errors import UserError, warn
from tecogan.utils.hashing import tensors_sha256
from tecogan.utils.telemetry import decline_telemetry

PRECISIONS = defaults.PRECISIONS
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# the lower-precision (backend, precision) pairs the own-input check of auto tries, per CPU class
# (tecogan.utils.device.cpu_class), fastest first as measured on the shipped models (docs/benchmarks.md,
# "Precision"): on AMX OpenVINO's bf16 beats its int8; on every other class int8 is the fastest.
# Shipped models are ranked by their measured speed instead; OpenVINO fp32 is auto's fallback.
_INT8_FIRST = (("openvino", "int8"), ("openvino", "bf16"), ("torch", "bf16"), ("openvino", "fp16"), ("torch", "fp16"))
CPU_ORDERS = {"amx": (("openvino", "bf16"), ("openvino", "int8"), ("torch", "bf16"), ("openvino", "fp16"), ("torch", "fp16"))}
CUDA_ORDER = (("torch", "fp16"), ("torch", "bf16"))

_CPU_UNITS = {
    "bf16": "bf16 units (AVX512_BF16 or AMX)",
    "fp16": "fp16 units (AMX-FP16)",
    "int8": "AVX2 or newer vector units (OpenVINO's int8 kernels)",
}


def cpu_order(cls):
    """The lower-precision pairs to try on a CPU of class ``cls`` (None: unknown), expected fastest first."""
    return CPU_ORDERS.get(cls, _INT8_FIRST)


def check_precision(precision, device, backend="torch", flags=None):
    """Raise a one-line UserError when ``precision`` cannot run natively here with ``backend``.

    ``flags``: the CPU's flags (default: /proc/cpuinfo), for tests. 'auto' always passes (it
    chooses among what passes).
    """
    if precision not in PRECISIONS:
        raise UserError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision in ("fp32", "auto"):
        return
    name = f"precision {precision}"
    if device.type == "cuda":
        if precision == "int8":
            raise UserError(
                f"{name} runs on the CPU through OpenVINO (--device cpu --backend openvino); "
                f"on {device} use fp16, or export to ONNX for TensorRT (docs/deploy.md)"
            )
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise UserError(f"{name}: {device} has no bf16 units (compute capability below 8.0); use fp16")
        return
    if device.type != "cpu":
        raise UserError(f"{name}: supported on cpu and cuda devices, not {device.type}; use fp32")
    if precision == "int8" and backend != "openvino":
        raise UserError(f"{name} runs through OpenVINO with NNCF quantization: add --backend openvino")
    flags = flags if flags is not None else cpu_flags()
    native = cpu_computes(precision, flags=flags)
    if native is False:
        cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
        why = f"ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN below them" if cap else "this CPU has none"
        hint = {
            "bf16": "use int8 (--backend openvino), or fp32" if cpu_computes("int8", flags=flags) else "use fp32",
            "fp16": "use bf16 on a CPU with AVX512_BF16 or AMX, or fp32",
            "int8": "use fp32 (--backend openvino runs it faster than torch)",
        }[precision]
        slow = (
            "below AVX2 its int8 kernels are not measured to beat fp32"
            if precision == "int8"
            else "it would be emulated at a fraction of fp32's speed"
        )
        raise UserError(f"{name} needs {_CPU_UNITS[precision]}, and {why}: {slow}; {hint}")
    if native is None:
        warn(f"{name}: cannot read the CPU's flags; if it lacks {_CPU_UNITS[precision]} it runs emulated, slower than fp32")
    if precision == "int8":
        decline_telemetry()
        try:
            import nncf  # noqa: F401  (optional, heavy: imported only when int8 is asked for)
        except ImportError as e:
            raise UserError(
                f"{name}: the nncf package is not importable ({e}); install it with: "
                f"pip install nncf (or pip install 'tecogan[int8]')"
            ) from None


def continuation_conflict(asked, asked_backend, ran, ran_backend):
    """Whether work done in precision ``ran`` through ``ran_backend`` may be continued or kept by a
    run that asks for precision ``asked`` and back-end ``asked_backend`` (None: not given).

    ``auto`` accepts whatever ran (on the back-end asked for, if one is); an explicit precision
    needs the same precision and back-end (torch when none is given).  Returns None when it may,
    else ``(given, what_ran, fix)`` texts for a one-line refusal, e.g. ``("--precision bf16",
    "fp32", "--precision fp32 (or auto)")``.
    """
    ran_backend = ran_backend or defaults.BACKEND
    if asked == "auto":
        if asked_backend in (None, ran_backend):
            return None
    elif asked == ran and (asked_backend or defaults.BACKEND) == ran_backend:
        return None
    other = ran_backend != defaults.BACKEND
    given = f"--precision {asked}" + (f" --backend {asked_backend}" if asked_backend else "")
    what = ran + (f" through {ran_backend}" if other else "")
    fix = f"--precision {ran}" + (f" --backend {ran_backend}" if other else "")
    fix += " (or auto without --backend)" if asked_backend not in (None, ran_backend) else " (or auto)"
    return given, what, fix


def low_precision_copy(net, dtype):
    """A copy of a generator whose convolution trunk holds and computes ``dtype``, float32 in and out
    (its ``low_precision``: for an FRNet the flow head, the warp and the fixed upsampler stay
    float32). For graph compilers (OpenVINO) that honour the types they are given, it runs what
    autocast runs in PyTorch; the network itself is untouched."""
    return copy.deepcopy(net).cpu().eval().low_precision(dtype)


class AutocastStep:
    """``step(lr_curr, lr_prev, hr_prev)`` of a torch network under autocast, float32 out."""

    def __init__(self, net, device_type, precision):
        self.net, self.device_type, self.dtype = net, device_type, DTYPES[precision]
        self.precision = precision

    def __call__(self, lr_curr, lr_prev, hr_prev):
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.net(lr_curr, lr_prev, hr_prev).float()


def weights_hash(net):
    """SHA-256 (24 hex digits) of a network's tensors: names, dtypes, shapes and values."""
    return tensors_sha256(net.state_dict())[:24]
