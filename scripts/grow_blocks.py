"""Give an FRNet more residual blocks without changing what it computes: the new blocks go after
the trained ones with their last convolution at zero, so each adds nothing until training moves
it (a function-preserving start for a deeper network).

    python scripts/grow_blocks.py experiments_BI/FRVSR_fast5/001/train/ckpt/G_iter2400.pth \\
        experiments_BI/FRVSR_fast9/001/G_init_nb7.pth --nb 7 [--overwrite]

It checks that the grown network's output equals the original's on a random clip and prints the
largest difference.
"""

import argparse
import os

if not __package__:  # run as a file from a clone
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "codes", "_clone.py"))

import torch

from tecogan.networks import build_generator, generator_from_checkpoint, with_metadata
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.fileio import atomic_torch_save
from tecogan.utils.outputs import FILE, check_outputs


def grown(net, nb, seed=0):
    """An FRNet like ``net`` with ``nb`` residual blocks: its own weights, then blocks whose first
    convolution is freshly initialised (seeded) and whose second is zero."""
    arch = net.arch()
    if arch["nb"] >= nb:
        raise UserError(f"--nb {nb}: the checkpoint already has {arch['nb']} residual blocks (expected more)")
    torch.manual_seed(seed)
    bigger = build_generator(type(net).__name__, **dict(arch, nb=nb))
    state = bigger.state_dict()
    state.update(net.state_dict())  # every tensor of the trained network keeps its name and value
    for i in range(arch["nb"], nb):
        for kind in ("weight", "bias"):
            state[f"srnet.resblocks.{i}.conv.2.{kind}"] = torch.zeros_like(state[f"srnet.resblocks.{i}.conv.2.{kind}"])
    bigger.load_state_dict(state, strict=True)
    return bigger.eval()


def main(argv=None):
    p = argparse.ArgumentParser(description="Add zero-initialised residual blocks to an FRNet checkpoint.")
    p.add_argument("checkpoint")
    p.add_argument("output")
    p.add_argument("--nb", type=int, required=True, help="the number of residual blocks wanted")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT (never the CHECKPOINT itself)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    check_outputs([("OUTPUT", args.output, FILE)], [("CHECKPOINT", args.checkpoint)], args.overwrite)
    net = generator_from_checkpoint(load_state_dict_file(args.checkpoint), label=args.checkpoint).eval()
    if not hasattr(net, "srnet"):
        raise UserError(f"{args.checkpoint}: not an FRNet checkpoint (expected srnet.resblocks.*)")
    bigger = grown(net, args.nb)
    lr = torch.rand(1, 3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (net.forward_sequence(lr)["hr_data"] - bigger.forward_sequence(lr)["hr_data"]).abs().max().item()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    atomic_torch_save(with_metadata(bigger.state_dict(), net.state_dict()), args.output)
    print(f"{args.output}: {net.arch()['nb']} -> {args.nb} residual blocks; largest output difference {diff:g}")
    return 0


if __name__ == "__main__":
    run_cli(main)
