"""Store a trained generator the way the project ships it: learned tensors in float16 (half the
size), fixed buffers (the BD upsampler's kernels) in float32, loaded back into a float32 network.

    python scripts/ship_model.py experiments_BI/FRVSR_real/001/train/ckpt/G_iter3000.pth \\
        pretrained_models/FRVSR_BI_real.pth [--overwrite]

It prints the file's SHA-256 (for ``tecogan.pretrained.SHA256``) and what the storage changes:
the bundled clip (demo/val) upscaled with the float32 and the stored weights, compared frame by
frame (largest difference in grey levels, share of values that differ, PSNR between the two).
"""

import argparse
import os

if not __package__:  # run as a file from a clone
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "codes", "_clone.py"))

import cv2
import numpy as np

from tecogan.inference.steppers import infer_sequence
from tecogan.metrics.functional import psnr
from tecogan.networks import generator_from_checkpoint, with_metadata
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import run_cli
from tecogan.utils.fileio import atomic_torch_save
from tecogan.utils.hashing import file_sha256
from tecogan.utils.outputs import FILE, check_outputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = os.path.join(REPO, "demo", "val", "Gaussian4xLR", "coffee")


def compact_state_dict(net):
    """The generator's state dict with its parameters in float16 and its buffers as they are (and the
    generator's name in its metadata)."""
    learned = {name for name, _ in net.named_parameters()}
    state = net.state_dict()
    return with_metadata(
        (
            (k, (v.detach().half() if k in learned and v.is_floating_point() else v.detach()).cpu().contiguous())
            for k, v in state.items()
        ),
        state,
    )  # with the generator's name


def storage_change(net, compact):
    """(max |difference| in grey levels, share of differing values, PSNR) of the bundled clip's
    outputs with the float32 weights against the compact ones."""
    stored = generator_from_checkpoint(compact).eval()
    names = sorted(os.listdir(CLIP))
    lr = np.stack([cv2.imread(os.path.join(CLIP, n))[..., ::-1] for n in names])
    a = np.stack(list(infer_sequence(net.eval(), lr))).astype(np.float64)
    b = np.stack(list(infer_sequence(stored, lr))).astype(np.float64)
    diff = np.abs(a - b)
    return diff.max(), (diff > 0).mean(), psnr(a, b)


def main(argv=None):
    p = argparse.ArgumentParser(description="Store a generator compactly (float16 learned tensors) for shipping.")
    p.add_argument("checkpoint", help="a generator checkpoint (G_iter*.pth or any generator state dict)")
    p.add_argument("output", help="the .pth file to write (e.g. pretrained_models/NAME.pth)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT (never the CHECKPOINT itself)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    check_outputs([("OUTPUT", args.output, FILE)], [("CHECKPOINT", args.checkpoint)], args.overwrite)
    net = generator_from_checkpoint(load_state_dict_file(args.checkpoint))
    compact = compact_state_dict(net)
    atomic_torch_save(compact, args.output)
    worst, share, match = storage_change(net, compact)
    print(f"{args.output}: {os.path.getsize(args.output) / 1e6:.1f} MB, sha256 {file_sha256(args.output)}")
    print(
        f"bundled clip, float32 vs stored weights: max difference {worst:g} grey levels on {share:.4%} of "
        f"values, PSNR {match:.1f} dB"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
