"""The measured precision table (``precision_table.json``, written by ``scripts/benchmark_precision.py``):
per shipped model (keyed by a hash of its weights as loaded) and per CPU class
(:data:`tecogan.utils.device.CPU_CLASSES`), each (backend, precision) pair's speed-up over fp32
torch and its quality deltas, with the machine and the command that measured them::

    {"gate": {...}, "classes": {"avx2": {"machine": ..., "command": ...}, ...},
     "models": {"<weights hash>": {"name": "frvsr", "classes": {"avx2": {"rows": {"openvino/int8": {...}},
                                                                       "machine": ..., "command": ...,
                                                                       "clips": [...]}}}}}

Tables of the first format (one machine per model: the entry holds ``rows`` directly) are read
as measured on their machine's class: the class of the flags its ``machine`` text names, else
:data:`OLD_TABLE_CLASS`.
"""

import json
import os
import re

from tecogan.utils.device import CPU_CLASSES, cpu_class

TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "precision_table.json")
# the machine the first format's rows were measured on when their text names no flags: an AMD
# EPYC with avx512_bf16 and avx512_vnni (docs/benchmarks.md, "Precision")
OLD_TABLE_CLASS = "avx512_bf16"
# what a class entry records besides its rows
_RECORDED = ("machine", "command", "clips", "weights")


def load_table(path=TABLE_PATH):
    """The measured table (``{}`` when absent or unreadable)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def machine_class(text):
    """The CPU class of a table's machine text (``'..., flags: avx2 avx512f avx512_bf16,
    ONEDNN_MAX_CPU_ISA=AVX2'``): its flags within its cap; :data:`OLD_TABLE_CLASS` without flags."""
    found = re.search(r"flags:([^,]*)", text or "")
    flags = set(found.group(1).split()) if found else set()
    if not flags:
        return OLD_TABLE_CLASS
    cap = re.search(r"ONEDNN_MAX_CPU_ISA=(\w+)", text)
    return cpu_class(flags, cap.group(1) if cap else "")


def class_entries(entry, table):
    """``{class: {"rows": ..., "machine": ..., ...}}`` of one model's entry, in either format."""
    if not isinstance(entry, dict):
        return {}
    if isinstance(entry.get("classes"), dict):
        return {c: e for c, e in entry["classes"].items() if isinstance(e, dict) and isinstance(e.get("rows"), dict)}
    if isinstance(entry.get("rows"), dict):  # the first format: one machine's rows
        machine = entry.get("machine") or table.get("machine") or ""
        record = {k: entry[k] for k in _RECORDED if k in entry}
        if "command" not in record and table.get("command"):
            record["command"] = table["command"]
        return {machine_class(machine): {**record, "machine": machine, "rows": entry["rows"]}}
    return {}


def rows_for(table, digest, cls):
    """``(name, class entry)`` of the model with weights hash ``digest`` measured on class ``cls``;
    ``(name, None)`` when the model is in the table but not for that class, ``(None, None)`` when absent."""
    entry = table.get("models", {}).get(digest) if isinstance(table.get("models"), dict) else None
    if not isinstance(entry, dict):
        return None, None
    return entry.get("name", "this model"), class_entries(entry, table).get(cls)


def merge(table, digest, name, cls, record, gate):
    """``table`` with ``record`` (rows, machine, command, clips) stored as model ``name``'s
    measurements on class ``cls``, in the current format: the model's other classes are kept
    (first-format rows converted), entries of other weights under the same name are dropped
    (weights the name no longer ships), and the class's machine and command are noted."""
    models = table.get("models", {})
    out = {"gate": gate, "classes": dict(table.get("classes", {})), "models": {}}
    for key, entry in models.items():
        if key == digest or entry.get("name") == name:
            continue
        out["models"][key] = {
            **{k: v for k, v in entry.items() if k not in _RECORDED + ("rows",)},
            "classes": class_entries(entry, table),
        }
    classes = class_entries(models[digest], table) if digest in models else {}
    classes[cls] = record
    out["models"][digest] = {"name": name, "classes": {c: classes[c] for c in CPU_CLASSES if c in classes}}
    out["classes"][cls] = {"machine": record.get("machine"), "command": record.get("command")}
    for entry in out["models"].values():
        for c, e in entry["classes"].items():
            out["classes"].setdefault(c, {"machine": e.get("machine"), "command": e.get("command")})
    out["classes"] = {c: out["classes"][c] for c in CPU_CLASSES if c in out["classes"]}
    return out
