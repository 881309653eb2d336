"""Training throughput of the FRVSR and TecoGAN recipes: iterations/s and seconds per sample.

    python scripts/benchmark_training.py                         # both recipes, CPU, random clips
    python scripts/benchmark_training.py --crop 128 --batch 4 --tempo 10 --iters 5
    python scripts/benchmark_training.py --formats contiguous,channels_last
    python scripts/benchmark_training.py --formats channels_last --precisions fp32,bf16

Each recipe is an experiment config (default: experiments_BD/FRVSR_footage/001/train.yml and
experiments_BD/TecoGAN/001/train.yml without the VGG feature loss, whose ImageNet weights are not
offline) with the crop, batch and clip length given here. One training step of the model
(BD degradation on the device, forward, losses, backward, optimiser steps) is timed on random
GT clips after ``--warmup`` untimed steps; the data pipeline is timed separately on the footage
LMDB when it exists (``data/Footage/GT.lmdb``). Memory formats and precisions
(``train.precision``) are measured interleaved in one run so their ratios hold on a noisy
machine; bf16 pays on CPUs with AMX or AVX512-BF16 (see the cpu flags printed first).
"""

import argparse
import copy
import os
import runpy
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.profiling import cpu_name
from tecogan.utils.errors import UserError, run_cli

RECIPES = {"FRVSR": "experiments_BD/FRVSR_footage/001/train.yml", "TecoGAN": "experiments_BD/TecoGAN/001/train.yml"}


def recipe_opt(name, args):
    from tecogan.experiment import load_config

    opt = copy.deepcopy(load_config(os.path.join(REPO, RECIPES[name])))
    opt["train"].pop("feature_crit", None)  # VGG19 ImageNet weights: not offline
    opt["model"]["generator"]["load_path"] = None
    opt["dataset"]["train"].update(crop_size=args.crop, batch_size=args.batch)
    opt["train"]["tempo_extent"] = args.tempo
    return opt


def time_model(opt, memory_format, precision, args):
    import torch

    from tecogan.models import build_model

    torch.manual_seed(0)
    opt = copy.deepcopy(opt)
    opt["train"]["precision"] = precision
    model = build_model(opt, torch.device(args.device))
    model.set_memory_format(memory_format)
    border = 2 * int(3.0 * opt["dataset"]["degradation"]["sigma"])
    batch = {"gt": torch.rand(args.batch, args.tempo, 3, args.crop + border, args.crop + border)}
    for _ in range(args.warmup):
        model.train_step(batch)
    start = time.perf_counter()
    for _ in range(args.iters):
        log = model.train_step(batch)
    float(next(iter(log.values())))  # wait for the device
    return (time.perf_counter() - start) / args.iters


def time_data(opt, args):
    from tecogan.data.train_datasets import build_train_dataset

    lmdb = os.path.join(REPO, "data", "Footage", "GT.lmdb")
    if not os.path.isdir(lmdb):
        return None
    opt = copy.deepcopy(opt)
    opt["dataset"]["train"]["seq_dir"] = lmdb
    ds = build_train_dataset(opt)
    n = args.batch * max(args.iters, 2)
    start = time.perf_counter()
    for i in range(n):
        ds[i % len(ds)]
    return (time.perf_counter() - start) / n


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default="FRVSR,TecoGAN")
    p.add_argument("--crop", type=int, default=128, help="GT crop size (LR crop = crop / 4)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--tempo", type=int, default=10, help="frames per clip")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--formats", default="contiguous,channels_last")
    p.add_argument("--precisions", default="fp32", help="some of fp32, bf16, fp16 (train.precision)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    import torch

    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    for r in recipes:
        if r not in RECIPES:
            raise UserError(f"--recipes {r}: expected some of {', '.join(RECIPES)}")
    precisions = [x.strip() for x in args.precisions.split(",") if x.strip()]
    for f in formats:
        if f not in ("contiguous", "channels_last"):
            raise UserError(f"--formats {f}: expected contiguous or channels_last")
    for x in precisions:
        if x not in ("fp32", "bf16", "fp16"):
            raise UserError(f"--precisions {x}: expected some of fp32, bf16, fp16")
    if not formats or not precisions:
        raise UserError("--formats and --precisions need at least one value each")
    if min(args.crop, args.batch, args.tempo, args.iters) <= 0 or args.crop % 32:
        raise UserError("--crop (a multiple of 32), --batch, --tempo and --iters must be positive")
    print(
        f"{cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
        f"GT crop {args.crop}, batch {args.batch}, {args.tempo} frames"
    )
    if args.device == "cpu":
        from tecogan.utils.device import cpu_computes

        said = {True: "yes", False: "no", None: "unknown"}
        print(
            f"cpu capability {torch.backends.cpu.get_cpu_capability()}; bf16 hardware (AMX or AVX512-BF16): "
            f"{said[cpu_computes('bf16')]}; fp16 hardware (AMX-FP16): {said[cpu_computes('fp16')]}"
        )
    combos = [(f, x) for f in formats for x in precisions]
    for name in recipes:
        opt = recipe_opt(name, args)
        seconds = {c: [] for c in combos}
        for _ in range(2):  # interleaved
            for c in combos:
                seconds[c].append(time_model(opt, *c, args))
        base = min(seconds[combos[0]])
        for c in combos:
            s = min(seconds[c])
            label = f"{c[0]} {c[1]}"
            print(
                f"{name:8s} {label:19s}: {1 / s:6.3f} it/s, {s / args.batch:6.3f} s/sample"
                + (f"  ({base / s:.2f}x {' '.join(combos[0])})" if c != combos[0] else "")
            )
        data = time_data(opt, args)
        if data is not None:
            print(f"{name:8s} data pipeline : {data:.4f} s/sample (LMDB read, crop, augment) in the main process")


if __name__ == "__main__":
    run_cli(main)
