"""The ``Real`` degradation: blur, centre-aligned downsampling, noise, JPEG and real video
compression (FFmpeg's encoders through PyAV), with one set of parameters per clip.

Small pure functions, one per stage, each taking uint8 RGB frames ``(t, h, w, 3)`` and
explicit parameters; :func:`sample_params` draws the parameters of one clip from a
``numpy.random.Generator`` and the ``dataset.degradation.real`` ranges (defaults in
``codes/experiment.py``), and :func:`degrade_clip` applies them.  The same generator state gives
the same clip bit for bit (the codecs run single-threaded).
"""

import io
import math

import av
import cv2
import numpy as np

from tecogan.errors import UserError
from tecogan.utils.yuv import bt601_to_rgb, rgb_to_bt601

DOWNSAMPLE_METHODS = {"area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}
KERNEL_TYPES = ("iso", "aniso", "generalized")
NOISE_TYPES = ("gaussian", "poisson")
# config name -> (FFmpeg encoder, rate control): crf for the H.264/H.265 encoders, a bitrate for the others
CODECS = {
    "h264": ("libx264", "crf"),
    "h265": ("libx265", "crf"),
    "mpeg4": ("mpeg4", "bitrate"),
    "mpeg2": ("mpeg2video", "bitrate"),
}


# ---- blur -------------------------------------------------------------------------------------
def blur_kernel(size, sigma_x, sigma_y=None, theta=0.0, beta=2.0):
    """Normalised (size, size) float32 kernel ``exp(-0.5 * (d^T S^-1 d)^(beta/2))``.

    ``sigma_y`` None: isotropic; ``theta`` rotates the (sigma_x, sigma_y) axes; ``beta`` 2 is a
    Gaussian, other values the generalised Gaussian (< 2 heavier tails, > 2 a flatter top).
    """
    if size < 1 or size % 2 == 0:
        raise UserError(f"blur_kernel: size {size} must be odd and >= 1")
    sigma_y = sigma_x if sigma_y is None else sigma_y
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T
    inv = np.linalg.inv(cov)
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    yy, xx = np.meshgrid(r, r, indexing="ij")
    d = np.stack([xx, yy], axis=-1)
    q = np.einsum("...i,ij,...j->...", d, inv, d)
    k = np.exp(-0.5 * np.power(q, beta / 2.0))
    return (k / k.sum()).astype(np.float32)


def apply_blur(frames, kernel):
    """Every frame filtered with ``kernel`` (borders reflected), rounded to uint8."""
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        out[i] = cv2.filter2D(f, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    return out


# ---- downsampling -----------------------------------------------------------------------------
def downsample(frames, scale, method):
    """Shrink by ``scale`` with OpenCV's ``area``/``bicubic``/``bilinear`` resize: centre-aligned
    (LR pixel i covers GT pixels s*i .. s*i+s-1), as ordinary resizing tools do."""
    t, h, w, _ = frames.shape
    if h % scale or w % scale:
        raise UserError(f"downsample: {w}x{h} is not a multiple of {scale}")
    inter = DOWNSAMPLE_METHODS[method]
    return np.stack([cv2.resize(f, (w // scale, h // scale), interpolation=inter) for f in frames])


# ---- noise ------------------------------------------------------------------------------------
def add_noise(frames, kind, level, grey, rng):
    """Gaussian (``level`` = sigma in 0..255 steps) or Poisson (``level`` = photons at full
    white: fewer is noisier) noise, per channel (colour) or one field for all channels (grey).
    ``rng`` draws the noise itself; rounded and clipped to uint8."""
    x = frames.astype(np.float32)
    shape = x.shape[:-1] + (1,) if grey else x.shape
    if kind == "gaussian":
        noise = rng.standard_normal(shape, dtype=np.float32) * np.float32(level)
    elif kind == "poisson":
        base = x.mean(axis=-1, keepdims=True) if grey else x
        lam = base / 255.0 * level
        noise = (rng.poisson(lam).astype(np.float32) - lam) * np.float32(255.0 / level)
    else:
        raise UserError(f"add_noise: kind {kind!r} (expected one of {NOISE_TYPES})")
    return np.clip(np.round(x + noise), 0, 255).astype(np.uint8)


# ---- JPEG -------------------------------------------------------------------------------------
def jpeg(frames, quality):
    """Every frame through OpenCV's JPEG encoder at ``quality`` (1..100) and back."""
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("jpeg: OpenCV could not encode a frame")
        out[i] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


# ---- video compression ------------------------------------------------------------------------
def compress_video(frames, codec="h264", crf=None, bpp=None, gop=12, bframes=0, fps=25):
    """Encode the clip with a real encoder (yuv420p, GOP ``gop``, ``bframes`` B-frames) into an
    in-memory Matroska file and decode it again; returns uint8 RGB frames of the input's size.

    ``codec``: a key of :data:`CODECS`; H.264/H.265 take ``crf``, MPEG-4/MPEG-2 a bitrate of
    ``bpp`` bits per pixel and frame.  Sides are padded by edge replication to multiples of 8
    (4:2:0 chroma needs even sides) and, for libx265, to at least 96, then cropped back.
    Single-threaded, so the output is deterministic.
    """
    encoder, control = CODECS[codec]
    t, h, w, _ = frames.shape
    # libx265 corrupts the heap (the process aborts) on frames smaller than its 64-pixel block,
    # and is not deterministic on 64x64 ones
    least = 96 if encoder == "libx265" else 8
    ph, pw = max(-(-h // 8) * 8, least), max(-(-w // 8) * 8, least)
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as out:
        stream = out.add_stream(encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.thread_count = 1
        stream.codec_context.gop_size = int(gop)
        stream.codec_context.max_b_frames = int(bframes)
        if control == "crf":
            params = f"keyint={int(gop)}:min-keyint={int(gop)}:bframes={int(bframes)}"
            if encoder == "libx264":
                # cpu-independent: without it x264's macroblock-tree rate control (its SIMD float
                # code) gave different streams for the same frames run to run on an AVX-512 Xeon
                stream.options = {
                    "crf": str(int(crf)),
                    "preset": "veryfast",
                    "threads": "1",
                    "x264-params": params + ":cpu-independent=1",
                }
            else:
                stream.options = {
                    "crf": str(int(crf)),
                    "preset": "veryfast",
                    "x265-params": params + ":pools=none:frame-threads=1:log-level=none",
                }
        else:
            # a small rate buffer (two frames' worth): the rate control holds the bitrate from
            # the first frames on, as it must for clips of a few frames
            rate = max(int(bpp * pw * ph * fps), 1000)
            stream.bit_rate = rate
            stream.options = {"maxrate": str(rate), "minrate": "0", "bufsize": str(2 * rate // fps)}
        for f in frames:
            for packet in stream.encode(rgb_to_bt601(f, stream.pix_fmt)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    decoded = []
    with av.open(buf, mode="r") as inp:
        vs = inp.streams.video[0]
        vs.thread_count = 1
        for frame in inp.decode(vs):
            decoded.append(bt601_to_rgb(frame))
    if len(decoded) != t:
        raise RuntimeError(f"compress_video: {codec} returned {len(decoded)} frames for {t}")
    return np.stack(decoded)[:, :h, :w]


# ---- one clip ---------------------------------------------------------------------------------
def _uniform(rng, bounds):
    lo, hi = bounds
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def _log_uniform(rng, bounds):
    lo, hi = bounds
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def _choice(rng, table):
    """A key of ``table`` ({name: probability weight}) drawn with those weights."""
    names = sorted(table)
    p = np.array([table[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def sample_params(rng, cfg):
    """One clip's parameters from the ``dataset.degradation.real`` ranges ``cfg`` (validated,
    defaults filled).  Returns a plain dict; a stage that is skipped is None."""
    p = {"blur": None, "noise": None, "jpeg": None, "video": None}
    b = cfg["blur"]
    if rng.uniform() < b["prob"]:
        kind = _choice(rng, b["kernel_types"])
        lo, hi = b["kernel_size"]
        size = 2 * int(rng.integers(lo // 2, hi // 2 + 1)) + 1
        sx = _uniform(rng, b["sigma"])
        sy, theta, beta = sx, 0.0, 2.0
        if kind in ("aniso", "generalized"):
            sy = _uniform(rng, b["sigma"])
            theta = _uniform(rng, (0.0, math.pi))
        if kind == "generalized":
            beta = _uniform(rng, b["beta"])
        p["blur"] = {"type": kind, "size": size, "sigma_x": sx, "sigma_y": sy, "theta": theta, "beta": beta}
    p["downsample"] = _choice(rng, cfg["downsample"])
    n = cfg["noise"]
    if rng.uniform() < n["prob"]:
        kind = _choice(rng, n["types"])
        level = _uniform(rng, n["gaussian_sigma"]) if kind == "gaussian" else _log_uniform(rng, n["poisson_peak"])
        p["noise"] = {
            "type": kind,
            "level": level,
            "grey": bool(rng.uniform() < n["grey_prob"]),
            "seed": int(rng.integers(0, 2**63 - 1)),
        }
    j = cfg["jpeg"]
    if rng.uniform() < j["prob"]:
        p["jpeg"] = {"quality": int(rng.integers(j["quality"][0], j["quality"][1] + 1))}
    v = cfg["video"]
    if rng.uniform() < v["prob"]:
        codec = _choice(rng, v["codecs"])
        video = {
            "codec": codec,
            "gop": int(rng.integers(v["gop"][0], v["gop"][1] + 1)),
            "bframes": int(rng.integers(v["bframes"][0], v["bframes"][1] + 1)),
        }
        if CODECS[codec][1] == "crf":
            video["crf"] = int(rng.integers(v["crf"][0], v["crf"][1] + 1))
        else:
            video["bpp"] = _log_uniform(rng, v["bpp"])
        p["video"] = video
    return p


def degrade_clip(gt, scale, params):
    """LR clip (t, h/scale, w/scale, 3) uint8 of GT frames (t, h, w, 3) under ``params``
    (from :func:`sample_params`): blur, downsample, noise, JPEG, video compression."""
    x = gt
    b = params["blur"]
    if b is not None:
        kernel = blur_kernel(b["size"], b["sigma_x"], b["sigma_y"], b["theta"], b["beta"])
        x = apply_blur(x, kernel)
    x = downsample(x, scale, params["downsample"])
    n = params["noise"]
    if n is not None:
        x = add_noise(x, n["type"], n["level"], n["grey"], np.random.default_rng(n["seed"]))
    if params["jpeg"] is not None:
        x = jpeg(x, params["jpeg"]["quality"])
    v = params["video"]
    if v is not None:
        x = compress_video(x, v["codec"], crf=v.get("crf"), bpp=v.get("bpp"), gop=v["gop"], bframes=v["bframes"])
    return x
