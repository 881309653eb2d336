"""Choosing the compute device from ``--gpu_id`` / ``--device``; what the CPU computes fast."""

import os
import stat

import torch

from tecogan.utils.errors import UserError, warn


def device_from_gpu_id(gpu_id, option=None, warn_fallback=True):
    """-1 -> CPU; k >= 0 -> cuda:k, falling back to CPU with a warning when CUDA is absent.

    A GPU index that does not exist on a machine with CUDA is an error.  ``option`` is how the
    user asked for it in messages (default ``--gpu_id k``).
    """
    option = option or f"--gpu_id {gpu_id}"
    if gpu_id is None or gpu_id < 0:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if warn_fallback:
            warn(f"{option}: CUDA is not available on this machine; running on the CPU")
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if gpu_id >= count:
        cpu = "use -1 for the CPU" if option.startswith("--gpu_id") else "use cpu"
        raise UserError(f"{option}: no such GPU (this machine has {count}: 0..{count - 1}); {cpu}")
    return torch.device(f"cuda:{gpu_id}")


def parse_device(name, warn_fallback=True):
    """'cpu', 'cuda' or 'cuda:k' (as for ``--device``) with the same checks; ``warn_fallback``
    False: a check before the device is set up, which warns then (one warning, not two)."""
    if name in (None, "", "auto"):
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        index = 0
        if ":" in name:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise UserError(f"--device {name}: expected cpu, cuda or cuda:<index>") from None
        return device_from_gpu_id(index, option=f"--device {name}", warn_fallback=warn_fallback)
    raise UserError(f"--device {name}: expected cpu, cuda or cuda:<index>")


# CPU classes, fastest first: what decides which (backend, precision) pairs run natively and whose
# measurements `auto` reads (precision_table.json keeps rows per class; docs/precision.md)
CPU_CLASSES = ("amx", "avx512_bf16", "avx512_vnni", "avx512", "avx2", "other")
# the /proc/cpuinfo flags that put a CPU in each class (the first class with one of them decides)
_CLASS_FLAGS = (
    ("amx", ("amx_tile", "amx_bf16", "amx_int8")),
    ("avx512_bf16", ("avx512_bf16",)),
    ("avx512_vnni", ("avx512_vnni",)),
    ("avx512", ("avx512f",)),
    ("avx2", ("avx2",)),
)
# the class an ONEDNN_MAX_CPU_ISA cap keeps oneDNN (torch's and OpenVINO's kernels) within
_CAP_CLASS = {
    "SSE41": "other",
    "AVX": "other",
    "AVX2": "avx2",
    "AVX2_VNNI": "avx2",
    "AVX2_VNNI_2": "avx2",
    "AVX512_CORE": "avx512",
    "AVX512_CORE_VNNI": "avx512_vnni",
    "AVX512_CORE_BF16": "avx512_bf16",
    "AVX512_CORE_FP16": "avx512_bf16",
    "AVX10_1_512": "avx512_bf16",
}
# the /proc/cpuinfo flags of hardware that computes bf16 / fp16 (x86 AMX or AVX-512, ARM)
_CPU_FLAGS = {"bf16": ("amx_bf16", "avx512_bf16", "bf16"), "fp16": ("amx_fp16",)}
# classes whose oneDNN has int8 convolution kernels (measured: OpenVINO's int8 runs jit_avx2_I8 /
# brgconv_avx512_I8 / brgconv_avx512_amx_I8 primitives, 1.4x-3x its fp32); ARM: dot-product units
INT8_CLASSES = ("amx", "avx512_bf16", "avx512_vnni", "avx512", "avx2")
_ARM_INT8 = "asimddp"


def onednn_cap():
    """``$ONEDNN_MAX_CPU_ISA`` (upper case), or None when unset or blank."""
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper() or None


def cpu_class(flags=None, cap=None):
    """The CPU class (one of :data:`CPU_CLASSES`) from its flags, kept within an ``ONEDNN_MAX_CPU_ISA``
    cap (``cap``: default the environment's; how an AVX2 machine is measured on a newer one), or
    None where the flags cannot be read.  ``flags``: default this CPU's."""
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return None
    found = next((name for name, names in _CLASS_FLAGS if any(f in flags for f in names)), "other")
    cap = onednn_cap() if cap is None else cap.strip().upper()
    limit = _CAP_CLASS.get(cap) if cap else None
    if limit is not None and CPU_CLASSES.index(limit) > CPU_CLASSES.index(found):
        return limit
    return found


# a file in /proc/cpuinfo's format read instead of it: to see what the precision choices do on
# another CPU class (tests, support questions); docs/precision.md
CPUINFO_VAR = "TECOGAN_CPUINFO"


MAX_CPUINFO_BYTES = 16 << 20  # a 1,024-core machine's /proc/cpuinfo is under 2 MiB


def cpu_flags(cpuinfo=None):
    """The CPU's feature flags (a set of /proc/cpuinfo ``flags`` / ``Features`` words), or None
    where they cannot be read (``cpuinfo``: the file, else ``$TECOGAN_CPUINFO``, else /proc/cpuinfo).
    A ``$TECOGAN_CPUINFO`` that is not a readable regular file is one line naming it (a device or
    a pipe there would be read for ever)."""
    chosen = os.environ.get(CPUINFO_VAR, "").strip() if not cpuinfo else ""
    path = cpuinfo or chosen or "/proc/cpuinfo"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise OSError(0, "not a regular file")
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_CPUINFO_BYTES)
    except OSError as e:
        if chosen:
            raise UserError(
                f"${CPUINFO_VAR}={path}: {e.strerror or type(e).__name__} (expected a file in /proc/cpuinfo's "
                "format, or the variable unset)"
            ) from None
        return None
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            flags.update(line.split(":", 1)[1].split())
    return flags or None


def cpu_computes(precision, cpuinfo=None, flags=None):
    """Whether this CPU computes ``precision`` ('bf16', 'fp16' or 'int8') convolutions in hardware
    that oneDNN may use: True, False, or None where it cannot tell (no /proc/cpuinfo).

    bf16 and fp16 need their units (without them autocast is emulated: bf16 about 10x slower
    than float32 on an AVX2-only CPU); int8 runs on the integer units of every class from AVX2 up
    (:data:`INT8_CLASSES`) and on ARM with dot products. ``cpuinfo``: where the flags are read;
    ``flags``: a set of flags to use instead. An ``ONEDNN_MAX_CPU_ISA`` cap counts.
    """
    if flags is None:
        flags = cpu_flags(cpuinfo)
    cap = onednn_cap()
    if precision == "int8":
        if _CAP_CLASS.get(cap, "amx") == "other":
            return False
        if not flags:
            return None
        return cpu_class(flags) in INT8_CLASSES or _ARM_INT8 in flags
    lowest = "avx512_bf16" if precision == "bf16" else "amx"  # the slowest class with such units
    if cap in _CAP_CLASS and CPU_CLASSES.index(_CAP_CLASS[cap]) > CPU_CLASSES.index(lowest):
        return False
    if not flags:
        return None
    return any(flag in flags for flag in _CPU_FLAGS[precision])
