"""``precision: auto``: the fastest precision this machine runs natively whose measured quality
loss is within :data:`GATE` (docs/precision.md).

Shipped models are looked up in ``precision_table.json`` (written by
``scripts/benchmark_precision.py``: whole held-out clips, every precision, interleaved), in the
rows of this CPU's class (:func:`tecogan.utils.device.cpu_class`; :mod:`.measurements`); any
other checkpoint, or a class without rows, is checked on the user's own first frames against
fp32 in the class's expected order (the decision cached, keyed by the weights, the CPU's class
and relevant flags and the library versions; each cached entry records what it was decided for
and is checked against it before it is used). At worst: fp32 through OpenVINO where installed.
"""

import hashlib
import importlib.metadata
import json
import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from tecogan import defaults
from tecogan.inference.backends import check_backend, model_cache_dir
from tecogan.inference.measurements import TABLE_PATH, load_table, rows_for
from tecogan.inference.precision import CUDA_ORDER, check_precision, cpu_order, weights_hash
from tecogan.inference.steppers import RecurrentUpscaler, run_clip
from tecogan.utils.device import cpu_class, cpu_flags
from tecogan.utils.errors import UserError, one_line, short, warn
from tecogan.utils.fileio import atomic_write_json

__all__ = [
    "GATE",
    "TABLE_PATH",
    "Choice",
    "load_table",
    "machine_key",
    "native_precisions",
    "resolve_auto",
    "supported",
    "within_gate",
]
# the quality gate of `auto` (scripts/benchmark_precision.py measures it over whole clips)
GATE = {
    "psnr_db": 0.05,  # Y-PSNR against GT at most this much below fp32's
    "lpips_rel": 0.02,  # LPIPS at most 2% above fp32's
    "tof_rel": 0.02,  # tOF at most 2% above fp32's
    "drift_db": 40.0,
}  # output vs the fp32 output, last 10 frames: at least this PSNR
OWN_INPUT_FRAMES = 8  # unknown checkpoints: first frames compared with fp32 ...
OWN_INPUT_DB = 45.0  # ... accepted at this PSNR (every frame)


def supported(precision, device, backend="torch", flags=None):
    """Whether :func:`check_precision` accepts it (without its warnings)."""
    try:
        if backend == "openvino":  # first: without OpenVINO, int8's check need not import NNCF
            check_backend(backend, device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_precision(precision, device, backend, flags)
        return True
    except UserError:
        return False


def native_precisions(device, backend=None, flags=None):
    """The ``(backend, precision)`` pairs this machine runs natively: fp32 through ``backend`` (torch
    when None) first, then the lower precisions expected fastest first on this CPU's class, then,
    on the CPU with the backend free, fp32 through OpenVINO where it is installed."""
    base = [(backend or "torch", "fp32")]
    if device.type == "cuda":
        order = CUDA_ORDER
    else:
        flags = cpu_flags() if flags is None else flags
        order = cpu_order(cpu_class(flags) if flags else None)
        if backend is None:
            order = (*order, ("openvino", "fp32"))
    return base + [(b, p) for b, p in order if backend in (None, b) and supported(p, device, b, flags)]


def within_gate(row, gate=GATE):
    """Whether a benchmark row (deltas to fp32, drift) passes the gate of ``auto``."""
    return (
        row["d_psnr"] >= -gate["psnr_db"]
        and row["d_lpips_rel"] <= gate["lpips_rel"]
        and row["d_tof_rel"] <= gate["tof_rel"]
        and row["drift_last_db"] >= gate["drift_db"]
    )


@dataclass
class Choice:
    precision: str
    backend: str
    reason: str


def _from_table(name, cls, rows, pairs):
    """The fastest of ``pairs`` (fp32 through the base backend first) that the table measured on
    class ``cls`` within the gate (torch fp32 counts as measured: the 1.0x of the rows)."""
    rows = {
        **rows,
        "torch/fp32": rows.get(
            "torch/fp32", {"speedup": 1.0, "d_psnr": 0.0, "d_lpips_rel": 0.0, "d_tof_rel": 0.0, "drift_last_db": float("inf")}
        ),
    }
    passed = [
        (rows[f"{b}/{p}"]["speedup"], -i, b, p)
        for i, (b, p) in enumerate(pairs)
        if f"{b}/{p}" in rows and within_gate(rows[f"{b}/{p}"])
    ]
    where = f"({name}, measured on CPU class {cls} in codes/inference/precision_table.json)"
    if not passed:
        return Choice("fp32", pairs[0][0], f"auto: fp32 (nothing measured within the gate {where})")
    speed, _, backend, precision = max(passed)
    row = rows[f"{backend}/{precision}"]
    if (backend, precision) == ("torch", "fp32"):
        return Choice("fp32", "torch", f"auto: fp32 (no other pair measured faster within the gate {where})")
    return Choice(
        precision,
        backend,
        f"auto: {precision} through {backend}: {speed:.1f}x fp32 torch's frames/s, Y-PSNR "
        f"{row['d_psnr']:+.3f} dB, drift {row['drift_last_db']:.1f} dB on held-out clips {where}",
    )


def _floor(pairs, why):
    """auto's choice without a lower precision: fp32 through OpenVINO where it is a choice (its
    kernels outrun torch's on every class measured), else fp32 through the base backend."""
    if ("openvino", "fp32") in pairs:
        return Choice("fp32", "openvino", f"auto: fp32 through openvino ({why}; OpenVINO's fp32 runs faster than torch's)")
    return Choice("fp32", pairs[0][0], f"auto: fp32 ({why})")


def _cache_path():
    folder = model_cache_dir()
    return os.path.join(folder, "auto_precision.json") if folder else None


def machine_key(flags=None):
    """What auto's choice depends on besides the weights: the CPU's low-precision units, the
    oneDNN cap and the library versions (batch manifests record it for ``precision auto``)."""
    flags = cpu_flags() if flags is None else flags
    versions = {"torch": torch.__version__}
    for module in ("openvino", "nncf"):  # installed versions, read without importing the libraries
        try:
            versions[module] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            versions[module] = None
    relevant = sorted(f for f in (flags or ()) if "bf16" in f or "vnni" in f or "fp16" in f or "amx" in f)
    return {
        "cpu_class": cpu_class(flags) if flags else None,
        "cpu_units": relevant,
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "versions": versions,
    }


def _cache_key(net, device, candidates, flags):
    machine = machine_key(flags)
    text = repr(
        (
            weights_hash(net),
            device.type,
            candidates,
            machine["cpu_class"],
            machine["cpu_units"],
            list(machine["versions"].values()),
            machine["onednn_max_cpu_isa"],
            OWN_INPUT_DB,
            OWN_INPUT_FRAMES,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def own_input_psnr(net, frames, device, backend, precision):
    """Per-frame PSNR (dB) of ``precision`` through ``backend`` against fp32 torch on ``frames``
    (run from a zero state, no padding)."""
    ref = list(run_clip(RecurrentUpscaler(net, device, backend="torch", precision="fp32"), frames, 0))
    got = list(run_clip(RecurrentUpscaler(net, device, backend=backend, precision=precision), frames, 0))
    out = []
    for a, b in zip(ref, got, strict=True):
        mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
        out.append(float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse)))
    return out


def resolve_auto(net, device, backend=None, frames=None, flags=None, table=None):
    """The precision (and backend) ``auto`` runs: a :class:`Choice` with a one-line reason.

    ``backend``: the user's backend, or None to let auto choose (OpenVINO included on the CPU);
    ``frames``: the first (h, w, 3) uint8 frames of the input, for checkpoints the table does
    not hold for this CPU's class (only the first :data:`OWN_INPUT_FRAMES` are used);
    ``flags``/``table``: for tests.  On the CPU: the row of this CPU's class in the table, else
    the own-input check of the lower precisions in the class's expected order, else (at worst)
    fp32 through OpenVINO where the backend is free and OpenVINO installed.
    """
    device = torch.device(device)
    flags = cpu_flags() if flags is None else flags
    pairs = native_precisions(device, backend, flags)
    lower = [bp for bp in pairs if bp[1] != "fp32"]
    if len(pairs) == 1:
        return Choice(
            "fp32",
            pairs[0][0],
            "auto: fp32 (this machine has no native lower precision" + (f" for the {backend} backend)" if backend else ")"),
        )
    cls = cpu_class(flags) if flags and device.type == "cpu" else None
    unknown = "a checkpoint without measurements"
    if device.type == "cpu":
        table = load_table() if table is None else table
        name, measured = rows_for(table, weights_hash(net), cls)
        if measured is not None:
            return _from_table(name, cls, measured["rows"], pairs)
        if name is not None:
            unknown = f"{name} is not measured on CPU class {cls or 'unknown'}"
    if not lower:
        return _floor(pairs, f"no native lower precision on CPU class {cls or 'unknown'}")
    if not frames:
        return _floor(pairs, f"{unknown}, and no frames to check a lower precision on")
    frames = list(frames)[:OWN_INPUT_FRAMES]
    candidates = pairs[1:]
    cache, key = _cache_path(), _cache_key(net, device, candidates, flags)
    facts = {
        "key": key,
        "weights": weights_hash(net),
        "device": device.type,
        "candidates": [list(bp) for bp in candidates],
        "machine": machine_key(flags),
    }
    cached = _cached_choice(cache, facts, pairs[0][0]) if cache else None
    if cached is not None:
        return cached
    choice = None
    for b, p in lower:
        psnr = own_input_psnr(net, frames, device, b, p)
        if min(psnr) >= OWN_INPUT_DB:
            choice = Choice(
                p,
                b,
                f"auto: {p} through {b}: its first {len(frames)} frames agree with fp32's "
                f"to {min(psnr):.1f} dB or more (>= {OWN_INPUT_DB:g} dB)",
            )
            break
    if choice is None:
        choice = _floor(pairs, f"no lower precision agreed with fp32 to {OWN_INPUT_DB:g} dB on the first {len(frames)} frames")
    if cache:
        _update_json(cache, key, {**facts, "precision": choice.precision, "backend": choice.backend, "reason": choice.reason})
    return choice


# a cached decision: what it was decided for (checked against the run's own) and the choice
ENTRY_FIELDS = {
    "key": str,
    "weights": str,
    "device": str,
    "candidates": list,
    "machine": dict,
    "precision": str,
    "backend": str,
    "reason": str,
}
_KINDS = {str: "a string", list: "a list", dict: "an object"}


def _entry_problem(entry, facts, fallback):
    """Why a cached entry cannot be used for ``facts`` (what this run decides for), or None."""
    if not isinstance(entry, dict):
        return f"{short(entry, 40)} is not an object"
    for name, kind in ENTRY_FIELDS.items():
        if not isinstance(entry.get(name), kind):
            return f"{name} {short(entry.get(name), 40)}: expected {_KINDS[kind]}"
    for name in ("key", "weights", "device", "candidates", "machine"):
        if entry[name] != facts[name]:
            return f"it records {name} {short(entry[name], 40)}, not this run's (copied from another entry or machine?)"
    if entry["precision"] not in defaults.PRECISIONS or entry["precision"] == "auto":
        return f"precision {short(entry['precision'], 40)}: expected one of {', '.join(defaults.PRECISIONS[:-1])}"
    if [entry["backend"], entry["precision"]] not in facts["candidates"] + [[fallback, "fp32"]]:
        return f"{entry['precision']} through {short(entry['backend'], 40)} is none of the choices of this run"
    said = (f"auto: {entry['precision']} through {entry['backend']}", "auto: fp32 (" if entry["backend"] == fallback else None)
    if len(entry["reason"]) > 400 or "\n" in entry["reason"] or not entry["reason"].startswith(tuple(t for t in said if t)):
        return f"reason {short(entry['reason'], 40)} does not say the recorded {entry['precision']} through {entry['backend']}"
    return None


def _cached_choice(path, facts, fallback):
    """The cached Choice for ``facts``, or None: absent, or not valid (dropped with one warning,
    decided again and the entry rewritten)."""
    data = _read_json(path)
    if facts["key"] not in data:
        return None
    entry = data[facts["key"]]
    problem = _entry_problem(entry, facts, fallback)
    if problem is not None:
        warn(f"{path}: entry {facts['key']}: {problem}; dropped, deciding again")
        return None
    return Choice(entry["precision"], entry["backend"], entry["reason"] + " (cached)")


def _read_json(path, quiet=False):
    """The cache as a dict: ``{}`` when absent; a file that is not a JSON object is ignored with
    one warning (and replaced at the next write)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        if not quiet:
            warn(f"{path}: unreadable auto precision cache ({short(str(e), 80)}); ignored, deciding again")
        return {}
    if not isinstance(data, dict):
        if not quiet:
            warn(
                f"{path}: the auto precision cache holds a JSON {type(data).__name__}, expected an object; "
                f"ignored, deciding again"
            )
        return {}
    return data


def _update_json(path, key, value):
    """Adds ``key`` to the JSON cache (written whole to a temporary file, then renamed); a failure
    only warns."""
    try:
        data = _read_json(path, quiet=True)  # read again: another process may have added entries
        data[key] = value
        atomic_write_json(path, data, indent=1)
    except (OSError, UserError) as e:
        warn(f"{path}: cannot cache the auto precision decision ({getattr(e, 'strerror', None) or one_line(e)})")
