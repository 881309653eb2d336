"""Upscale your own video 4x with a FRVSR/TecoGAN checkpoint.

    python codes/upscale.py INPUT OUTPUT [--model frvsr|frvsr-bd|tecogan|CKPT] [--tile 128 --tile_overlap 16]
        [--device cpu|cuda[:k]] [--half] [--codec h264 --crf 18 --preset medium]
        [--start S --duration S] [--no_audio] [--compare SIDE_BY_SIDE.mp4]

INPUT: a video file (whatever FFmpeg reads: mp4, mkv, mov, webm, avi ...) or a folder of
frames.  OUTPUT: a video file (.mp4, .mkv, .mov, .webm, .avi; H.264 by default, each frame
at its input frame's time, the input's audio and subtitles kept) or a folder of PNGs (named
like the input frames; ``%04d.png`` for a video).  Videos are read and written by FFmpeg
through PyAV.  The architecture (nf, nb, BD/BI) is read from the checkpoint unless given.
Frames are streamed: decoding, inference and encoding overlap and only a few frames are held
at a time.  Without tiles the frames equal test mode's output.
"""
import argparse
import collections
import itertools
import os
import time

if not __package__:  # run as a file from a clone: import this clone as the package `tecogan`
    import runpy
    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_clone.py"))

from tecogan.pretrained import DEFAULT_MODEL, describe_models, resolve_model
from tecogan.utils.errors import UserError, run_cli


def build_parser():
    p = argparse.ArgumentParser(description="Super-resolve a video or a folder of frames 4x (FRVSR/TecoGAN).")
    p.add_argument("input", help="video file or folder of frames")
    p.add_argument("output", help="video file (.mp4, .mkv, .mov, .webm, .avi) or folder for PNG frames")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"a shipped model's name or a generator checkpoint (.pth state dict); names: "
                        f"{describe_models()}; default {DEFAULT_MODEL}")
    p.add_argument("--degradation", choices=("BD", "BI"), help="override the upsampler read from the checkpoint")
    p.add_argument("--nf", type=int, help="override the number of features")
    p.add_argument("--nb", type=int, help="override the number of residual blocks")
    p.add_argument("--device", default="auto", help="cpu, cuda or cuda:k (default: CUDA when present)")
    p.add_argument("--half", action="store_true", help="CUDA autocast fp16")
    p.add_argument("--tile", type=int, default=0, help="LR tile size (0: whole frames)")
    p.add_argument("--tile_overlap", type=int, default=16, help="LR overlap between tiles")
    p.add_argument("--num_pad_front", type=int, default=5, help="frames run before the first (as test mode)")
    p.add_argument("--padding_mode", choices=("reflect", "replicate"), default="reflect")
    p.add_argument("--fps", type=float, help="frame rate of a folder of frames (default 25); for a video input it "
                   "re-times every frame at this constant rate and drops the audio (default: the input's timestamps)")
    p.add_argument("--codec", help="output video codec: h264 (default), h265, av1, vp9, ffv1 (lossless), prores, "
                   "mpeg4 (old mp4v)")
    p.add_argument("--crf", type=int, help="quality, lower is better and bigger (default h264 18, h265 20, av1 28, "
                   "vp9 24; mpeg4: quantiser 1-31, default 3)")
    p.add_argument("--preset", help="encoder speed: h264/h265 ultrafast..veryslow (default medium), av1 0-13 (8), "
                   "vp9 0-8 (4); prores: profile proxy, lt, standard, hq (default), 4444, 4444xq")
    p.add_argument("--pix_fmt", help="pixel format of the output video (default yuv420p, BT.709 tags; ffv1 bgr0, "
                   "prores yuv422p10le)")
    p.add_argument("--no_audio", action="store_true", help="drop the input's audio and subtitles")
    p.add_argument("--start", type=float, help="start this many seconds into the input (audio trimmed too)")
    p.add_argument("--duration", type=float, help="upscale only this many seconds of the input")
    p.add_argument("--compare", metavar="OUT", help="also write a side-by-side video: bicubic LR | super-resolved (the bicubic aligned like the "
                        "model: sample-aligned for BD models, centre-aligned for BI)")
    p.add_argument("--no_channels_last", action="store_true", help="keep the NCHW memory format")
    p.add_argument("--backend", default="torch",
                   help="inference backend: torch (default) or openvino (CPU only, about 1.1-1.25x faster per step on a 2-core AMD EPYC; "
                        "docs/upscale.md)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing OUTPUT / --compare (kept otherwise; replaced only on success)")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return p


def load_network(args):
    """The generator the checkpoint implies (``--degradation/--nf/--nb`` override it)."""
    from tecogan.networks import generator_from_checkpoint
    if (args.nf is not None and args.nf <= 0) or (args.nb is not None and args.nb <= 0):
        raise UserError(f"--nf {args.nf} / --nb {args.nb}: expected positive integers")
    net = generator_from_checkpoint(args.model, degradation=args.degradation, nf=args.nf, nb=args.nb)
    return net, net.arch()


def run(args, net=None):
    """The command's work; ``net`` (a loaded generator) replaces ``--model`` (the Python API)."""
    import cv2
    import torch
    from tqdm import tqdm
    from tecogan.backends import check_backend
    from tecogan.inference import MIN_TILE, infer_sequence, make_upscaler
    from tecogan.ops.upsample import bd_bicubic_frame
    from tecogan.utils.device import parse_device
    from tecogan.video import BackgroundWriter, check_output, open_sink, open_source, prefetch, is_video_path, shown

    from tecogan.utils.outputs import FILE, FRAMES, check_number, check_outputs
    args.model = resolve_model(args.model)
    # before anything is read or written: numbers, then outputs (never an input, never an
    # existing file or frames folder without --overwrite)
    check_number("--fps", args.fps, minimum=0, maximum=1000, strict_minimum=True)
    check_number("--tile", args.tile, minimum=0, maximum=16384, integer=True)
    check_number("--tile_overlap", args.tile_overlap, minimum=0, maximum=16384, integer=True)
    check_number("--num_pad_front", args.num_pad_front, minimum=0, maximum=1000, integer=True)
    check_number("--nf", args.nf, minimum=1, maximum=1024, integer=True)
    check_number("--nb", args.nb, minimum=1, maximum=256, integer=True)
    outputs = [("OUTPUT", args.output, FILE if is_video_path(args.output) else FRAMES)]
    if args.compare:
        outputs.append(("--compare", args.compare, FILE))
    check_outputs(outputs, [("INPUT", args.input), ("--model", args.model)], args.overwrite)
    if args.tile < 0 or args.num_pad_front < 0:
        raise UserError("--tile and --num_pad_front must be >= 0")
    if args.tile and args.tile < MIN_TILE:
        raise UserError(f"--tile {args.tile}: tiles must be at least {MIN_TILE} LR pixels")
    if args.tile and not 0 <= args.tile_overlap < args.tile:
        raise UserError(f"--tile_overlap {args.tile_overlap}: expected 0 <= overlap < tile ({args.tile})")
    if args.compare and not is_video_path(args.compare):
        raise UserError(f"--compare {shown(args.compare)}: expected a video file name (.mp4, .mkv, ...)")
    encoding = dict(codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt)
    out_enc = check_output(args.output, **encoding)  # codec, container, quality checked before any work
    cmp_enc = check_output(args.compare, **encoding, option="--compare") if args.compare else None
    from tecogan.utils.errors import warn
    if out_enc is None and cmp_enc is None and any(v is not None for v in encoding.values()):
        warn("--codec, --crf, --preset and --pix_fmt apply to video files; the output is a folder of PNG frames")
    device = parse_device(args.device)
    check_backend(args.backend, device)
    if args.half and device.type != "cuda":
        warn("--half needs CUDA; running in fp32 on the CPU")
    source = open_source(args.input, args.fps, args.start, args.duration)
    net, arch = load_network(args) if net is None else (net, net.arch())
    upscaler = make_upscaler(net, device, args.tile, args.tile_overlap, not args.no_channels_last, args.half,
                             args.backend)
    sink = open_sink(args.output, source, out_enc, audio=not args.no_audio)
    compare = open_sink(args.compare, source, cmp_enc, audio=not args.no_audio) if args.compare else None
    writer = BackgroundWriter()
    frames = prefetch(source.frames(), maxsize=4)
    first = next(frames, None)
    if first is None:
        raise UserError(f"{shown(args.input)}: no frames")
    h, w = first.image.shape[:2]
    print(f"{shown(args.input)} -> {shown(args.output)}: {arch['degradation']} generator nf {arch['nf']} "
          f"nb {arch['nb']}, {w}x{h} -> {w * arch['scale']}x{h * arch['scale']}, {source.describe()}, device {device}"
          + (f", tiles {args.tile}+{args.tile_overlap}" if args.tile else ""), flush=True)
    print(f"writing {sink.describe()}", flush=True)
    if arch["degradation"] == "BD":  # the bicubic half sits where the model puts its pixels
        compare_bicubic = lambda lr: bd_bicubic_frame(lr, arch["scale"])  # noqa: E731
    else:
        compare_bicubic = lambda lr: cv2.resize(lr, None, fx=arch["scale"], fy=arch["scale"],  # noqa: E731
                                                interpolation=cv2.INTER_CUBIC)
    pending = collections.deque()  # Frame(name, LR image, time) of the frames handed to the network

    def lr_frames():
        for item in itertools.chain([first], frames):
            pending.append(item)
            yield item.image
    ok = False
    count = 0
    start = time.perf_counter()
    bar = tqdm(total=source.count, unit="frame", desc="upscale", dynamic_ncols=True, disable=None)
    try:
        for hr in infer_sequence(net, lr_frames(), args.num_pad_front, args.padding_mode, upscaler=upscaler):
            item = pending.popleft()
            writer.put(sink, item.name, hr, item.time)
            if compare is not None:
                writer.put(compare, item.name, np_hstack(compare_bicubic(item.image), hr), item.time)
            count += 1
            bar.update(1)
        writer.close()
        ok = True
    finally:
        bar.close()
        if not ok:
            try:
                writer.close(discard=True)
            except BaseException:
                pass
        try:
            sink.close(ok)  # verified and renamed into place, or removed
        except BaseException:
            ok = False
            raise
        finally:
            if compare is not None:
                compare.close(ok)
    seconds = time.perf_counter() - start
    print(f"{count} frames in {seconds:.2f} s ({count / max(seconds, 1e-9):.2f} frames/s) -> {shown(args.output)}"
          + (f" and {shown(args.compare)}" if args.compare else ""), flush=True)
    del torch
    return 0


def np_hstack(a, b):
    import numpy as np
    return np.ascontiguousarray(np.concatenate([a, b], axis=1))


def main():
    return run(build_parser().parse_args())


def cli():
    """Console-script entry point: one-line errors, exit status."""
    run_cli(main, oom_hint="process the frames in tiles, e.g. --tile 128 (or --tile 64), or use a smaller input")


if __name__ == "__main__":
    cli()
