"""Frame-recurrent inference: one procedure for test mode, validation, profiling, ``upscale.py``
and the Python API.

The reference's procedure (docs/architecture.md, "Inference"): ``num_pad_front`` frames are
prepended to the LR clip (reflect: frames num_pad..1; replicate: frame 0), the generator runs
frame by frame from zero ``lr_prev``/``hr_prev``, outputs are rounded to uint8 and the padded
frames' outputs dropped.

Two upscalers share one step interface:

* :class:`RecurrentUpscaler` runs whole frames;
* :class:`TiledUpscaler` cuts each frame into overlapping tiles, each with its own recurrent
  state, and blends them with linear ramps (big frames in little memory).

``step(frame)`` takes an (h, w, 3) uint8 (or uint16: more than 8 bits) RGB frame and returns
the (s*h, s*w, 3) frame of the same type; ``warm_up(frame)`` runs a frame only to advance the
recurrent state; ``reset()`` starts a new clip; ``state_dict()`` / ``load_state_dict()`` save and
restore the recurrent state exactly (resumable jobs).  The step function (the network, or its
OpenVINO compilation) is built once by :func:`make_step` and shared: every clip gets its own
upscaler object, so two clips never share a state.  :func:`run_clip` drives either over a clip,
streaming (:func:`infer_sequence`: the same from a fresh state).
"""

import itertools

import numpy as np
import torch

from tecogan import defaults
from tecogan.config.limits import check_tiles
from tecogan.inference.backends import OpenVINOStep, check_backend
from tecogan.inference.precision import AutocastStep, check_precision
from tecogan.utils.device import parse_device
from tecogan.utils.errors import UserError

MIN_TILE = defaults.MIN_LR_SIZE


def front_padding_indices(num_frames, num_pad_front, mode=defaults.PADDING_MODE):
    """Indices of the frames prepended before frame 0.

    reflect: [num_pad, ..., 2, 1] (mirrored again if the clip is shorter);
    replicate: [0] * num_pad.
    """
    if mode not in defaults.PADDING_MODES:
        raise UserError(f"padding mode {mode!r}: expected reflect or replicate")
    if num_pad_front <= 0 or num_frames <= 0:  # an empty clip: nothing to pad with (and no output)
        return []
    if mode == "replicate" or num_frames == 1:
        return [0] * num_pad_front
    period = 2 * (num_frames - 1)
    idx = []
    for k in range(num_pad_front, 0, -1):
        r = k % period
        idx.append(r if r < num_frames else period - r)
    return idx


def resolve_device(device):
    """'cpu', 'cuda', 'cuda:1' or a torch.device -> torch.device, checked as ``--device`` is (a
    missing GPU is one line, not torch's RuntimeError; CUDA absent: a warning and the CPU)."""
    name = str(device) if isinstance(device, torch.device) else device
    if not isinstance(name, str):
        raise UserError(f"device {device!r}: expected 'cpu', 'cuda' or 'cuda:<index>'")
    return parse_device(name)


def to_uint8_frame(hr):
    """(1, c, H, W) float -> (H, W, c) uint8 numpy, ``uint8(clip(round(x*255), 0, 255))``."""
    with torch.inference_mode():
        out = (hr[0] * 255.0).round_().clamp_(0, 255).to(torch.uint8)
        return out.permute(1, 2, 0).contiguous().cpu().numpy()


def to_frame(hr, dtype=np.uint8):
    """(1, c, H, W) float -> (H, W, c) numpy of ``dtype``: uint8 as :func:`to_uint8_frame`,
    uint16 ``clip(round(x*65535), 0, 65535)`` (frames of more than 8 bits)."""
    if dtype == np.uint8:
        return to_uint8_frame(hr)
    with torch.inference_mode():
        out = (hr[0].double() * 65535.0).round_().clamp_(0, 65535).to(torch.int32)
        return out.permute(1, 2, 0).contiguous().cpu().numpy().astype(np.uint16)


def frame_max(frame):
    """255 for uint8 frames, 65535 for uint16 ones; anything else is refused."""
    if frame.dtype == np.uint8:
        return 255.0
    if frame.dtype == np.uint16:
        return 65535.0
    raise UserError(f"frame of {frame.dtype}: expected uint8 or uint16 RGB")


def make_step(net, device, backend="torch", channels_last=True, precision="fp32"):
    """The step function ``(lr_curr, lr_prev, hr_prev) -> hr_curr`` of ``backend`` (tecogan.inference.backends).

    torch: the network itself, moved to ``device`` in eval mode (and converted to channels-last
    in place when asked), under autocast for bf16/fp16 (:class:`tecogan.inference.precision.AutocastStep`);
    openvino: an :class:`tecogan.inference.backends.OpenVINOStep` (CPU only). ``precision``: fp32, bf16,
    fp16 or int8, checked by :func:`tecogan.inference.precision.check_precision` (resolve ``auto`` first
    with :func:`tecogan.inference.precision.resolve_auto`).
    """
    check_backend(backend, device)
    if precision == "auto":
        raise UserError("precision 'auto': resolve it first with tecogan.inference.auto.resolve_auto")
    check_precision(precision, device, backend)
    if backend == "openvino":
        return OpenVINOStep(net.cpu().eval(), precision=precision)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(device).eval().to(memory_format=memory_format)
    return net if precision == "fp32" else AutocastStep(net, device.type, precision)


class RecurrentUpscaler:
    """Runs a generator one whole frame at a time, holding ``lr_prev``/``hr_prev``.

    ``precision``: fp32 (default), bf16, fp16 or int8 (:mod:`tecogan.inference.precision`); ``half``: an
    alias of fp16, kept for CUDA (ignored on the CPU, as before); ``channels_last`` uses the NHWC
    memory format (about 2x faster on CPU, same numbers); ``backend`` 'torch' or 'openvino'
    (:mod:`tecogan.inference.backends`); ``step_fn`` shares an already built step function (tiles do).
    """

    def __init__(self, net, device="cpu", channels_last=True, half=False, backend="torch", step_fn=None, precision="fp32"):
        self.device = resolve_device(device)
        self.scale = net.scale
        self.backend = backend
        self.channels_last = channels_last and backend == "torch"
        self.precision = _precision(precision, half, self.device)
        self.half = self.precision == "fp16" and self.device.type == "cuda"
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.step_fn = step_fn if step_fn is not None else make_step(net, self.device, backend, channels_last, self.precision)
        self.reset()

    def reset(self):
        self.lr_prev = None
        self.hr_prev = None

    def state_dict(self):
        """The recurrent state (``lr_prev``, ``hr_prev``: CPU float tensors, or None at a clip's start)."""

        def cpu(t):
            return None if t is None else t.detach().to("cpu", copy=True).contiguous()

        return {"lr_prev": cpu(self.lr_prev), "hr_prev": cpu(self.hr_prev)}

    def load_state_dict(self, state):
        """Continue from a saved state: the next step equals the one after the saved step, bit for bit."""

        def dev(t):
            return None if t is None else t.to(self.device).contiguous(memory_format=self.memory_format)

        self.lr_prev, self.hr_prev = dev(state["lr_prev"]), dev(state["hr_prev"])

    def to_tensor(self, frame):
        """(h, w, 3) uint8 (or uint16) RGB -> (1, 3, h, w) float in [0, 1] on the device."""
        scale = frame_max(frame)
        if frame.dtype == np.uint16:  # torch has no uint16 arithmetic on every build
            frame = frame.astype(np.int32)
        t = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device, non_blocking=True)
        t = t.permute(2, 0, 1).unsqueeze(0).float() / scale
        return t.contiguous(memory_format=self.memory_format)

    def step_tensor(self, lr_curr):
        """(1, c, h, w) float in [0, 1] -> (1, c, s*h, s*w) float (not rounded)."""
        n, c, h, w = lr_curr.shape
        s = self.scale
        if self.lr_prev is None or self.lr_prev.shape != lr_curr.shape:
            self.lr_prev = torch.zeros_like(lr_curr)
            self.hr_prev = torch.zeros(n, c, s * h, s * w, device=self.device).contiguous(memory_format=self.memory_format)
        with torch.inference_mode():
            hr_curr = self.step_fn(lr_curr, self.lr_prev, self.hr_prev).float()
        self.lr_prev, self.hr_prev = lr_curr, hr_curr
        return hr_curr

    def frame_tensor(self, frame):
        """(h, w, 3) uint8 -> (1, 3, s*h, s*w) float output of one step."""
        return self.step_tensor(self.to_tensor(frame))

    def warm_up(self, frame):
        self.frame_tensor(frame)

    def step(self, frame):
        return to_frame(self.frame_tensor(frame), frame.dtype)


def tile_starts(size, tile, overlap):
    """Start offsets of tiles of ``tile`` px overlapping by ``overlap`` covering ``size``."""
    if tile >= size:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile + 1, step))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def _ramp(length, ramp, left, right):
    w = np.ones(length, np.float32)
    if ramp > 0:
        r = (np.arange(ramp, dtype=np.float32) + 0.5) / ramp
        if left:
            w[:ramp] = np.minimum(w[:ramp], r)
        if right:
            w[-ramp:] = np.minimum(w[-ramp:], r[::-1])
    return w


class TiledUpscaler:
    """Super-resolves frames tile by tile, each tile with its own recurrent state.

    Tiles are ``tile`` x ``tile`` LR pixels overlapping by ``overlap``; outputs are blended
    with linear ramps over the overlap.  Same interface as :class:`RecurrentUpscaler`.
    """

    def __init__(
        self,
        net,
        device="cpu",
        tile=128,
        overlap=defaults.TILE_OVERLAP,
        channels_last=True,
        half=False,
        backend=defaults.BACKEND,
        step_fn=None,
        precision="fp32",
    ):
        if tile < MIN_TILE:
            raise UserError(f"tile {tile}: tiles must be at least {MIN_TILE} LR pixels")
        if not 0 <= overlap < tile:
            raise UserError(f"tile overlap {overlap}: expected 0 <= overlap < tile ({tile})")
        self.net, self.device, self.tile, self.overlap = net, resolve_device(device), tile, overlap
        self.channels_last, self.backend = channels_last, backend
        self.precision = _precision(precision, half, self.device)
        self.half = self.precision == "fp16" and self.device.type == "cuda"
        self.scale = net.scale
        # one step function for all tiles (and all clips of an Upscaler)
        self.step_fn = step_fn if step_fn is not None else make_step(net, self.device, backend, channels_last, self.precision)
        self.layout = None

    def reset(self):
        self.layout = None

    def state_dict(self):
        """The frame size and every tile's recurrent state (None before the first frame)."""
        if self.layout is None:
            return {"size": None, "tiles": []}
        h, w, tiles, _ = self.layout
        return {"size": (h, w), "tiles": [t[-1].state_dict() for t in tiles]}

    def load_state_dict(self, state):
        if state["size"] is None:
            self.layout = None
            return
        self._build(*state["size"])
        tiles = self.layout[2]
        if len(tiles) != len(state["tiles"]):
            raise UserError(f"tiled state of {len(state['tiles'])} tiles does not fit {len(tiles)} tiles")
        for t, saved in zip(tiles, state["tiles"], strict=True):
            t[-1].load_state_dict(saved)

    def _build(self, h, w):
        check_tiles(h, w, self.tile, self.overlap)  # at most MAX_TILES_PER_FRAME, before any is made
        s = self.scale
        ys, xs = tile_starts(h, self.tile, self.overlap), tile_starts(w, self.tile, self.overlap)
        tiles = []
        weight = np.zeros((h * s, w * s), np.float32)
        for iy, y in enumerate(ys):
            for ix, x in enumerate(xs):
                th, tw = min(self.tile, h), min(self.tile, w)
                ov_y = (ys[iy - 1] + th - y) if iy > 0 else 0
                ov_x = (xs[ix - 1] + tw - x) if ix > 0 else 0
                ov_y2 = (y + th - ys[iy + 1]) if iy + 1 < len(ys) else 0
                ov_x2 = (x + tw - xs[ix + 1]) if ix + 1 < len(xs) else 0
                wy = np.minimum(_ramp(th * s, ov_y * s, True, False), _ramp(th * s, ov_y2 * s, False, True))
                wx = np.minimum(_ramp(tw * s, ov_x * s, True, False), _ramp(tw * s, ov_x2 * s, False, True))
                mask = np.outer(wy, wx)
                weight[y * s : (y + th) * s, x * s : (x + tw) * s] += mask
                up = RecurrentUpscaler(
                    self.net,
                    self.device,
                    self.channels_last,
                    backend=self.backend,
                    step_fn=self.step_fn,
                    precision=self.precision,
                )
                tiles.append((y, x, th, tw, torch.from_numpy(mask).to(self.device), up))
        self.layout = (h, w, tiles, torch.from_numpy(weight).to(self.device))

    def frame_tensor(self, frame):
        h, w = frame.shape[:2]
        if self.layout is None or self.layout[:2] != (h, w):
            self._build(h, w)
        _, _, tiles, weight = self.layout
        s = self.scale
        out = torch.zeros(1, 3, h * s, w * s, device=self.device)
        for y, x, th, tw, mask, up in tiles:
            hr = up.frame_tensor(frame[y : y + th, x : x + tw])
            out[..., y * s : (y + th) * s, x * s : (x + tw) * s] += hr * mask
        return out / weight

    def warm_up(self, frame):
        self.frame_tensor(frame)

    def step(self, frame):
        return to_frame(self.frame_tensor(frame), frame.dtype)


def make_stepper(net, options, device, step_fn=None):
    """The stepper ``options`` (an :class:`~tecogan.inference.options.InferenceOptions` with its
    precision resolved) describe: a :class:`TiledUpscaler` when ``options.tile`` > 0, else a
    :class:`RecurrentUpscaler`; ``step_fn``: an already built step function to share."""
    backend = options.backend or defaults.BACKEND
    if options.tile:
        return TiledUpscaler(
            net,
            device,
            options.tile,
            options.tile_overlap,
            options.channels_last,
            backend=backend,
            step_fn=step_fn,
            precision=options.precision,
        )
    return RecurrentUpscaler(net, device, options.channels_last, backend=backend, step_fn=step_fn, precision=options.precision)


def _precision(precision, half, device):
    """``half=True`` is an alias of fp16 on CUDA (on the CPU it was always ignored)."""
    if half and precision in ("fp32", None):
        return "fp16" if device.type == "cuda" else "fp32"
    return precision or "fp32"


def run_clip(stepper, frames, num_pad_front=defaults.NUM_PAD_FRONT, padding_mode=defaults.PADDING_MODE, *, resumed=False):
    """The frame-recurrent procedure, streaming: the one driver of test mode, validation, upscaling,
    the automatic precision check and the scripts.

    ``stepper``: a :class:`RecurrentUpscaler` or :class:`TiledUpscaler` (its state is where the clip
    starts: reset it for a new clip); ``frames``: (h, w, 3) uint8/uint16 RGB frames, any iterable
    (only the first ``num_pad_front + 1`` are held ahead, for the front padding, which a
    ``resumed`` clip skips).  Yields one (s*h, s*w, 3) output per frame, in order.
    """
    frames = iter(frames)
    if not resumed:
        head = list(itertools.islice(frames, num_pad_front + 1))
        for i in front_padding_indices(len(head), num_pad_front, padding_mode):
            stepper.warm_up(head[i])
        frames = itertools.chain(head, frames)
    for frame in frames:
        yield stepper.step(frame)


def infer_sequence(
    net,
    lr_frames,
    num_pad_front=defaults.NUM_PAD_FRONT,
    padding_mode=defaults.PADDING_MODE,
    device="cpu",
    channels_last=True,
    half=False,
    upscaler=None,
):
    """:func:`run_clip` from a fresh state on a new :class:`RecurrentUpscaler` of ``net`` (fp32, or
    ``upscaler``, reset first, when given): yields the outputs of ``lr_frames``."""
    if upscaler is None:
        upscaler = RecurrentUpscaler(net, device, channels_last=channels_last, half=half)
    upscaler.reset()
    yield from run_clip(upscaler, lr_frames, num_pad_front, padding_mode)
