"""Super-resolve evaluation sets with one model, laid out for the official metrics.

    python scripts/sr_eval_sets.py --model frvsr --label frvsr
    python scripts/sr_eval_sets.py --model experiments_BI/FRVSR_real/001/train/ckpt/G_iter500.pth --label real_500
    python scripts/sr_eval_sets.py --model bicubic --label Bicubic
    python ./codes/official_metrics/evaluate.py --model frvsr --datasets FootageHeldoutCRF30  # and the others

For every dataset D of ``--datasets`` (made by scripts/make_compressed_eval.py), the low-res
clips ``<data_root>/D/LR/<clip>`` (``--lr_subdir``) are super-resolved into ``<results_root>/D/<label>/<clip>``
with the inference of test mode (5 reflected frames in front).  ``--model bicubic`` is the
bicubic 4x upscale of scripts/bicubic_baseline.py for the low-res frames' degradation
(``--degradation``; by default BD for a ``Gaussian*`` folder, else BI): BD-aligned for Gaussian
frames, the centre-aligned MATLAB-style one for ``imresize`` frames (the wrong one costs ~3 dB).
"""

import argparse
import os
import runpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan import defaults
from tecogan.data.folder_dataset import PairedFolderDataset
from tecogan.inference.upscaler import InferenceOptions, Upscaler
from tecogan.networks import generator_from_checkpoint
from tecogan.ops.imresize import imresize
from tecogan.ops.upsample import bd_bicubic_frame
from tecogan.pretrained import resolve_model
from tecogan.testing import SequenceSet, run_test_datasets
from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.fileio import list_images, read_image_rgb, write_image_rgb
from tecogan.utils.outputs import FRAMES, check_outputs

DEFAULT_SETS = "FootageHeldoutCRF30,FootageHeldoutCRF23,FootageHeldoutArea"


def degradation_of(lr_subdir, given=None):
    """``given``, else BD for a ``Gaussian*`` low-res folder (blurred, every 4th pixel), else BI."""
    return given or ("BD" if os.path.basename(os.path.normpath(lr_subdir)).startswith("Gaussian") else "BI")


def bicubic(lr_dir, out_dir, degradation="BI"):
    upsample = (lambda img: bd_bicubic_frame(img, 4)) if degradation == "BD" else (lambda img: imresize(img, 4))
    for name in list_images(lr_dir):
        image = upsample(read_image_rgb(os.path.join(lr_dir, name)))
        write_image_rgb(os.path.join(out_dir, os.path.splitext(name)[0] + ".png"), image)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a shipped model's name, a generator checkpoint, or bicubic")
    p.add_argument("--label", required=True, help="results folder name (the --model of evaluate.py)")
    p.add_argument("--datasets", default=DEFAULT_SETS)
    p.add_argument("--data_root", default="data")
    p.add_argument("--lr_subdir", default="LR", help="the low-res folder inside each dataset (default LR)")
    p.add_argument(
        "--degradation",
        choices=("BD", "BI"),
        default=None,
        help="how the low-res frames were made, for --model bicubic (default: BD for a Gaussian* folder, else BI)",
    )
    p.add_argument("--results_root", default="results")
    p.add_argument(
        "--precision",
        default=defaults.TEST_PRECISION,
        choices=defaults.PRECISIONS,
        help=f"inference precision (default {defaults.TEST_PRECISION}, test mode's: the published numbers)",
    )
    p.add_argument("--backend", choices=defaults.BACKENDS, default=None, help="inference backend (int8 runs through openvino)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    if not args.label.strip() or any(c in args.label for c in "/\\\0") or args.label.strip() in (".", ".."):
        raise UserError(f"--label {args.label!r}: expected a folder name (no path separators), the --model of evaluate.py")
    sets = []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        lr, gt = (os.path.join(args.data_root, name, sub) for sub in (args.lr_subdir, "GT"))
        if not os.path.isdir(lr):
            raise UserError(f"{lr}: not found (make it with scripts/make_compressed_eval.py)")
        sets.append(SequenceSet(name, PairedFolderDataset(lr, gt if os.path.isdir(gt) else None, 4)))
    if not sets:
        raise UserError(f"--datasets {args.datasets}: empty list")
    outs = [os.path.join(args.results_root, s.name, args.label, info.name) for s in sets for info in s.folders.sequences]
    check_outputs([("--results_root", o, FRAMES) for o in outs], [("--data_root", args.data_root)], args.overwrite)
    if args.model == "bicubic":
        for s in sets:
            for info in s.folders.sequences:
                out = os.path.join(args.results_root, s.name, args.label, info.name)
                bicubic(os.path.dirname(info.lr_paths[0]), out, degradation_of(args.lr_subdir, args.degradation))
                print(f"{s.name}/{info.name}: bicubic ({degradation_of(args.lr_subdir, args.degradation)})", flush=True)
        return 0
    net = generator_from_checkpoint(resolve_model(args.model))
    upscaler = Upscaler(
        net,
        InferenceOptions(num_pad_front=5, padding_mode="reflect", device="cpu", precision=args.precision, backend=args.backend),
        report=None,
    )
    run_test_datasets(upscaler, sets, args.results_root, args.label, save_res=True, report=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    run_cli(main)
