"""Honest time estimates: the whole job at the speed measured after its warm-up, and what a
faster path would take (another precision, ``frvsr-fast``), from the measured precision table.

    estimate: 1200 frames left at 0.85 frames/s: about 23m32s; faster: --model frvsr-fast (a little
    softer) about 5m53s, --precision int8 --backend openvino about 9m31s

Ratios come from ``precision_table.json`` (frames/s of each model and (backend, precision) pair,
measured interleaved on one machine of this CPU's class); a checkpoint or class the table does not
hold gets no suggestion.
"""

import os

import av

from tecogan.inference.auto import load_table, native_precisions, within_gate
from tecogan.inference.measurements import class_entries
from tecogan.inference.precision import weights_hash
from tecogan.utils.device import cpu_class
from tecogan.utils.fileio import image_header_size, list_images
from tecogan.utils.progress import format_seconds

FAST_MODEL = "frvsr-fast"
FASTER = 1.15  # a path is suggested only when the table measured it at least this much faster
# frvsr-fast's end-to-end frames/s over frvsr's in one precision, measured interleaved (the lowest
# of docs/models.md "Speed, end to end" for the current file: 4.0x-5.5x on a Zen 5, 48 and 240
# frames, torch and OpenVINO, one thread and both).  The table's rows of two models come from
# separate runs (other days, other loads), so their ratio is no measurement of this one (24x on
# one machine's rows).
FAST_MODEL_SPEEDUP = 4.0


def _entries(table):
    return table.get("models", {}) if isinstance(table, dict) else {}


def _rows(entry, table, cls):
    """The rows measured for this CPU class (speeds compare only within one class and machine)."""
    measured = class_entries(entry, table).get(cls) if cls else None
    return measured["rows"] if measured else {}


def _fps(rows, pair):
    row = rows.get(f"{pair[0]}/{pair[1]}")
    return row.get("fps") if isinstance(row, dict) and isinstance(row.get("fps"), (int, float)) else None


def faster_paths(upscaler, table=None):
    """[(flags, ratio)]: the paths the table measured at least :data:`FASTER` times faster than
    what runs now, fastest first (``--model frvsr-fast`` for the BI models it was distilled for)."""
    table = load_table() if table is None else table
    entry = _entries(table).get(weights_hash(upscaler.generator))
    if entry is None or upscaler.device.type != "cpu":
        return []
    cls = cpu_class()
    rows, running = _rows(entry, table, cls), (upscaler.options.backend, upscaler.options.precision)
    now = _fps(rows, running)
    if not now:
        return []
    paths = []
    for pair in native_precisions(upscaler.device):
        fps = _fps(rows, pair)
        row = rows.get(f"{pair[0]}/{pair[1]}")
        if pair != running and fps and fps >= FASTER * now and within_gate(row):
            paths.append((f"--precision {pair[1]} --backend {pair[0]}", fps / now))
    paths = sorted(paths, key=lambda p: -p[1])[:1]  # the fastest other precision
    fast = next((e for e in _entries(table).values() if e.get("name") == FAST_MODEL), None)
    if fast is not None and entry.get("name") != FAST_MODEL and upscaler.generator.arch().get("degradation") == "BI":
        if _fps(_rows(fast, table, cls), running):  # it runs this precision on this class
            paths.insert(0, (f"--model {FAST_MODEL} (a little softer)", FAST_MODEL_SPEEDUP))
    return paths


def job_estimate(rate, frames_left, paths=()):
    """The estimate line for ``frames_left`` frames at ``rate`` frames/s (None: unknown length)."""
    if not frames_left or rate <= 0:
        return None
    seconds = frames_left / rate
    line = f"estimate: {frames_left} frames left at {rate:.2f} frames/s: about {format_seconds(seconds)}"
    if paths:
        line += "; faster: " + ", ".join(f"{flags} about {format_seconds(seconds / ratio)}" for flags, ratio in paths)
    return line


def estimator(upscaler):
    """The ``estimate`` callback of :class:`tecogan.utils.progress.Progress` for a job on ``upscaler``."""
    return lambda rate, frames_left: job_estimate(rate, frames_left, faster_paths(upscaler))


def probe(path):
    """(frames, pixels per frame) of a video file or a folder of frames, from its metadata (no
    decoding), or None when they cannot be told cheaply."""
    try:
        if os.path.isdir(path):
            files = list_images(path)
            if not files:
                return None
            with open(os.path.join(path, files[0]), "rb") as f:
                size = image_header_size(f.read(1 << 16))
            return (len(files), size[0] * size[1]) if size else None
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            frames = stream.frames
            if not frames and stream.duration and stream.average_rate:
                frames = int(stream.duration * stream.time_base * stream.average_rate)
            pixels = stream.codec_context.width * stream.codec_context.height
            return (frames, pixels) if frames and pixels else None
    except (OSError, IndexError, ValueError, av.error.FFmpegError):
        return None


def batch_estimate(pixel_rate, paths):
    """The line for the inputs still to do at ``pixel_rate`` (LR pixels per second, measured on the
    files done so far), or None where none can be probed."""
    probed = [p for p in (probe(path) for path in paths) if p]
    if not probed or pixel_rate <= 0:
        return None
    frames = sum(f for f, _ in probed)
    seconds = sum(f * px for f, px in probed) / pixel_rate
    unknown = len(paths) - len(probed)
    return (
        f"batch estimate: {len(paths)} inputs left, {frames} frames"
        + (f" (+ {unknown} of unknown length)" if unknown else "")
        + f": about {format_seconds(seconds)} at the speed of the files done so far"
    )
