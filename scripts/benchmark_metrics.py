"""Time the official metrics on a synthetic Vid4-sized dataset.

    python ./scripts/benchmark_metrics.py [--lpips_weights PATH] [--workers N] [--keep DIR]

Builds four sequences with Vid4's frame sizes and counts (calendar 720x576 x41,
city 704x576 x34, foliage 720x480 x49, walk 720x480 x47: 171 frames) from moving random
textures, with a blurred and noisy copy as the "SR" result, writes them as PNG into a
temporary folder laid out as ``data/Vid4/GT`` and ``results/Vid4/<model>``, then runs
``evaluate.py`` on them in-process and prints the seconds it took (data generation not
included).  LPIPS weights: ``--lpips_weights``, else ``$TECOGAN_LPIPS_WEIGHTS``, else
``<repo>/../shared/weights/alexnet_imagenet_features.pth`` if present, else torchvision's.
"""

import argparse
import os
import runpy
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

VID4 = (("calendar", 720, 576, 41), ("city", 704, 576, 34), ("foliage", 720, 480, 49), ("walk", 720, 480, 47))
MODEL = "Synthetic_BD"


def make_sequence(rng, w, h, n, gt_dir, sr_dir, scale=1.0):
    """Random multi-scale texture panned over the frames; SR = blur + noise of GT."""
    big_h, big_w = h + 4 * n + 64, w + 4 * n + 64
    tex = np.zeros((big_h, big_w, 3), np.float32)
    for sigma, weight in ((1.0, 0.3), (4.0, 0.4), (16.0, 0.3)):
        noise = rng.standard_normal((big_h, big_w, 3)).astype(np.float32)
        layer = cv2.GaussianBlur(noise, (0, 0), sigma)
        tex += weight * layer / (layer.std() + 1e-6)
    tex = np.clip(128 + 40 * tex, 0, 255).astype(np.uint8)
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(sr_dir, exist_ok=True)
    for i in range(n):
        y, x = 32 + int(round(2.0 * i * scale)), 32 + int(round(3.0 * i * scale))
        gt = tex[y : y + h, x : x + w]
        sr = cv2.GaussianBlur(gt, (0, 0), 1.2).astype(np.int16)
        sr = np.clip(sr + rng.integers(-6, 7, sr.shape), 0, 255).astype(np.uint8)
        name = f"{i + 1:04d}.png"
        cv2.imwrite(os.path.join(gt_dir, name), gt[..., ::-1])
        cv2.imwrite(os.path.join(sr_dir, name), sr[..., ::-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lpips_weights", default=None)
    parser.add_argument("--workers", type=int, default=None, help="flow threads (evaluate.py's default if unset)")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--keep", default=None, metavar="DIR", help="build the data in DIR and keep it (reused when it already exists)"
    )
    args = parser.parse_args()

    weights = args.lpips_weights or os.environ.get("TECOGAN_LPIPS_WEIGHTS")
    if not weights:
        shared = os.path.join(os.path.dirname(REPO), "shared", "weights", "alexnet_imagenet_features.pth")
        weights = shared if os.path.isfile(shared) else None

    root = args.keep or tempfile.mkdtemp(prefix="tecogan_metrics_bench_")
    data_root, results_root = os.path.join(root, "data"), os.path.join(root, "results")
    try:
        if not os.path.isdir(os.path.join(results_root, "Vid4", MODEL)):
            t0 = time.time()
            rng = np.random.default_rng(0)
            for name, w, h, n in VID4:
                make_sequence(
                    rng, w, h, n, os.path.join(data_root, "Vid4", "GT", name), os.path.join(results_root, "Vid4", MODEL, name)
                )
            print(f"synthetic Vid4 (171 frames) written to {root} in {time.time() - t0:.1f} s", flush=True)

        from tecogan.official_metrics import evaluate

        argv = [
            "--model",
            MODEL,
            "--datasets",
            "Vid4",
            "--data_root",
            data_root,
            "--results_root",
            results_root,
            "--device",
            args.device,
            "--batch_size",
            str(args.batch_size),
            "--overwrite",
        ]
        if weights:
            argv += ["--lpips_weights", weights]
        if args.workers is not None:
            argv += ["--workers", str(args.workers)]
        t0 = time.time()
        evaluate.main(argv)
        seconds = time.time() - t0
        import torch

        print(
            f"official metrics of a Vid4-sized dataset (171 frames): {seconds:.1f} s "
            f"(torch threads {torch.get_num_threads()}, CPUs {os.cpu_count()}, "
            f"device {args.device})"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
