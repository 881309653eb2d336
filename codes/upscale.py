"""Upscale your own video 4x with a FRVSR/TecoGAN checkpoint.

    python codes/upscale.py INPUT OUTPUT [--model frvsr|frvsr-bd|tecogan|frvsr-real|frvsr-fast|CKPT]
        [--tile 128 --tile_overlap 16] [--device cpu|cuda[:k]] [--half] [--codec h264 --crf 18 --preset medium]
        [--start S --duration S] [--no_audio] [--deinterlace] [--compare SIDE_BY_SIDE.mp4] [--resume]
    python codes/upscale.py --batch INPUTS... -o OUTPUT_DIR [--shard I/N] [--ray ADDRESS] [--batch_ext .mkv] [options]
    python codes/upscale.py INPUT OUTPUT --scene_cuts on (--worker | --shard I/N | --assemble | --ray ADDRESS)

INPUT: a video file (whatever FFmpeg reads: mp4, mkv, mov, webm, avi ...) or a folder of
frames.  OUTPUT: a video file (.mp4, .mkv, .mov, .webm, .avi; H.264 by default, VP9 for .webm,
each frame at its input frame's time, the input's audio and subtitles kept) or a folder of PNGs (named
like the input frames; ``%04d.png`` for a video).  Videos are read and written by FFmpeg
through PyAV.  The architecture (nf, nb, BD/BI) is read from the checkpoint unless given.
Frames are streamed: decoding, inference and encoding overlap and only a few frames are held
at a time.  Without tiles, with --precision fp32 and --scene_cuts off, the frames equal test mode's
output.  The work is recorded in a job folder beside OUTPUT as it goes: after a kill, ``--resume``
continues it (docs/upscale.md).
"""

import dataclasses
import os
import re
import sys

if not __package__:  # run as a file from a clone: import this clone as the package `tecogan`
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_clone.py"))

from tecogan.utils.errors import exit_on_early_interrupt

if __name__ == "__main__":  # Ctrl-C while torch loads: one line and status 130, not a traceback
    exit_on_early_interrupt()

from tecogan import defaults
from tecogan.config.limits import check_number
from tecogan.inference.options import PRECISION, default_precision, options_from_flags
from tecogan.inference.precision import check_precision
from tecogan.inference.upscaler import Upscaler
from tecogan.jobs.batch import parse_shard, run_batch
from tecogan.jobs.job_folder import job_path
from tecogan.jobs.ray_batch import run_batch_on_ray
from tecogan.jobs.ray_runner import check_ray_address, run_on_ray
from tecogan.jobs.video_job import prepare_job, run_job
from tecogan.jobs.video_options import VideoOptions
from tecogan.jobs.workers import assemble_only, check_assemblable, work
from tecogan.networks import generator_from_checkpoint
from tecogan.pretrained import resolve_model
from tecogan.upscale_args import build_parser
from tecogan.utils.device import parse_device
from tecogan.utils.errors import UserError, command_line, run_cli, warn
from tecogan.utils.outputs import JOB, check_outputs
from tecogan.utils.verbosity import quiet

# flags passed on under their own names (the others are turned into options below)
_INFERENCE_FLAGS = ("tile", "tile_overlap", "num_pad_front", "padding_mode", "backend", "device", "threads")
_VIDEO_FLAGS = ("fps", "start", "duration", "codec", "crf", "preset", "pix_fmt", "deinterlace", "compare", "overwrite")
_VIDEO_FLAGS += ("outscale", "target_height", "target_width", "quiet", "scene_cuts")
_NAMED_OPTION = re.compile(r"(?<![\w-])(" + "|".join(_VIDEO_FLAGS) + r")\b")


def load_network(args):
    """The generator the checkpoint implies (``--degradation/--nf/--nb`` override it)."""
    return generator_from_checkpoint(args.model, degradation=args.degradation, nf=args.nf, nb=args.nb)


def inference_options(args):
    """The checked InferenceOptions of the command line (errors name the flag)."""
    if args.half and args.precision not in (None, PRECISION, "fp16"):
        raise UserError(f"--half is --precision fp16; it contradicts --precision {args.precision}")
    precision = args.precision
    if precision is None and not args.half:
        precision = default_precision()  # $TECOGAN_PRECISION or auto (a bad value: one line naming it)
    if args.half:  # as before: CUDA autocast, ignored (with a warning) on the CPU
        precision = "fp16" if parse_device(args.device, warn_fallback=False).type == "cuda" else "fp32"
        if precision == "fp32":
            warn("--half needs CUDA; running in fp32 on the CPU")
    flags = {name: getattr(args, name) for name in _INFERENCE_FLAGS}
    options = options_from_flags({**flags, "precision": precision, "channels_last": not args.no_channels_last})
    device = parse_device(options.device, warn_fallback=False)  # the Upscaler warns when it sets it up
    check_precision(options.precision, device, options.backend or defaults.BACKEND)
    return options


def video_options(args):
    try:
        return VideoOptions(audio=not args.no_audio, **{name: getattr(args, name) for name in _VIDEO_FLAGS})
    except UserError as err:  # VideoOptions names the API's arguments: here they are flags
        raise UserError(_NAMED_OPTION.sub(r"--\1", str(err))) from None


def main(argv=None):
    return run(build_parser().parse_args(argv))


_EXPECTED = {
    "shard": "I/N, e.g. 0/4",
    "ray": "a Ray address, host:port or auto",
    "output_dir": "a folder for --batch's outputs",
    "batch_ext": "a container such as .mkv",
    "model": "a model name or a checkpoint file",
}


def run(args):
    """upscale.py with parsed arguments (tests call it in process).  Messages name the flags (the
    API's entry points name their arguments instead); ``--quiet``: warnings, errors and the final
    line only (no ``auto:`` line, no progress, no NNCF bars)."""
    with command_line(), quiet(args.quiet):
        return _run(args)


def _run(args):
    for flag in ("shard", "ray", "output_dir", "batch_ext", "model"):  # "$UNSET_VAR" must not mean "not given"
        value = getattr(args, flag)
        if value is not None and not str(value).strip():
            name = "-o/--output_dir" if flag == "output_dir" else "--" + flag
            raise UserError(f"{name} '{value}': an empty value (expected {_EXPECTED[flag]})")
    if args.resume and args.overwrite:
        raise UserError(
            "--resume and --overwrite: choose one (--resume continues the unfinished job, "
            "--overwrite discards it and starts again)"
        )
    args.model = resolve_model(args.model)
    check_number("--nf", args.nf, minimum=1, maximum=1024, integer=True)
    check_number("--nb", args.nb, minimum=1, maximum=256, integer=True)
    options = inference_options(args)
    if args.ray and (args.batch or args.output_dir) and not (args.worker or args.assemble):
        return batch_main(args, options)  # the batch's files (and their chunks) on the cluster
    if (
        args.worker
        or args.assemble
        or args.ray
        or (args.shard and not (args.batch or args.output_dir) and args.input is not None)
    ):
        return chunked_main(args, options)
    if args.batch or args.output_dir or args.shard or args.batch_ext:
        return batch_main(args, options)
    if args.input is None or args.output is None:
        missing = "output" if args.input is not None else "input, output"
        raise UserError(f"the following arguments are required: {missing} (or --batch INPUTS... -o OUTPUT_DIR); see --help")
    # before anything is read or written: outputs (never an input, never an existing file or
    # frames folder without --overwrite), encoder and container
    job = prepare_job(
        args.input,
        args.output,
        video_options(args),
        model_path=args.model,
        resume=args.resume,
        segment_frames=args.segment_frames,
        chunk_frames=args.chunk_frames,
    )
    try:  # the job's lock is held from prepare_job on
        upscaler = Upscaler(load_network(args), options, report=lambda line: print(line, flush=True))
        run_job(upscaler, job, report=lambda line: print(line, flush=True))
    finally:
        job.release()
    return 0


def chunked_main(args, options):
    """--worker, --shard I/N (one input), --assemble, --ray: a chunked job (docs/upscale.md)."""
    modes = [
        f
        for f, on in (("--worker", args.worker), ("--shard", args.shard), ("--assemble", args.assemble), ("--ray", args.ray))
        if on
    ]
    if len(modes) > 1:
        raise UserError(f"{' and '.join(modes)}: choose one (each runs a chunked job its own way)")
    flag = modes[0]
    if args.scene_cuts != "on":
        raise UserError(
            f"{flag}: needs --scene_cuts on (the chunks are the shots between hard cuts, where the recurrence restarts)"
        )
    if args.batch or args.output_dir:
        raise UserError(f"{flag}: works on one INPUT OUTPUT (--batch with --shard splits the files instead)")
    if args.input is None or args.output is None:
        raise UserError(f"{flag}: expected INPUT and OUTPUT")
    if args.compare:
        raise UserError(f"--compare: not available with {flag} (make the side-by-side video in a separate run)")
    if args.resume:
        raise UserError(f"--resume: {flag} continues OUTPUT's chunked job by itself; drop --resume")
    check_number("--lease", args.lease, minimum=1, maximum=86400)
    check_number("--ray_cpus", args.ray_cpus, minimum=0, maximum=1024)
    check_number("--ray_gpus", args.ray_gpus, minimum=0, maximum=64)
    if args.ray:
        check_ray_address(args.ray)  # before the model is loaded: one line
    video = video_options(args)
    job = prepare_job(
        args.input, args.output, video, model_path=args.model, segment_frames=args.segment_frames, chunk_frames=args.chunk_frames
    )
    check_outputs([("job folder", job_path(args.output), JOB)], [("INPUT", args.input), ("--model", args.model)])
    job = dataclasses.replace(job, resume="chunks")
    if args.assemble:
        check_assemblable(job)  # before the model's lines
    say = lambda line: print(line, flush=True)  # noqa: E731
    report = (lambda _line: None) if args.quiet else say  # noqa: E731
    upscaler = Upscaler(load_network(args), options, report=report)
    with quiet(args.quiet):
        if args.assemble:
            assemble_only(upscaler, job, report=say)
        elif args.ray:
            run_on_ray(
                upscaler,
                job,
                args.ray,
                model=args.model,
                model_args={"degradation": args.degradation, "nf": args.nf, "nb": args.nb},
                cpus=args.ray_cpus,
                gpus=args.ray_gpus,
                lease=args.lease,
                report=report,
                summary=say,
            )
        else:
            work(upscaler, job, shard=args.shard, lease=args.lease, report=report, progress=not args.quiet, summary=say)
    return 0


def batch_main(args, options):
    """--batch: every input into -o OUTPUT_DIR (with --ray: on a Ray cluster); exit status 1 if any failed."""
    if not args.batch or not args.output_dir:
        raise UserError("--batch INPUTS... and -o OUTPUT_DIR go together (--shard and --batch_ext need them)")
    if args.input is not None:
        raise UserError(f"{args.input}: with --batch, give the inputs after --batch and the folder with -o")
    parse_shard(args.shard)  # before the model is loaded
    for flag, value in (("--segment_frames", args.segment_frames), ("--chunk_frames", args.chunk_frames)):
        check_number(flag, value, minimum=1, maximum=defaults.MAX_CLIP_FRAMES, integer=True)  # once, not per file
    model_args = {"degradation": args.degradation, "nf": args.nf, "nb": args.nb}
    say = lambda line: print(line, flush=True)  # noqa: E731
    fail = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    common = dict(
        model_args=model_args,
        shard_text=args.shard,
        batch_ext=args.batch_ext,
        segment_frames=args.segment_frames,
        chunk_frames=args.chunk_frames,
        report=say,
        fail=fail,
    )
    if args.ray:
        video = _ray_batch_checks(args)
        load_network(args)  # a bad checkpoint is one line here, not one for every file on the cluster
        _, _, failed = run_batch_on_ray(
            args.batch,
            args.output_dir,
            options,
            video,
            args.model,
            args.ray,
            cpus=args.ray_cpus,
            gpus=args.ray_gpus,
            lease=args.lease,
            **common,
        )
        return 1 if failed else 0
    upscaler = Upscaler(load_network(args), options, report=say)
    _, _, failed = run_batch(upscaler, args.batch, args.output_dir, options, video_options(args), args.model, **common)
    return 1 if failed else 0


def _ray_batch_checks(args):
    """--batch with --ray: the flags it cannot go with and the numbers, then the address (one line
    each, before any work); returns the video options."""
    if args.compare:
        raise UserError("--compare: not available with --batch (run the comparison on one file)")
    check_number("--lease", args.lease, minimum=1, maximum=86400)
    check_number("--ray_cpus", args.ray_cpus, minimum=0, maximum=1024)
    check_number("--ray_gpus", args.ray_gpus, minimum=0, maximum=64)
    video = video_options(args)
    check_ray_address(args.ray)
    return video


def cli():
    """Console-script entry point: one-line errors, exit status."""
    run_cli(main, oom_hint="process the frames in tiles, e.g. --tile 128 (or --tile 64), or use a smaller input")


if __name__ == "__main__":
    cli()
