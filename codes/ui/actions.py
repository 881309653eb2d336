"""What the page's buttons do, without Gradio: settings checked from the form's values, jobs added
from uploads or allowed files, the texts of the queue, a job's details and progress.  Every error
is a :class:`UserError` with one line naming the value and what was expected."""

from __future__ import annotations

import math
import os
import re
import time

from tecogan import defaults
from tecogan.pretrained import DEFAULT_MODEL, INPUT_KINDS, PRETRAINED
from tecogan.ui import inputs
from tecogan.ui.store import CODECS
from tecogan.utils.errors import UserError
from tecogan.video.codecs import CODEC_ALIASES
from tecogan.video.codecs import CODECS as VIDEO_CODECS

# the page's guidance, one line a model (the README's "Pick a model")
GUIDANCE = {
    "frvsr": "ordinary video (phone, camera, a download): a faithful, clean 4x (the default)",
    "frvsr-real": "strongly compressed video (blocky, smeared: H.264 CRF 30 and worse)",
    "frvsr-bd": "BD benchmark frames (Gaussian blur + every 4th pixel): the highest PSNR there",
    "tecogan": "BD benchmark frames where texture matters more than fidelity (the GAN model)",
    "frvsr-fast": "ordinary video when speed matters: 4-5x frvsr's frames/s on a CPU, a little softer",
}
BD_WARNING = (
    "**A BD model on ordinary video** puts every pixel 1.5 px off and scores below bicubic: for your own "
    "videos use `frvsr` (or `frvsr-real` for heavily compressed ones)."
)
CRFS = ("default", "14", "18", "23", "28", "35")
SIZES = ("x4", "x2", "x3", "720p", "1080p", "1440p", "2160p")
SIZE_HELP = (
    "x4: the model's own scale (x2 for 2x models); xF: any factor (the network's output resized, e.g. x2.5); "
    "Hp: a target height in pixels (width follows the aspect)"
)
PRECISION_HELP = (
    "auto: the fastest of bf16, int8 or fp16 this machine runs natively with a negligible measured loss "
    "(fp32 otherwise); what it picked and why is shown in the job's details. fp32: exactly test mode's frames"
)
UNPLAYABLE = ("h265", "ffv1", "prores")  # codecs that Chromium and Firefox do not play (the page says so)
MAX_FACTOR = 16
MAX_HEIGHT = defaults.MAX_OUTPUT_SIDE


def model_label(name):
    return f"{name}: {GUIDANCE.get(name, PRETRAINED[name].good_for)}"


def model_guidance(name):
    """The page's text under the model choice (the BD warning for BD models)."""
    shipped = PRETRAINED.get(name)
    if shipped is None:
        return ""
    good_for = shipped.good_for[:1].upper() + shipped.good_for[1:]
    text = f"**{name}** expects {INPUT_KINDS[shipped.kind]}. {good_for}."
    return text + ("\n\n" + BD_WARNING if shipped.kind == "BD" else "")


def parse_size(text, scale=4):
    """``x4`` (the model's own scale) / ``x2.5`` (a factor) / ``1080p`` (a target height) ->
    the settings' ``size``, ``factor``, ``height``, ``scale``."""
    raw = str(text if text is not None else "").strip().lower()
    if raw in ("", "model", f"x{scale}"):
        return {"size": "model", "factor": None, "height": None, "scale": scale}
    m = re.fullmatch(r"x\s*(\d+(?:\.\d+)?)", raw)
    if m:
        factor = float(m.group(1))
        if not 0 < factor <= MAX_FACTOR:
            raise UserError(f"output size {text!r}: expected a factor above 0 and at most {MAX_FACTOR}")
        return {"size": "factor", "factor": factor, "height": None, "scale": scale}
    m = re.fullmatch(r"(\d+)\s*p?", raw)
    if m:
        height = int(m.group(1))
        if not 2 <= height <= MAX_HEIGHT:
            raise UserError(f"output size {text!r}: expected a height from 2 to {MAX_HEIGHT} pixels")
        return {"size": "height", "factor": None, "height": height, "scale": scale}
    raise UserError(f"output size {text!r}: expected x4 (the model's scale), a factor like x2.5, or a height like 1080p")


def _number(name, value, low, high, integer=False):
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{name} {value!r}: expected a number")
    if not low <= value <= high or (integer and value != int(value)):
        kind = "a whole number" if integer else "a number"
        raise UserError(f"{name} {value:g}: expected {kind} from {low:g} to {high:g}")
    return int(value) if integer else float(value)


def _to_number(name, text):
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{name} {text!r}: expected a number, or 'default'") from None


def settings_from(model, size, codec="h264", crf=None, precision="auto", start=None, duration=None, models=None):
    """The checked settings of a job from the form's (or the API's) values."""
    models = models or tuple(PRETRAINED)
    if model not in models:
        raise UserError(f"model {model!r}: expected one of {', '.join(models)}")
    codec = codec or "h264"
    if codec not in CODECS:
        raise UserError(f"codec {codec!r}: expected one of {', '.join(CODECS)}")
    precision = precision or "auto"
    if precision not in defaults.PRECISIONS:
        raise UserError(f"precision {precision!r}: expected one of {', '.join(defaults.PRECISIONS)}")
    start = _number("start", start, 0, defaults.MAX_SECONDS)
    duration = _number("duration", duration, 0, defaults.MAX_SECONDS)
    if duration == 0:
        duration = None  # 0 in the form: the whole video
    if isinstance(crf, str):
        crf = None if crf.strip().lower() in ("", "default") else _to_number("quality (CRF)", crf)
    crf = _number("quality (CRF)", crf, 0, 63, True)
    quality = VIDEO_CODECS[CODEC_ALIASES.get(codec, codec)].crf
    if crf is not None and quality is None:
        raise UserError(f"quality (CRF) {crf}: {codec} has no quality setting (choose 'default')")
    if crf is not None and not quality[1] <= crf <= quality[2]:
        raise UserError(f"quality (CRF) {crf}: expected {quality[1]}..{quality[2]} for {codec} (lower is better quality)")
    return {
        "model": model,
        **parse_size(size),
        "codec": codec,
        "crf": crf,
        "precision": precision,
        "start": start or None,
        "duration": duration,
    }


def _name_of(path):
    return os.path.basename(os.fspath(path).rstrip("/\\"))


def add_job(queue, settings, video=None, frames=None, allowed=None, allow_dirs=(), limit=None):
    """A queued job from one of: a video upload, a folder's frames, a file of the allowed folders."""
    start, duration = settings["start"], settings["duration"]
    if video:
        name = inputs.safe_name(_name_of(video))
        inputs.check_upload(video, name, limit, start, duration)
        return queue.submit(name, settings, inputs.copy_upload(video, name))
    if frames:
        frames, names = inputs.check_frames(frames, [_name_of(p) for p in frames], limit)
        folder = inputs.safe_name(frames_name(frames, names), "frames")
        return queue.submit(folder, settings, inputs.copy_frames(frames, names, folder, start, duration))
    if allowed:
        real = inputs.allowed_input(allowed, allow_dirs, start, duration)
        return queue.submit(_name_of(allowed), settings, lambda _folder: real)
    raise UserError("nothing to upscale: upload a video, or the frames of a folder, or pick a file of an allowed folder")


def frames_name(paths, names):
    """What a folder of frames is called on the page: the folder holding them all, but a browser
    upload sends no folder name (Gradio keeps each file in a folder named by its hash), so then the
    part of the frames' names before their numbers shared by all (``coffee`` for
    ``coffee_0001.png``, ``coffee_0002.png``), else ``frames``."""
    parents = {os.path.dirname(os.fspath(p)) for p in paths}
    parent = os.path.basename(parents.pop()) if len(parents) == 1 else ""
    if parent and not re.fullmatch(r"[0-9a-f]{16,}", parent):
        return parent
    stems = [re.sub(r"[\s._-]*\d+$", "", os.path.splitext(n)[0]) for n in names]
    return stems[0] if stems and stems[0] and all(s == stems[0] for s in stems) else "frames"


def when(stamp):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def job_label(record):
    return f"{record['name']} · {record['state']} · {record['id']}"


def queue_rows(queue):
    """The queue table: one row per job, oldest first."""
    rows = []
    for record in queue.store.jobs():
        progress = queue.progress(record["id"])["text"] if record["state"] == "running" else record["state"]
        rows.append([record["id"], record["name"], record["settings"]["model"], progress, record["message"]])
    return rows


def details(queue, record):
    """The job's settings, state and timings (Markdown)."""
    s = record["settings"]
    size = {
        "model": f"x{s.get('scale', 4)} (the model's scale)",
        "factor": f"x{s.get('factor')} (resized)",
        "height": f"{s.get('height')} pixels high",
    }.get(s.get("size"), "?")
    window = ""
    if s.get("start") or s.get("duration"):
        window = f" · from {s.get('start') or 0:g} s" + (f" for {s['duration']:g} s" if s.get("duration") else "")
    lines = [
        f"**{record['name']}** · job `{record['id']}` · **{record['state']}**: {record['message']}",
        f"model `{s['model']}` · output {size} · codec {s['codec']}"
        f"{' crf ' + str(s['crf']) if s.get('crf') is not None else ''} · precision {s['precision']}{window}",
    ]
    if record.get("auto"):
        lines.append(f"precision picked: `{record['auto']}`")
    timing = f"added {when(record['created'])} · started {when(record['started'])} · finished {when(record['finished'])}"
    if record.get("seconds"):
        timing += f" · {record['seconds']:.1f} s of work"
        if record.get("frames"):
            timing += f" · {record['frames']} frames ({record['frames'] / record['seconds']:.2f} frames/s)"
    lines.append(timing)
    if record["state"] == "done" and s["codec"] in UNPLAYABLE:
        lines.append(f"browsers seldom play {s['codec']}: download the video (the comparison below works as usual)")
    return "\n\n".join(lines)


def api_upscale(queue, video, model, size, precision, models=None, limit=None, timeout=None):
    """The ``upscale`` endpoint: a job from a video upload, run through the queue; its output's path."""
    settings = settings_from(model or DEFAULT_MODEL, size or "x4", precision=precision or "auto", models=models)
    record = add_job(queue, settings, video=video, limit=limit)
    record = queue.wait(record["id"], timeout)
    if record["state"] != "done":
        raise UserError(f"{record['name']}: {record['message']}")
    return queue.store.paths(record)[1]
