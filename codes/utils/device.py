"""Choosing the compute device from ``--gpu_id`` / ``--device``; what the CPU computes fast."""
import os

import torch

from tecogan.utils.errors import UserError, warn


def device_from_gpu_id(gpu_id, option=None):
    """-1 -> CPU; k >= 0 -> cuda:k, falling back to CPU with a warning when CUDA is absent.

    A GPU index that does not exist on a machine with CUDA is an error.  ``option`` is how the
    user asked for it in messages (default ``--gpu_id k``).
    """
    option = option or f"--gpu_id {gpu_id}"
    if gpu_id is None or gpu_id < 0:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        warn(f"{option}: CUDA is not available on this machine; running on the CPU")
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if gpu_id >= count:
        cpu = "use -1 for the CPU" if option.startswith("--gpu_id") else "use cpu"
        raise UserError(f"{option}: no such GPU (this machine has {count}: 0..{count - 1}); {cpu}")
    return torch.device(f"cuda:{gpu_id}")


def parse_device(name):
    """'cpu', 'cuda' or 'cuda:k' (as for ``--device``) with the same checks."""
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
        return device_from_gpu_id(index, option=f"--device {name}")
    raise UserError(f"--device {name}: expected cpu, cuda or cuda:<index>")


# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) below which it has no bfloat16 / float16 convolutions
_ONEDNN_ISAS_WITHOUT_LOW_PRECISION = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2",
                                      "AVX512_CORE", "AVX512_CORE_VNNI")
# ... and below which it has no VNNI (int8 dot products)
_ONEDNN_ISAS_WITHOUT_VNNI = ("SSE41", "AVX", "AVX2", "AVX512_CORE")
# the /proc/cpuinfo flags of hardware that computes the format (x86 AMX or AVX-512, ARM)
_CPU_FLAGS = {"bf16": ("amx_bf16", "avx512_bf16", "bf16"), "fp16": ("amx_fp16",),
              "int8": ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")}


# a file in /proc/cpuinfo's format read instead of it: to see what the precision choices do on
# another CPU class (tests, support questions); docs/precision.md
CPUINFO_VAR = "TECOGAN_CPUINFO"


def cpu_flags(cpuinfo=None):
    """The CPU's feature flags (a set of /proc/cpuinfo ``flags`` / ``Features`` words), or None
    where they cannot be read (``cpuinfo``: the file, else ``$TECOGAN_CPUINFO``, else /proc/cpuinfo)."""
    cpuinfo = cpuinfo or os.environ.get(CPUINFO_VAR, "").strip() or "/proc/cpuinfo"
    try:
        with open(cpuinfo) as f:
            flags = set()
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        return None
    return flags or None


def cpu_computes(precision, cpuinfo=None, flags=None):
    """Whether this CPU computes ``precision`` ('bf16', 'fp16' or 'int8') convolutions in hardware
    that oneDNN may use: True, False, or None where it cannot tell (no /proc/cpuinfo).

    Without such hardware autocast is emulated and a training step is several times slower
    than in float32 (bf16 about 10x on an AVX2-only CPU). ``cpuinfo``: where the flags are read;
    ``flags``: a set of flags to use instead.
    """
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    capped = _ONEDNN_ISAS_WITHOUT_VNNI if precision == "int8" else _ONEDNN_ISAS_WITHOUT_LOW_PRECISION
    if cap in capped:
        return False
    if flags is None:
        flags = cpu_flags(cpuinfo)
    if not flags:
        return None
    return any(flag in flags for flag in _CPU_FLAGS[precision])
