"""Entry point of the reference's commands: train, test and profile an experiment.

    python codes/main.py --exp_dir experiments_BD/TecoGAN/001 --mode test \
        --model TecoGAN --opt test.yml --gpu_id 0

``--gpu_id -1`` (or a machine without CUDA) runs on the CPU.  Paths inside the YAML
are relative to the current directory (run from the repository root, as the
reference does).
"""

import argparse
import glob
import os

if not __package__:  # run as a file from a clone: import this clone as the package `tecogan`
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_clone.py"))

from tecogan.utils.errors import exit_on_early_interrupt

if __name__ == "__main__":  # Ctrl-C while torch loads: one line and status 130, not a traceback
    exit_on_early_interrupt()

import torch

from tecogan import defaults
from tecogan.config.limits import check_number
from tecogan.experiment import load_config, set_output_dirs, test_datasets
from tecogan.experiment_checks import check_training_paths, published_hint
from tecogan.inference.auto import resolve_auto
from tecogan.inference.backends import check_backend
from tecogan.inference.options import options_from_flags
from tecogan.inference.precision import check_precision
from tecogan.inference.upscaler import Upscaler
from tecogan.networks import build_generator as build
from tecogan.networks import check_checkpoint_fits, generator_arch_from_config, load_generator_weights, own_settings
from tecogan.profiling import parse_lr_size, profile_generator
from tecogan.testing import check_test_sets, run_test_datasets, sequence_sets
from tecogan.training.trainer import train
from tecogan.utils.device import device_from_gpu_id
from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.outputs import FRAMES, PARENT, check_outputs
from tecogan.utils.training_lock import check_training_free, check_training_outputs, training_guard


def build_parser():
    p = argparse.ArgumentParser(description="Train, test or profile a FRVSR/TecoGAN experiment.")
    p.add_argument("--exp_dir", required=True, help="experiment folder, e.g. experiments_BD/TecoGAN/001")
    p.add_argument("--mode", required=True, choices=("train", "test", "profile"))
    p.add_argument("--model", required=True, help="FRVSR or TecoGAN (must match model.name of the YAML)")
    p.add_argument("--opt", required=True, help="YAML file name inside --exp_dir (train.yml / test.yml)")
    p.add_argument("--gpu_id", type=int, default=0, help="GPU index; -1 for the CPU")
    p.add_argument("--lr_size", default="3x256x256", help="profile mode: LR size CxHxW")
    p.add_argument("--test_speed", action="store_true", help="profile mode: also time the generator")
    p.add_argument("--resume", default=None, help="train mode: a training-state file, or 'auto' for the newest in the experiment")
    p.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--no_channels_last", action="store_true", help="test/profile: keep the default (NCHW) memory format")
    p.add_argument(
        "--backend",
        default=None,
        help="test/profile: inference backend, torch (default; test.precision auto may pick "
        "openvino) or openvino (CPU only; docs/upscale.md)",
    )
    p.add_argument("--overwrite", action="store_true", help="test mode: replace existing result folders (kept otherwise)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    p.add_argument(
        "--check",
        action="store_true",
        help="train mode: check the YAML, its files and the experiment's lock, then exit (train.sh runs it first)",
    )
    return p


def load_experiment(args):
    if not os.path.isdir(args.exp_dir):
        raise UserError(f"{args.exp_dir}: experiment folder not found")
    opt_path = os.path.join(args.exp_dir, args.opt)
    opt = load_config(opt_path)
    if opt["model"]["name"] != args.model:
        raise UserError(f"{opt_path}: model.name is {opt['model']['name']} but --model is {args.model}")
    return set_output_dirs(opt, args.exp_dir, args.mode)


def build_generator(opt):
    name, arch = generator_arch_from_config(opt)
    return build(name, **arch)


def checkpoint_list(opt, opt_path):
    """[(model_idx, path)] of the checkpoints to test; a `*` stem means a series."""
    load_path = opt["model"]["generator"].get("load_path")
    if not load_path:
        raise UserError(f"{opt_path}: model.generator.load_path: missing (the checkpoint to test)")
    stem = os.path.splitext(os.path.basename(load_path))[0]
    if stem != "*":
        return [(stem, load_path)]
    folder = os.path.dirname(load_path) or "."
    test = opt["test"]
    start, end, step = test.get("start_iter"), test.get("end_iter"), test["test_freq"]
    if start is None or end is None:
        found = sorted(
            glob.glob(os.path.join(folder, "G_iter*.pth")),
            key=lambda p: int("".join(ch for ch in os.path.basename(p) if ch.isdigit()) or 0),
        )
        if not found:
            raise UserError(f"{folder}: no G_iter*.pth checkpoints for the series {load_path}")
        return [(os.path.splitext(os.path.basename(p))[0], p) for p in found]
    return [(f"G_iter{i}", os.path.join(folder, f"G_iter{i}.pth")) for i in range(start, end + 1, step)]


def run_test(args, opt, device):
    opt_path = os.path.join(args.exp_dir, args.opt)
    check_backend(args.backend or defaults.BACKEND, device)
    check_number("--threads", args.threads, minimum=1, maximum=defaults.MAX_THREADS, integer=True)
    test_opt = opt["test"]
    check_precision(test_opt["precision"], device, args.backend or defaults.BACKEND)
    options = options_from_flags(
        {
            "num_pad_front": test_opt["num_pad_front"],
            "padding_mode": test_opt["padding_mode"],
            "backend": args.backend,
            "device": str(device),
            "precision": test_opt["precision"],
            "channels_last": not args.no_channels_last,
            "threads": args.threads,
        },
        prefix="test.",
    )
    datasets = test_datasets(opt)
    if not datasets:
        raise UserError(f"{opt_path}: dataset: no test* datasets to run")
    ckpts = checkpoint_list(opt, opt_path)
    for _, path in ckpts:
        if not os.path.isfile(path):
            raise UserError(f"{path}: checkpoint file not found (model.generator.load_path in {opt_path})" + published_hint(path))
    found = sequence_sets(opt, report=lambda line: print(line, flush=True))
    if not found:
        raise UserError(f"{opt_path}: none of the test datasets is here (each was optional and skipped)")
    datasets, sets = [(None, ds) for ds, _ in found], [ts for _, ts in found]
    if test_opt["save_res"]:  # before any frame is written: never into an input, never over results
        res_root = test_opt["res_dir"]
        check_outputs(
            [("res_dir", res_root, PARENT)]
            + [
                ("", os.path.join(res_root, ts.name, m, info.name), FRAMES)
                for m, _ in ckpts
                for ts in sets
                for info in ts.folders.sequences
            ],
            [("", opt_path)]
            + [("", p) for _, p in ckpts]
            + [("", ds[k]) for _, ds in datasets for k in ("lr_seq_dir", "gt_seq_dir") if ds.get(k)],
            args.overwrite,
        )
    name, arch = generator_arch_from_config(opt)
    check_checkpoint_fits(ckpts[0][1], name, arch)  # before building: a YAML nb 200000 fails at once
    for model_idx, path in ckpts:
        net = build_generator(opt)
        load_generator_weights(net, path, opt["model"]["generator"]["name"])
        upscaler = Upscaler(net, options, report=lambda line: print(line, flush=True))
        print(f"Testing {model_idx} ({path}) on {device}", flush=True)
        run_test_datasets(
            upscaler,
            sets,
            test_opt["res_dir"],
            model_idx,
            save_res=test_opt["save_res"],
            report=lambda line: print(line, flush=True),
        )
        del net, upscaler
        if device.type == "cuda":
            torch.cuda.empty_cache()


def run_profile(args, opt, device):
    lr_size = parse_lr_size(args.lr_size)
    if lr_size[0] != opt["model"]["generator"]["in_nc"]:
        raise UserError(
            f"--lr_size {args.lr_size}: {lr_size[0]} channels but the generator takes in_nc {opt['model']['generator']['in_nc']}"
        )
    net = build_generator(opt)
    precision = opt["test"]["precision"]
    backend = args.backend or defaults.BACKEND
    check_backend(backend, device)
    check_precision(precision, device, backend)
    if precision == "auto":
        choice = resolve_auto(net, device, args.backend)
        print(choice.reason)
        precision, backend = choice.precision, choice.backend
    stats = profile_generator(
        net,
        lr_size,
        device,
        channels_last=not args.no_channels_last,
        test_speed=args.test_speed,
        backend=backend,
        precision=precision,
    )
    g = opt["model"]["generator"]
    print(
        f"Model: {args.model} ({g['name']}, {opt['dataset']['degradation']['type']}, x{opt['scale']}, "
        f"{own_settings(generator_arch_from_config(opt)[1])}) "
        f"| LR size: {args.lr_size} | device: {device} | precision: {precision} ({backend})"
    )
    print(f"Parameters (x10^6): {stats['params'] / 1e6:.3f}")
    print(f"FLOPs (x10^9): {stats['flops'] / 1e9:.3f}")
    if args.test_speed:
        print(f"Speed (FPS): {stats['fps']:.3f}")


def main():
    args = build_parser().parse_args()
    opt = load_experiment(args)
    if args.mode == "train":
        check_training_outputs(opt, args.exp_dir)  # never writes into its data or checkpoints
        opt_path = os.path.join(args.exp_dir, args.opt)
        if args.check:
            check_training_free(args.exp_dir, args.resume)
            check_training_paths(opt, opt_path)
            check_test_sets(opt)
            return 0
        # one training per experiment (lock file), and no silent restart over train/ without --resume
        with training_guard(args.exp_dir, args.resume, is_main=os.environ.get("RANK", "0") == "0"):
            check_training_paths(opt, opt_path)
            return train(opt, args)
    device = device_from_gpu_id(args.gpu_id)
    if args.mode == "test":
        run_test(args, opt, device)
    else:
        run_profile(args, opt, device)
    return 0


def cli():
    """Console-script entry point: one-line errors, exit status."""
    run_cli(main)


if __name__ == "__main__":
    cli()
