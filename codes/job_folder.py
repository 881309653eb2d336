"""The job folder of a resumable upscale: ``.<OUTPUT NAME>.tecogan-job/`` beside the output.

It holds ``manifest.json`` (what makes the output's pixels: the input's fingerprint, the model
weights' SHA-256, every option that changes pixels or the encoding, the CPU's flags and thread
count, library versions) and, per completed segment of frames, a record ``segNNNNNN.json``
written last (through a temporary file and a rename, after the segment's files are on disk):
the encoded segment file (or the names and sizes of its PNG frames, kept under ``frames/``), and
the recurrent state after its last frame in ``segNNNNNN.npz`` (numpy, read without pickle).  A
SIGKILL or a power loss at any moment leaves a consistent job: a record exists only for a
segment whose files are complete, and a record whose files do not match it ends the usable
prefix.  ``complete.json`` says every frame is done (only the final file is left to assemble).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import shutil

import av
import cv2
import numpy as np
import torch

from tecogan.utils.device import cpu_flags
from tecogan.utils.errors import UserError
from tecogan.utils.fileio import atomic_write, atomic_write_json
from tecogan.utils.fingerprint import differences
from tecogan.utils.tempfiles import NAME_MAX, remove_own_temps, remove_stale_temps, temp_sibling
from tecogan.video.common import shown

JOB_VERSION = 1
JOB_SUFFIX = ".tecogan-job"
MANIFEST = "manifest.json"
COMPLETE = "complete.json"
FRAMES_DIR = "frames"
# the variables that cap the instruction sets torch, oneDNN and MKL use (they change float results)
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
                 "MKL_CBWR")


def job_path(dst):
    """``.<name>.tecogan-job`` beside the output ``dst``; a name too long for one file name
    (255 bytes) is cut and marked with a hash of the whole name, so two long names stay apart."""
    folder, name = os.path.split(os.path.abspath(os.fspath(dst)))
    entry = f".{name}{JOB_SUFFIX}"
    if len(os.fsencode(entry)) > NAME_MAX:
        mark = "-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
        budget = NAME_MAX - len(os.fsencode(f".{mark}{JOB_SUFFIX}"))
        entry = f".{os.fsdecode(os.fsencode(name)[:budget])}{mark}{JOB_SUFFIX}"
    return os.path.join(folder, entry)


# ------------------------------------------------------------------ state ----
def pack_state(obj, arrays):
    """A JSON skeleton of ``obj`` (dicts, lists, numbers, strings, None and tensors); tensors go
    into ``arrays`` (name -> numpy array; bfloat16 kept as its 16-bit pattern)."""
    if isinstance(obj, torch.Tensor):
        name = f"a{len(arrays)}"
        t = obj.detach().to("cpu").contiguous()
        dtype = str(t.dtype).replace("torch.", "")
        arrays[name] = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().copy()
        return {"tensor": name, "dtype": dtype}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("state keys must be strings")
        return {"dict": {k: pack_state(v, arrays) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return {"list": [pack_state(v, arrays) for v in obj], "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    raise TypeError(f"cannot record a {type(obj).__name__} in a job's state")


def unpack_state(skeleton, arrays):
    """The inverse of :func:`pack_state`."""
    if "tensor" in skeleton:
        t = torch.from_numpy(np.array(arrays[skeleton["tensor"]]))
        return t.view(torch.bfloat16) if skeleton["dtype"] == "bfloat16" else t
    if "dict" in skeleton:
        return {k: unpack_state(v, arrays) for k, v in skeleton["dict"].items()}
    if "list" in skeleton:
        items = [unpack_state(v, arrays) for v in skeleton["list"]]
        return tuple(items) if skeleton.get("tuple") else items
    return skeleton["value"]


def weights_sha256(generator):
    """SHA-256 of the generator's weights as loaded (names, types, shapes and bytes)."""
    h = hashlib.sha256()
    for name, t in generator.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update((t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes())
    return h.hexdigest()


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def numerics(device):
    """What besides the options can change the pixels: the device (and GPU), the CPU's flags and
    instruction-set caps, torch's thread count, the libraries' versions."""
    flags = cpu_flags()
    return {"device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "cpu_flags": sorted(flags) if flags else None,
            "isa_caps": {k: os.environ[k] for k in ISA_VARIABLES if k in os.environ},
            "threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__, "numpy": np.__version__, "opencv": cv2.__version__,
                         "av": av.__version__, "ffmpeg": {k: list(v) for k, v in sorted(av.library_versions.items())},
                         "openvino": _version("openvino")}}


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == JOB_VERSION else None


class JobFolder:
    """The job folder of the output ``dst`` (see the module's text)."""

    def __init__(self, dst):
        self.dst = os.fspath(dst)
        self.path = job_path(dst)
        self.frames_dir = os.path.join(self.path, FRAMES_DIR)

    def exists(self):
        return os.path.lexists(self.path)

    def manifest(self):
        """The recorded manifest, or None (missing or unreadable)."""
        return _read_json(os.path.join(self.path, MANIFEST))

    def _name(self, index, ext):
        return os.path.join(self.path, f"seg{index:06d}{ext}")

    def segment_path(self, index, ext):
        return self._name(index, ext)

    def describe(self):
        manifest = self.manifest()
        total = manifest.get("frames") if manifest else None
        done = self.records()[-1]["frames_end"] if manifest and self.records() else 0
        return f"{done} of {total} frames done" if total else f"{done} frames done"

    def check_plain_run(self, overwrite, resume):
        """Before any work: a plain run (no --resume) over an existing job is refused, naming
        --resume and --overwrite; --overwrite discards the job (here, before anything starts)."""
        if not self.exists():
            return
        if not os.path.isdir(self.path) or os.path.islink(self.path):
            raise UserError(f"{shown(self.path)}: is in the place of this output's job folder and is not one; "
                            "move it away")
        if overwrite:
            self.remove()
            return
        if self.manifest() is None:
            raise UserError(f"{shown(self.path)}: a job folder of {shown(os.path.basename(self.dst))} whose "
                            "manifest.json is missing or damaged; --overwrite discards it and starts again")
        if not resume:
            raise UserError(f"{shown(self.dst)}: an unfinished job of it is in {shown(self.path)} "
                            f"({self.describe()}); --resume continues it, --overwrite discards it and starts again")

    def begin(self, manifest, resume):
        """The usable records (a prefix, maybe empty) to continue from.  ``resume``: continue a job
        whose manifest matches (a different one is refused, naming what changed); else a new job."""
        if self.exists():
            if not resume:
                self.remove()
            else:
                old = self.manifest()
                if old is None:
                    raise UserError(f"{shown(self.path)}: manifest.json is missing or damaged; --overwrite "
                                    "discards the job and starts again")
                changed = differences(old, manifest)
                if changed:
                    raise UserError(f"{shown(self.dst)}: its unfinished job in {shown(self.path)} was made differently "
                                    f"({', '.join(changed)} changed); run it with the same input and options, or "
                                    "--overwrite to discard it and start again")
                remove_own_temps(self.path)
                return self.records()
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)  # OUTPUT may name a folder that does not exist yet
        remove_stale_temps(self.path)
        tmp = temp_sibling(self.path)
        os.mkdir(tmp)
        try:
            atomic_write_json(os.path.join(tmp, MANIFEST), manifest)
            os.rename(tmp, self.path)  # the job exists only with its manifest
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(parent)
        return []

    # ------------------------------------------------------------ segments ----
    def save_segment(self, index, frames_end, state, files, extra=None):
        """Record segment ``index`` (its ``files`` complete: a video segment's path, or the PNG
        frames' names under ``frames/``) with the recurrent state after its last frame."""
        arrays = {}
        skeleton = pack_state(state, arrays)
        npz = self._name(index, ".npz")
        buf = io.BytesIO()
        np.savez(buf, **arrays)

        def write(tmp):
            with open(tmp, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
        atomic_write(npz, write, suffix=".npz", overwrite=True)
        listed = {}
        for path in files:
            if os.path.dirname(path) == self.path:  # an encoded segment: hashed, on disk before its record
                _fsync(path)
                listed[os.path.basename(path)] = {"size": os.path.getsize(path), "sha256": _sha256(path)}
            else:
                listed[os.path.join(FRAMES_DIR, os.path.basename(path))] = {
                    "size": os.path.getsize(path)}
        record = {"version": JOB_VERSION, "index": index, "frames_end": frames_end, "files": listed,
                  "state": skeleton, "state_file": os.path.basename(npz), "state_sha256": _sha256(npz),
                  **(extra or {})}
        atomic_write_json(self._name(index, ".json"), record)

    def _valid(self, record, index):
        if record is None or record.get("index") != index:
            return False
        try:
            if _sha256(os.path.join(self.path, record["state_file"])) != record["state_sha256"]:
                return False
            for name, facts in record["files"].items():
                path = os.path.join(self.path, name)
                if os.path.getsize(path) != facts["size"] or ("sha256" in facts and _sha256(path) != facts["sha256"]):
                    return False
        except (OSError, KeyError, TypeError):
            return False
        return True

    def records(self):
        """The records of segments 0, 1, ... up to the first missing or not matching its files."""
        out = []
        while True:
            record = _read_json(self._name(len(out), ".json"))
            if not self._valid(record, len(out)):
                return out
            out.append(record)

    def load_state(self, record):
        with np.load(os.path.join(self.path, record["state_file"]), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        return unpack_state(record["state"], arrays)

    def mark_complete(self, frames, segments):
        atomic_write_json(os.path.join(self.path, COMPLETE), {"version": JOB_VERSION, "frames": frames,
                                                              "segments": segments})

    def complete(self, records):
        """``complete.json`` when it agrees with the records (every frame done), else None."""
        done = _read_json(os.path.join(self.path, COMPLETE))
        if done is None or done.get("segments") != len(records):
            return None
        if records and records[-1]["frames_end"] != done.get("frames"):
            return None
        return done

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)
