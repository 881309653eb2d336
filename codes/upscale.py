"""Upscale your own video 4x with a FRVSR/TecoGAN checkpoint.

    python codes/upscale.py INPUT OUTPUT --model CKPT [--tile 128 --tile_overlap 16]
        [--device cpu|cuda[:k]] [--half] [--compare SIDE_BY_SIDE.mp4]

INPUT: a video file (whatever OpenCV reads: mp4, avi, mkv, mov ...) or a folder of frames.
OUTPUT: a video file (same frame rate, mp4v) or a folder of PNGs (named like the input
frames; ``%04d.png`` for a video).  The architecture (nf, nb, BD/BI) is read from the
checkpoint unless given.  Frames are streamed: decoding, inference and encoding overlap and
only a few frames are held at a time.  Without tiles the frames equal test mode's output.
"""
import argparse
import collections
import itertools
import os
import time

if not __package__:  # run as a file from a clone: import this clone as the package `tecogan`
    import runpy
    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_clone.py"))

from tecogan.utils.errors import UserError, run_cli


def build_parser():
    p = argparse.ArgumentParser(description="Super-resolve a video or a folder of frames 4x (FRVSR/TecoGAN).")
    p.add_argument("input", help="video file or folder of frames")
    p.add_argument("output", help="video file (.mp4, .avi, ...) or folder for PNG frames")
    p.add_argument("--model", required=True, help="generator checkpoint (.pth state dict)")
    p.add_argument("--degradation", choices=("BD", "BI"), help="override the upsampler read from the checkpoint")
    p.add_argument("--nf", type=int, help="override the number of features")
    p.add_argument("--nb", type=int, help="override the number of residual blocks")
    p.add_argument("--device", default="auto", help="cpu, cuda or cuda:k (default: CUDA when present)")
    p.add_argument("--half", action="store_true", help="CUDA autocast fp16")
    p.add_argument("--tile", type=int, default=0, help="LR tile size (0: whole frames)")
    p.add_argument("--tile_overlap", type=int, default=16, help="LR overlap between tiles")
    p.add_argument("--num_pad_front", type=int, default=5, help="frames run before the first (as test mode)")
    p.add_argument("--padding_mode", choices=("reflect", "replicate"), default="reflect")
    p.add_argument("--fps", type=float, help="frame rate of the output video (default: the input's, 25 for folders)")
    p.add_argument("--codec", default="mp4v", help="FourCC of the output video")
    p.add_argument("--compare", metavar="OUT", help="also write a side-by-side video: bicubic LR | super-resolved")
    p.add_argument("--no_channels_last", action="store_true", help="keep the NCHW memory format")
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
    from tecogan.inference import MIN_TILE, RecurrentUpscaler, TiledUpscaler, infer_sequence
    from tecogan.utils.device import parse_device
    from tecogan.video import BackgroundWriter, open_sink, open_source, prefetch, is_video_path

    from tecogan.utils.outputs import FILE, FRAMES, check_number, check_outputs
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
        raise UserError(f"--compare {args.compare}: expected a video file name (.mp4, .avi, ...)")
    device = parse_device(args.device)
    if args.half and device.type != "cuda":
        from tecogan.utils.errors import warn
        warn("--half needs CUDA; running in fp32 on the CPU")
    source = open_source(args.input, args.fps)
    net, arch = load_network(args) if net is None else (net, net.arch())
    channels_last = not args.no_channels_last
    if args.tile:
        upscaler = TiledUpscaler(net, device, args.tile, args.tile_overlap, channels_last, args.half)
    else:
        upscaler = RecurrentUpscaler(net, device, channels_last, args.half)
    sink = open_sink(args.output, source.fps, args.codec)
    compare = open_sink(args.compare, source.fps, args.codec) if args.compare else None
    writer = BackgroundWriter()
    frames = prefetch(iter(source), maxsize=4)
    first = next(frames, None)
    if first is None:
        raise UserError(f"{args.input}: no frames")
    h, w = first[1].shape[:2]
    print(f"{args.input} -> {args.output}: {arch['degradation']} generator nf {arch['nf']} nb {arch['nb']}, "
          f"{w}x{h} -> {w * arch['scale']}x{h * arch['scale']}, {source.fps:g} frame/s, device {device}"
          + (f", tiles {args.tile}+{args.tile_overlap}" if args.tile else ""), flush=True)
    pending = collections.deque()  # (name, LR frame) of the frames handed to the network

    def lr_frames():
        for name, frame in itertools.chain([first], frames):
            pending.append((name, frame))
            yield frame
    ok = False
    count = 0
    start = time.perf_counter()
    bar = tqdm(total=source.count, unit="frame", desc="upscale", dynamic_ncols=True, disable=None)
    try:
        for hr in infer_sequence(net, lr_frames(), args.num_pad_front, args.padding_mode, upscaler=upscaler):
            name, frame = pending.popleft()
            writer.put(sink, name, hr)
            if compare is not None:
                bi = cv2.resize(frame, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_CUBIC)
                writer.put(compare, name, np_hstack(bi, hr))
            count += 1
            bar.update(1)
        writer.close()
        ok = True
    finally:
        bar.close()
        if not ok:
            try:
                writer.close()
            except BaseException:
                pass
        sink.close(ok)
        if compare is not None:
            compare.close(ok)
    seconds = time.perf_counter() - start
    print(f"{count} frames in {seconds:.2f} s ({count / max(seconds, 1e-9):.2f} frames/s) -> {args.output}"
          + (f" and {args.compare}" if args.compare else ""), flush=True)
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
