"""Export one generator step (an FRNet's, or any generator's: networks/generator.py) to ONNX
(dynamic height and width), for other runtimes.

    python scripts/export_onnx.py --model frvsr-bd --output frvsr_bd.onnx [--check]

The graph is one recurrent step, as every backend of the project runs it:

    inputs  lr_curr (1, 3, h, w), lr_prev (1, 3, h, w), hr_prev (1, 3, s*h, s*w)   float32 RGB in [0, 1]
    output  hr_curr (1, 3, s*h, s*w)                                              float32, not clipped

with ``h`` and ``w`` dynamic (at least 8). The caller keeps the recurrent state: the first frame
gets zero ``lr_prev``/``hr_prev``, each later one the previous frame and output; test mode also
runs 5 reflected frames first (docs/deploy.md has the loop). ``--check`` runs the exported file
with ONNX Runtime's CPU provider at two sizes and compares it with PyTorch.
"""

import argparse
import os
import runpy
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

import numpy as np
import torch

from tecogan.config.limits import check_number
from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.fileio import atomic_write
from tecogan.utils.outputs import FILE, check_outputs

INPUTS = ("lr_curr", "lr_prev", "hr_prev")
OPSET = 17
MIN_OPSET = 16  # GridSample (the warp) came with opset 16


def max_opset():
    """The newest opset of the TorchScript-based exporter of the installed torch."""
    from torch.onnx import _constants

    return getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20)


TOLERANCE = 1e-4  # max |onnxruntime - torch| on outputs in [0, 1] (float32 noise)


def example_inputs(net, h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    c, s = net.in_nc, net.scale
    return (torch.rand(1, c, h, w, generator=g), torch.rand(1, c, h, w, generator=g), torch.rand(1, c, s * h, s * w, generator=g))


def export(net, path, opset=OPSET):
    """Writes the ONNX file of ``net``'s step (the TorchScript-based exporter: one self-contained file)."""
    net = net.cpu().eval()
    axes = {name: {2: "h" if name != "hr_prev" else "sh", 3: "w" if name != "hr_prev" else "sw"} for name in INPUTS}
    axes["hr_curr"] = {2: "sh", 3: "sw"}
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: the folder {folder} does not exist")

    def write(tmp):  # under a temporary name, renamed when whole: an interrupted export leaves nothing
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracing warnings: shape arithmetic is recorded as graph ops
            torch.onnx.export(
                net,
                example_inputs(net),
                tmp,
                input_names=list(INPUTS),
                output_names=["hr_curr"],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )

    atomic_write(path, write, suffix=".onnx")
    return path


def check(net, path, sizes=((32, 48), (21, 35))):
    """Max |ONNX Runtime (CPU) - torch| over ``sizes``; raises UserError past :data:`TOLERANCE`."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise UserError(f"--check: onnxruntime is not importable ({e}); pip install onnxruntime") from None
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst = 0.0
    for h, w in sizes:
        x = example_inputs(net, h, w, seed=h)
        with torch.inference_mode():
            expected = net(*x).numpy()
        got = session.run(["hr_curr"], {n: t.numpy() for n, t in zip(INPUTS, x, strict=False)})[0]
        if got.shape != expected.shape:
            raise UserError(f"{path}: output {got.shape} at {h}x{w}, expected {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > TOLERANCE:
        raise UserError(f"{path}: ONNX Runtime differs from PyTorch by {worst:.2e} (tolerance {TOLERANCE:g})")
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        default="frvsr",
        help="a shipped model's name (frvsr, frvsr-bd, tecogan, frvsr-real, frvsr-fast) or a checkpoint",
    )
    p.add_argument("--output", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset, {MIN_OPSET}..{max_opset()} (default {OPSET})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--check", action="store_true", help="compare ONNX Runtime (CPU) with PyTorch")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    if not args.output.endswith(".onnx"):
        raise UserError(f"--output {args.output}: expected a name ending in .onnx")
    check_number("--opset", args.opset, minimum=MIN_OPSET, maximum=max_opset(), integer=True)
    check_outputs([("--output", args.output, FILE)], [("--model", args.model)], args.overwrite)
    import tecogan

    net = tecogan.load_generator(args.model)
    export(net, args.output, args.opset)
    own = "".join(f", {k} {v}" for k, v in net.arch().items() if k not in ("in_nc", "out_nc", "degradation", "scale"))
    print(
        f"{args.output}: {type(net).__name__} step of {args.model} ({net.degradation}, x{net.scale}{own}), "
        f"opset {args.opset}, dynamic height/width, {os.path.getsize(args.output) / 1e6:.1f} MB"
    )
    if args.check:
        print(f"ONNX Runtime (CPU) vs PyTorch: max difference {check(net, args.output):.2e} (tolerance {TOLERANCE:g})")
    return 0


if __name__ == "__main__":
    run_cli(main)
