"""The Python API: load a generator, upscale frames and videos (docs/api.md).

    import tecogan
    net = tecogan.load_generator("pretrained_models/FRVSR_BD_footage.pth")
    up = tecogan.Upscaler(net, device="cpu")
    hr_frames = list(up.upscale_frames(lr_frames))       # HxWx3 uint8 RGB in, (sH)x(sW)x3 out
    up.upscale_video("clip.mp4", "clip_x4.mp4")

Frames are (h, w, 3) uint8 RGB numpy arrays.  By default :meth:`Upscaler.upscale_frames`
runs test mode's procedure (5 reflected frames first), so its frames equal ``test.sh``'s.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Union

import numpy as np
import torch

from tecogan.backends import check_backend
from tecogan.inference import MIN_TILE, infer_sequence, make_upscaler, resolve_device
from tecogan.networks import build_generator, generator_from_checkpoint
from tecogan.pretrained import resolve_model

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["load_generator", "build_generator", "Upscaler"]


def load_generator(checkpoint: PathLike | Mapping[str, torch.Tensor], device: str | torch.device = "cpu",
                   **overrides: Any) -> torch.nn.Module:
    """The generator a checkpoint holds, loaded strictly, in eval mode on ``device``.

    ``checkpoint``: a shipped model's name (``"frvsr"``, ``"frvsr-bd"``, ``"tecogan"``: :mod:`tecogan.pretrained`),
    a ``.pth`` path (read with ``weights_only=True``) or a state dict.  The
    architecture (``nf``, ``nb``, BD/BI, scale 2 or 4) is read from its tensors; ``overrides``
    (e.g. ``degradation="BI"``) replace values, and a combination that does not fit the
    tensors raises :class:`tecogan.utils.errors.UserError` naming the mismatch.
    """
    source = dict(checkpoint) if isinstance(checkpoint, Mapping) else resolve_model(checkpoint)
    net = generator_from_checkpoint(source, **overrides)
    return net.to(resolve_device(device)).eval()


def _checked_frames(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    shape = None
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {i}: expected an (h, w, 3) uint8 RGB array, got {frame.dtype} {frame.shape}")
        if min(frame.shape[:2]) < MIN_TILE:
            raise ValueError(f"frame {i}: {frame.shape[1]}x{frame.shape[0]} is smaller than the "
                             f"{MIN_TILE}x{MIN_TILE} minimum of the flow network")
        if shape is not None and frame.shape != shape:
            raise ValueError(f"frame {i}: {frame.shape[1]}x{frame.shape[0]} differs from the first frame's "
                             f"{shape[1]}x{shape[0]}")
        shape = frame.shape
        yield frame


class Upscaler:
    """Frame-recurrent super-resolution of clips with one generator.

    ``device``: where to run (default: the generator's device); ``tile``: LR tile size (0 for
    whole frames) with ``tile_overlap``; ``half``: CUDA autocast fp16 (ignored on the CPU);
    ``num_pad_front``/``padding_mode``: the frames run before the first (test mode: 5, reflect);
    ``backend``: 'torch' (default) or 'openvino' (CPU only, faster; :mod:`tecogan.backends`; the
    weights are snapshotted when the Upscaler is made).
    """

    def __init__(self, generator: torch.nn.Module, device: str | torch.device | None = None, tile: int = 0,
                 tile_overlap: int = 16, half: bool = False, channels_last: bool = True,
                 num_pad_front: int = 5, padding_mode: str = "reflect", backend: str = "torch") -> None:
        if tile and tile < MIN_TILE:
            raise ValueError(f"tile {tile}: expected 0 (whole frames) or at least {MIN_TILE}")
        if tile and not 0 <= tile_overlap < tile:
            raise ValueError(f"tile_overlap {tile_overlap}: expected 0 <= overlap < tile ({tile})")
        if num_pad_front < 0 or padding_mode not in ("reflect", "replicate"):
            raise ValueError(f"num_pad_front {num_pad_front} / padding_mode {padding_mode!r}: expected >= 0 and "
                             f"reflect or replicate")
        self.generator = generator
        self.device = resolve_device(device) if device is not None else next(generator.parameters()).device
        self.tile, self.tile_overlap, self.half = int(tile), int(tile_overlap), bool(half)
        self.channels_last = channels_last
        self.num_pad_front, self.padding_mode = int(num_pad_front), padding_mode
        check_backend(backend, self.device)
        self.backend = backend
        self._upscaler = make_upscaler(generator, self.device, self.tile, self.tile_overlap, channels_last, half,
                                       backend)

    @property
    def scale(self) -> int:
        return self.generator.scale

    def upscale_frames(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Super-resolve one clip, streaming: yields one (s*h, s*w, 3) uint8 frame per input frame.

        ``frames``: any iterable of (h, w, 3) uint8 RGB arrays of one size (a list, a
        (t, h, w, 3) array, a generator); only ``num_pad_front + 1`` frames are read ahead.
        Each call starts a new clip (the recurrent state is reset).
        """
        yield from infer_sequence(None, _checked_frames(frames), self.num_pad_front, self.padding_mode,
                                  upscaler=self._upscaler)

    def upscale_video(self, src: PathLike, dst: PathLike, **options: Any) -> None:
        """Super-resolve a video file or a folder of frames into ``dst`` (a video file or a folder
        of PNGs), as ``upscale.py`` does, with this upscaler's generator and settings.

        ``options`` are upscale.py's options by their names (``compare="side.mp4"``,
        ``fps=25``, ``codec=...``, ``overwrite=True`` ...); see ``python codes/upscale.py --help``.
        Bad input raises :class:`tecogan.utils.errors.UserError`.
        """
        from tecogan import upscale
        args = upscale.build_parser().parse_args([os.fspath(src), os.fspath(dst), "--model", "<in memory>"])
        fixed = {"device": str(self.device), "tile": self.tile, "tile_overlap": self.tile_overlap,
                 "half": self.half, "num_pad_front": self.num_pad_front, "padding_mode": self.padding_mode,
                 "no_channels_last": not self.channels_last, "backend": self.backend}
        for name, value in options.items():
            if name in fixed or name in ("input", "output", "model") or not hasattr(args, name):
                raise TypeError(f"upscale_video: unknown or fixed option {name!r} (set device, tile, half ... "
                                f"on the Upscaler)")
            setattr(args, name, value)
        for name, value in fixed.items():
            setattr(args, name, value)
        upscale.run(args, net=self.generator)
