"""The command line of ``upscale.py``: its argument parser, each flag with its help text and
default.  ``upscale.py`` parses with :func:`build_parser` and turns the arguments into the
library's options and calls (``python codes/upscale.py --help`` prints them)."""

import argparse

from tecogan import defaults
from tecogan.inference.options import PRECISION, PRECISIONS, InferenceOptions
from tecogan.jobs.scene_cuts import SCENE_CUTS
from tecogan.jobs.video_options import SCENE_CUTS_DEFAULT
from tecogan.pretrained import DEFAULT_MODEL, describe_models

DEFAULTS = InferenceOptions(precision="fp32")  # the other defaults (precision: default_precision())


def _precision_help():
    """--precision's default as this environment sets it ($TECOGAN_PRECISION), for its help text."""
    if PRECISION in PRECISIONS:
        return f"Default: {PRECISION} ($TECOGAN_PRECISION sets it)"
    return (
        f"Default: auto, or $TECOGAN_PRECISION, which holds {defaults.UPSCALE_PRECISION_TEXT!r}: none of these "
        f"(refused unless --precision is given)"
    )


def _by_extension():
    """The containers with a default codec of their own, for --codec's help text: "vp9 for .webm"."""
    return ", ".join(f"{codec} for {ext}" for ext, codec in defaults.VIDEO_CODEC_BY_EXTENSION.items())


def build_parser():
    """``upscale.py``'s argument parser: every flag with its help text and default."""
    p = argparse.ArgumentParser(description="Super-resolve a video or a folder of frames 4x (FRVSR/TecoGAN).")
    p.add_argument("input", nargs="?", help="video file or folder of frames")
    p.add_argument("output", nargs="?", help="video file (.mp4, .mkv, .mov, .webm, .avi) or folder for PNG frames")
    p.add_argument(
        "--batch",
        nargs="+",
        metavar="INPUT",
        help="many inputs (videos, frame folders, folders of them, text files listing them) into -o DIR, "
        "each under its own name; complete outputs are skipped (docs/upscale.md)",
    )
    p.add_argument("-o", "--output_dir", help="the folder of --batch's outputs")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="with --batch: process only the I-th (from 0) of N parts of the "
        "sorted inputs (Slurm job arrays, one process per GPU)",
    )
    p.add_argument("--batch_ext", help="with --batch: container of the video outputs, e.g. .mkv (default: the input's)")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"a shipped model's name or a generator checkpoint (.pth state dict); names: "
        f"{describe_models()}; default {DEFAULT_MODEL}",
    )
    p.add_argument("--degradation", choices=("BD", "BI"), help="override the upsampler read from the checkpoint")
    p.add_argument("--nf", type=int, help="override the number of features")
    p.add_argument("--nb", type=int, help="override the number of residual blocks")
    p.add_argument("--device", default="auto", help="cpu, cuda or cuda:k (default: CUDA when present)")
    p.add_argument("--half", action="store_true", help="CUDA autocast fp16 (--precision fp16 on CUDA; ignored on the CPU)")
    p.add_argument(
        "--precision",
        help=f"fp32 (exact: equals test mode), bf16, int8 (OpenVINO), fp16 or auto (the fastest this "
        f"machine runs natively within the measured quality gate; docs/precision.md). "
        f"{_precision_help()}",
    )
    p.add_argument("--tile", type=int, default=DEFAULTS.tile, help="LR tile size (0: whole frames)")
    p.add_argument("--tile_overlap", type=int, default=DEFAULTS.tile_overlap, help="LR overlap between tiles")
    p.add_argument("--num_pad_front", type=int, default=DEFAULTS.num_pad_front, help="frames run before the first (as test mode)")
    p.add_argument("--padding_mode", choices=defaults.PADDING_MODES, default=DEFAULTS.padding_mode)
    p.add_argument(
        "--fps",
        type=float,
        help="frame rate of a folder of frames (default 25); for a video input it "
        "re-times every frame at this constant rate and drops the audio (default: the input's timestamps)",
    )
    p.add_argument(
        "--codec",
        help=f"output video codec: h264, h265, av1, vp9, ffv1 (lossless), prores, mpeg4 (old mp4v); default "
        f"{defaults.VIDEO_CODEC}, or {_by_extension()}",
    )
    p.add_argument(
        "--crf",
        type=int,
        help="quality, lower is better and bigger (default h264 18, h265 20, av1 28, vp9 24; mpeg4: quantiser 1-31, default 3)",
    )
    p.add_argument(
        "--preset",
        help="encoder speed: h264/h265 ultrafast..veryslow (default medium), av1 0-13 (8), "
        "vp9 0-8 (4); prores: profile proxy, lt, standard, hq (default), 4444, 4444xq",
    )
    p.add_argument(
        "--pix_fmt", help="pixel format of the output video (default yuv420p, BT.709 tags; ffv1 bgr0, prores yuv422p10le)"
    )
    p.add_argument("--no_audio", action="store_true", help="drop the input's audio and subtitles")
    p.add_argument(
        "--deinterlace",
        action="store_true",
        help="deinterlace interlaced video first (FFmpeg's bwdif; without it, interlaced input is "
        "upscaled as progressive frames with a warning)",
    )
    p.add_argument("--start", type=float, help="start this many seconds into the input (audio trimmed too)")
    p.add_argument("--duration", type=float, help="upscale only this many seconds of the input")
    p.add_argument(
        "--compare",
        metavar="OUT",
        help="also write a side-by-side video: bicubic LR | super-resolved (the bicubic aligned like the "
        "model: sample-aligned for BD models, centre-aligned for BI)",
    )
    p.add_argument("--no_channels_last", action="store_true", help="keep the NCHW memory format")
    p.add_argument(
        "--backend",
        default=DEFAULTS.backend,
        help="inference backend: torch or openvino (CPU only, about 1.1-1.25x faster per step in fp32 "
        "on a 2-core AMD EPYC; docs/upscale.md). Default: torch, unless --precision auto picks openvino",
    )
    p.add_argument(
        "--outscale",
        type=float,
        help="final size as a factor of the input's, e.g. 3.5 (the network's output resized: Lanczos up, pixel area down)",
    )
    p.add_argument("--target_height", type=int, help="final height in pixels, e.g. 1080 (width follows the aspect, even)")
    p.add_argument("--target_width", type=int, help="final width in pixels (height follows the aspect, even)")
    p.add_argument("--threads", type=int, help="CPU threads of the network (default: all cores)")
    p.add_argument(
        "--scene_cuts",
        choices=SCENE_CUTS,
        default=SCENE_CUTS_DEFAULT,
        help=f"restart the recurrence at each hard cut between shots, found on the input frames by "
        f"PySceneDetect (default {SCENE_CUTS_DEFAULT}; off: the frames equal test mode's)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress and no information lines (warnings and errors stay)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing OUTPUT / --compare (kept otherwise; replaced only on success); "
        "discards an unfinished job of OUTPUT",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the unfinished job of OUTPUT (killed, crashed, power lost) from its last complete "
        "segment; the same input and options are needed (docs/upscale.md, Resumable jobs)",
    )
    p.add_argument(
        "--segment_frames",
        type=int,
        default=defaults.SEGMENT_FRAMES,
        help=f"frames per recorded segment of a job (default {defaults.SEGMENT_FRAMES}); a kill loses at most one segment's work",
    )
    p.add_argument(
        "--chunk_frames",
        type=int,
        default=defaults.CHUNK_FRAMES,
        help=f"--scene_cuts on: a chunk starts at a cut once the chunk before holds this many frames "
        f"(default {defaults.CHUNK_FRAMES}); a job's segments restart there",
    )
    machines = p.add_argument_group("one video on many machines (with --scene_cuts on; docs/upscale.md)")
    machines.add_argument(
        "--worker",
        action="store_true",
        help="with --scene_cuts on: make chunks of OUTPUT's job that no other process holds, on any "
        "number of machines sharing the folder; the last to finish assembles (docs/upscale.md)",
    )
    machines.add_argument("--assemble", action="store_true", help="finish a chunked job whose chunks are all done")
    machines.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="with --scene_cuts on: one task per chunk on the Ray cluster at ADDRESS (host:port, or "
        "auto); with --batch: one task per file, or per chunk with --scene_cuts on; needs the ray "
        "package (pip install tecogan[ray])",
    )
    machines.add_argument("--ray_cpus", type=float, default=1.0, help="CPUs a --ray task asks for (default 1)")
    machines.add_argument("--ray_gpus", type=float, default=0.0, help="GPUs a --ray task asks for (default 0)")
    machines.add_argument(
        "--lease",
        type=float,
        default=defaults.LEASE_SECONDS,
        help=f"seconds without a heartbeat after which a dead worker's chunk is taken over (default {defaults.LEASE_SECONDS})",
    )
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return p
