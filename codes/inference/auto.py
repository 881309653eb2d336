"""``precision: auto``: the fastest precision this machine runs natively whose measured quality
loss is within :data:`GATE` (docs/precision.md).

Shipped models are looked up in ``precision_table.json`` (written by
``scripts/benchmark_precision.py``: whole held-out clips, every precision, interleaved); any
other checkpoint is checked on the user's own first frames against fp32 (the decision cached,
keyed by the weights, the CPU's relevant flags and the library versions; each cached entry
records what it was decided for and is checked against it before it is used).
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
from tecogan.inference.precision import CPU_ORDER, CUDA_ORDER, check_precision, weights_hash
from tecogan.inference.steppers import RecurrentUpscaler, run_clip
from tecogan.utils.device import cpu_flags
from tecogan.utils.errors import UserError, one_line, short, warn
from tecogan.utils.fileio import atomic_write_json

TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "precision_table.json")
# the quality gate of `auto` (scripts/benchmark_precision.py measures it over whole clips)
GATE = {"psnr_db": 0.05,        # Y-PSNR against GT at most this much below fp32's
        "lpips_rel": 0.02,      # LPIPS at most 2% above fp32's
        "tof_rel": 0.02,        # tOF at most 2% above fp32's
        "drift_db": 40.0}       # output vs the fp32 output, last 10 frames: at least this PSNR
OWN_INPUT_FRAMES = 8            # unknown checkpoints: first frames compared with fp32 ...
OWN_INPUT_DB = 45.0             # ... accepted at this PSNR (every frame)


def supported(precision, device, backend="torch", flags=None):
    """Whether :func:`check_precision` accepts it (without its warnings)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_precision(precision, device, backend, flags)
        if backend == "openvino":
            check_backend(backend, device)
        return True
    except UserError:
        return False


def native_precisions(device, backend=None, flags=None):
    """The ``(backend, precision)`` pairs this machine runs natively, fp32 first then fastest first."""
    order = CUDA_ORDER if device.type == "cuda" else CPU_ORDER
    base = [(backend or "torch", "fp32")]
    return base + [(b, p) for b, p in order if backend in (None, b) and supported(p, device, b, flags)]


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
                  f"({entry.get('name', 'this model')}, measured in codes/inference/precision_table.json)")


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
    return {"cpu_units": relevant, "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"), "versions": versions}


def _cache_key(net, device, candidates, flags):
    machine = machine_key(flags)
    text = repr((weights_hash(net), device.type, candidates, machine["cpu_units"], list(machine["versions"].values()),
                 machine["onednn_max_cpu_isa"], OWN_INPUT_DB, OWN_INPUT_FRAMES))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def own_input_psnr(net, frames, device, backend, precision):
    """Per-frame PSNR (dB) of ``precision`` through ``backend`` against fp32 torch on ``frames``
    (run from a zero state, no padding)."""
    ref = list(run_clip(RecurrentUpscaler(net, device, backend="torch", precision="fp32"), frames, 0))
    got = list(run_clip(RecurrentUpscaler(net, device, backend=backend, precision=precision), frames, 0))
    out = []
    for a, b in zip(ref, got, strict=True):
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
    facts = {"key": key, "weights": weights_hash(net), "device": device.type,
             "candidates": [list(bp) for bp in candidates], "machine": machine_key(flags)}
    cached = _cached_choice(cache, facts, fallback) if cache else None
    if cached is not None:
        return cached
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
        _update_json(cache, key, {**facts, "precision": choice.precision, "backend": choice.backend,
                                  "reason": choice.reason})
    return choice


# a cached decision: what it was decided for (checked against the run's own) and the choice
ENTRY_FIELDS = {"key": str, "weights": str, "device": str, "candidates": list, "machine": dict,
                "precision": str, "backend": str, "reason": str}
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
            warn(f"{path}: the auto precision cache holds a JSON {type(data).__name__}, expected an object; "
                 f"ignored, deciding again")
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
