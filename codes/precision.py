"""Inference precision: ``fp32 | bf16 | int8 | fp16 | auto`` (docs/precision.md).

* ``fp32``: the reference's numbers (test mode's golden outputs).
* ``bf16``: on CPUs with bf16 units (AVX512_BF16, AMX) and Ampere-or-later GPUs. The torch
  backend runs under autocast; the openvino backend runs a copy of the network whose
  convolution trunk is bfloat16 (:func:`low_precision_copy`). Either way the flow head, the
  warp and the fixed upsampler stay float32, as in mixed-precision training
  (:func:`tecogan.networks.frnet.float32_outside_autocast`).
* ``fp16``: CUDA autocast (``--half``), or CPUs with AMX-FP16.
* ``int8``: OpenVINO with NNCF post-training quantization, on CPUs with VNNI
  (:mod:`tecogan.backends`); the same float32 layers are kept out of the quantization.
* ``auto``: :func:`resolve_auto`: the fastest of these that this machine runs natively and whose
  measured loss is within :data:`GATE`, from ``precision_table.json`` for the shipped models,
  else from a check on the user's own first frames (cached).

A precision this machine cannot run natively is refused with one line (:func:`check_precision`),
never emulated at a fraction of float32's speed.
"""
import copy
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np
import torch
from tecogan.utils.device import cpu_computes, cpu_flags
from tecogan.utils.errors import UserError, warn
from torch import nn

PRECISIONS = ("fp32", "bf16", "int8", "fp16", "auto")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "precision_table.json")

# the quality gate of `auto` (scripts/benchmark_precision.py measures it over whole clips)
GATE = {"psnr_db": 0.05,        # Y-PSNR against GT at most this much below fp32's
        "lpips_rel": 0.02,      # LPIPS at most 2% above fp32's
        "tof_rel": 0.02,        # tOF at most 2% above fp32's
        "drift_db": 40.0}       # output vs the fp32 output, last 10 frames: at least this PSNR
OWN_INPUT_FRAMES = 8            # unknown checkpoints: first frames compared with fp32 ...
OWN_INPUT_DB = 45.0             # ... accepted at this PSNR (every frame)

# the (backend, precision) pairs auto tries, fastest first (as measured: docs/benchmarks_precision.md)
CPU_ORDER = (("openvino", "bf16"), ("openvino", "int8"), ("torch", "bf16"), ("openvino", "fp16"),
             ("torch", "fp16"))
CUDA_ORDER = (("torch", "fp16"), ("torch", "bf16"))

_CPU_UNITS = {"bf16": "bf16 units (AVX512_BF16 or AMX)", "fp16": "fp16 units (AMX-FP16)",
              "int8": "int8 dot-product units (VNNI)"}


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
            raise UserError(f"{name} runs on the CPU through OpenVINO (--device cpu --backend openvino); "
                            f"on {device} use fp16, or export to ONNX for TensorRT (docs/deploy.md)")
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise UserError(f"{name}: {device} has no bf16 units (compute capability below 8.0); use fp16")
        return
    if device.type != "cpu":
        raise UserError(f"{name}: supported on cpu and cuda devices, not {device.type}; use fp32")
    if precision == "int8" and backend != "openvino":
        raise UserError(f"{name} runs through OpenVINO with NNCF quantization: add --backend openvino")
    native = cpu_computes(precision, flags=flags if flags is not None else cpu_flags())
    if native is False:
        cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
        why = f"ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN below them" if cap else "this CPU has none"
        hint = {"bf16": "use fp32, or int8 (--backend openvino) on a CPU with VNNI",
                "fp16": "use bf16 on a CPU with AVX512_BF16 or AMX, or fp32",
                "int8": "use fp32 (bf16 on a CPU with AVX512_BF16 or AMX)"}[precision]
        raise UserError(f"{name} needs {_CPU_UNITS[precision]}, and {why}: it would be emulated at a "
                        f"fraction of fp32's speed; {hint}")
    if native is None:
        warn(f"{name}: cannot read the CPU's flags; if it lacks {_CPU_UNITS[precision]} it runs emulated, "
             f"slower than fp32")
    if precision == "int8":
        try:
            import nncf  # noqa: F401
        except ImportError as e:
            raise UserError(f"{name}: the nncf package is not importable ({e}); install it with: "
                            f"pip install nncf (or pip install 'tecogan[int8]')") from None


def supported(precision, device, backend="torch", flags=None):
    """Whether :func:`check_precision` accepts it (without its warnings)."""
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_precision(precision, device, backend, flags)
        if backend == "openvino":
            from tecogan.backends import check_backend
            check_backend(backend, device)
        return True
    except UserError:
        return False


def native_precisions(device, backend=None, flags=None):
    """The ``(backend, precision)`` pairs this machine runs natively, fp32 first then fastest first."""
    order = CUDA_ORDER if device.type == "cuda" else CPU_ORDER
    base = [(backend or "torch", "fp32")]
    return base + [(b, p) for b, p in order if backend in (None, b) and supported(p, device, b, flags)]


class _Cast(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, x):
        return x.to(self.dtype)


def low_precision_copy(net, dtype):
    """A copy of an FRNet whose convolution trunk (FNet's encoders and decoders, SRNet from
    ``conv_in`` to ``conv_out``) holds and computes ``dtype``, with explicit casts at its ends;
    the flow head, the warp and the fixed upsampler stay float32. For graph compilers (OpenVINO)
    that honour the types they are given, it runs what autocast runs in PyTorch."""
    q = copy.deepcopy(net).cpu().eval()
    f, s = q.fnet, q.srnet
    trunk = [f.encoder1, f.encoder2, f.encoder3, f.decoder1, f.decoder2, f.decoder3,
             s.conv_in, s.resblocks, s.conv_up, s.conv_out]
    for m in trunk:
        m.to(dtype)
    f.encoder1 = nn.Sequential(_Cast(dtype), *f.encoder1)
    f.flow = nn.Sequential(_Cast(torch.float32), *f.flow)
    s.conv_in = nn.Sequential(_Cast(dtype), *s.conv_in)
    s.conv_out = nn.Sequential(s.conv_out, _Cast(torch.float32))
    return q


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
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:24]


def within_gate(row, gate=GATE):
    """Whether a benchmark row (deltas to fp32, drift) passes the gate of ``auto``."""
    return (row["d_psnr"] >= -gate["psnr_db"] and row["d_lpips_rel"] <= gate["lpips_rel"]
            and row["d_tof_rel"] <= gate["tof_rel"] and row["drift_last_db"] >= gate["drift_db"])


def load_table(path=TABLE_PATH):
    """The measured table (``{}`` when absent or unreadable)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


@dataclass
class Choice:
    precision: str
    backend: str
    reason: str


def _from_table(entry, candidates):
    """The fastest candidate the table measured within the gate, or a Choice of fp32."""
    rows = entry.get("rows", {})
    passed = [(rows[f"{b}/{p}"]["speedup"], b, p) for b, p in candidates if f"{b}/{p}" in rows
              and within_gate(rows[f"{b}/{p}"])]
    if not passed:
        return None
    speed, backend, precision = max(passed)
    row = rows[f"{backend}/{precision}"]
    return Choice(precision, backend,
                  f"auto: {precision} through {backend}: {speed:.1f}x fp32 torch's frames/s, Y-PSNR "
                  f"{row['d_psnr']:+.3f} dB, drift {row['drift_last_db']:.1f} dB on held-out clips "
                  f"({entry.get('name', 'this model')}, measured in codes/precision_table.json)")


def _cache_path():
    from tecogan.backends import model_cache_dir
    folder = model_cache_dir()
    return os.path.join(folder, "auto_precision.json") if folder else None


def _cache_key(net, device, candidates, flags):
    versions = [torch.__version__]
    for module in ("openvino", "nncf"):
        try:
            versions.append(__import__(module).__version__)
        except ImportError:
            versions.append(None)
    relevant = sorted(f for f in (flags or ()) if "bf16" in f or "vnni" in f or "fp16" in f or "amx" in f)
    text = repr((weights_hash(net), device.type, candidates, relevant, versions,
                 os.environ.get("ONEDNN_MAX_CPU_ISA"), OWN_INPUT_DB, OWN_INPUT_FRAMES))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def own_input_psnr(net, frames, device, backend, precision):
    """Per-frame PSNR (dB) of ``precision`` through ``backend`` against fp32 torch on ``frames``
    (run from a zero state, no padding)."""
    from tecogan.inference import RecurrentUpscaler, infer_sequence
    ref_up = RecurrentUpscaler(net, device, backend="torch", precision="fp32")
    ref = list(infer_sequence(None, frames, 0, upscaler=ref_up))
    up = RecurrentUpscaler(net, device, backend=backend, precision=precision)
    got = list(infer_sequence(None, frames, 0, upscaler=up))
    out = []
    for a, b in zip(ref, got):
        mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
        out.append(float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse)))
    return out


def resolve_auto(net, device, backend=None, frames=None, flags=None, table=None):
    """The precision (and backend) ``auto`` runs: a :class:`Choice` with a one-line reason.

    ``backend``: the user's backend, or None to let auto choose (the torch backend by default);
    ``frames``: the first (h, w, 3) uint8 frames of the input, for checkpoints the table does
    not hold (only the first :data:`OWN_INPUT_FRAMES` are used); ``flags``/``table``: for tests.
    """
    device = torch.device(device)
    flags = cpu_flags() if flags is None else flags
    fallback = backend or "torch"
    candidates = [bp for bp in native_precisions(device, backend, flags) if bp[1] != "fp32"]
    if not candidates:
        return Choice("fp32", fallback, "auto: fp32 (this machine has no native lower precision"
                      + (f" for the {backend} backend)" if backend else ")"))
    table = load_table() if table is None else table
    entry = table.get("models", {}).get(weights_hash(net)) if device.type == "cpu" else None
    if entry is not None:
        choice = _from_table(entry, candidates)
        return choice or Choice("fp32", fallback, f"auto: fp32 (no lower precision measured within the gate "
                                                   f"for {entry.get('name', 'this model')})")
    if not frames:
        return Choice("fp32", fallback, "auto: fp32 (a checkpoint without measurements, and no frames to "
                      "check a lower precision on)")
    frames = list(frames)[:OWN_INPUT_FRAMES]
    cache, key = _cache_path(), _cache_key(net, device, candidates, flags)
    cached = _read_json(cache).get(key) if cache else None
    if cached:
        return Choice(cached["precision"], cached["backend"], cached["reason"] + " (cached)")
    choice = None
    for b, p in candidates:
        psnr = own_input_psnr(net, frames, device, b, p)
        if min(psnr) >= OWN_INPUT_DB:
            choice = Choice(p, b, f"auto: {p} through {b}: its first {len(frames)} frames agree with fp32's "
                                  f"to {min(psnr):.1f} dB or more (>= {OWN_INPUT_DB:g} dB)")
            break
    if choice is None:
        choice = Choice("fp32", fallback, f"auto: fp32 (no lower precision agreed with fp32 to "
                                          f"{OWN_INPUT_DB:g} dB on the first {len(frames)} frames)")
    if cache:
        _update_json(cache, key, {"precision": choice.precision, "backend": choice.backend,
                                  "reason": choice.reason})
    return choice


def _read_json(path):
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _update_json(path, key, value):
    """Adds ``key`` to the JSON cache (written whole, then renamed); a failure only warns."""
    data = _read_json(path)
    data[key] = value
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:
        warn(f"{path}: cannot cache the auto precision decision ({e.strerror or e})")
