"""Give an FRNet fewer channels at the output resolution (``hr_nf``), keeping what it computes as
closely as a linear refit allows: the start of a cheaper network.

    python scripts/narrow_head.py experiments_BI/FRVSR_fast12/001/train/ckpt/G_ema_iter4000.pth \\
        /tmp/FRVSR_BI_fast_nb7_hr8_init.pth --hr_nf 8 [--lr_dir data/Footage/Bicubic4xLR] [--overwrite]

At small widths the last transposed convolution and ``conv_out``, both at the output resolution,
cost more than the residual blocks (docs/models.md, "Choosing the size"). This keeps the ``hr_nf``
channels of that transposed convolution that contribute most to ``conv_out``'s output (the energy
of each channel's share, on low-res clips from ``--lr_dir``) and refits ``conv_out`` on the kept
channels by least squares against the full network's ``conv_out`` output on the same pixels.
Parameter names stay; ``srnet.conv_out.weight`` then takes ``hr_nf`` channels, which
``FRNet.arch_from_state_dict`` reads back. It prints how close the narrowed output stays to the
original (the PSNR of its output against the original's on one of the clips); training then
recovers the rest.
"""

import argparse
import os

if not __package__:  # run as a file from a clone
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "codes", "_clone.py"))

import torch
import torch.nn.functional as F

from tecogan.data.folder_dataset import read_sequence
from tecogan.defaults import MIN_LR_SIZE
from tecogan.networks import build_generator, generator_from_checkpoint, with_metadata
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError, run_cli
from tecogan.utils.fileio import atomic_torch_save, list_images
from tecogan.utils.outputs import FILE, check_outputs


def read_clips(lr_dir, n_clips, n_frames):
    """Up to ``n_clips`` sequences of ``lr_dir`` (sub-folders of frames), ``n_frames`` each:
    a list of (t, 3, h, w) float tensors in [0, 1]."""
    if not os.path.isdir(lr_dir):
        raise UserError(f"--lr_dir {lr_dir}: not a folder (expected one sub-folder of low-res frames per clip)")
    clips = []
    for name in sorted(os.listdir(lr_dir)):
        folder = os.path.join(lr_dir, name)
        if name.startswith(".") or not os.path.isdir(folder):
            continue
        names = list_images(folder)[:n_frames]
        if len(names) < 2:
            continue
        frames = read_sequence([os.path.join(folder, n) for n in names], min_size=MIN_LR_SIZE, what="low-res")
        clips.append(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0)
        if len(clips) == n_clips:
            break
    if not clips:
        raise UserError(f"--lr_dir {lr_dir}: no sub-folder with two or more frames")
    return clips


def head_samples(net, clips, per_frame, seed=0):
    """3x3 patches of the last ``conv_up`` output and ``conv_out``'s output at the same pixels.

    Returns (patches (N, hr_nf*9), targets (N, out_nc)), ``per_frame`` random pixels a frame,
    channel-major as ``F.unfold`` orders them (what ``conv_out.weight.view(out_nc, -1)`` multiplies).
    """
    srnet = net.srnet
    gen = torch.Generator().manual_seed(seed)
    patches, targets, seen = [], [], {}

    def keep_input(module, args, output):
        seen["features"] = output

    def keep_output(module, args, output):
        feats = seen.pop("features")
        n, c, h, w = feats.shape
        cols = F.unfold(feats, 3, padding=1)  # (n, c*9, h*w)
        idx = torch.randint(0, h * w, (per_frame,), generator=gen)
        patches.append(cols[..., idx].permute(0, 2, 1).reshape(-1, c * 9))
        targets.append(output.flatten(2)[..., idx].permute(0, 2, 1).reshape(-1, output.shape[1]))

    hooks = [srnet.conv_up.register_forward_hook(keep_input), srnet.conv_out.register_forward_hook(keep_output)]
    try:
        with torch.no_grad():
            for clip in clips:
                net.forward_sequence(clip[None])
    finally:
        for h in hooks:
            h.remove()
    return torch.cat(patches), torch.cat(targets)


def check_width(hr_nf, old):
    if not 1 <= hr_nf <= old:
        raise UserError(f"--hr_nf {hr_nf}: expected 1 to {old} (the checkpoint's channels at the output resolution)")


def narrowed(net, hr_nf, patches, targets):
    """An FRNet like ``net`` whose last ``conv_up`` keeps the ``hr_nf`` channels with the largest share
    of ``conv_out``'s output energy and whose ``conv_out`` is refitted on them (least squares)."""
    arch = net.arch()
    old = net.hr_nf
    check_width(hr_nf, old)
    weight = net.srnet.conv_out.weight.detach()  # (out_nc, old, 3, 3)
    out_nc = weight.shape[0]
    per_channel = patches.view(-1, old, 9)
    share = torch.einsum("nck,ock->nco", per_channel, weight.view(out_nc, old, 9))
    energy = share.pow(2).sum(dim=(0, 2))
    keep = torch.sort(torch.topk(energy, hr_nf).indices).values
    x = torch.cat([per_channel[:, keep].reshape(len(patches), -1), torch.ones(len(patches), 1)], dim=1)
    solution = torch.linalg.lstsq(x.double(), targets.double()).solution.float()  # (hr_nf*9 + 1, out_nc)
    state = net.state_dict()
    last = f"srnet.conv_up.{len(net.srnet.conv_up) - 2}"
    state[f"{last}.weight"] = state[f"{last}.weight"][:, keep].clone()
    state[f"{last}.bias"] = state[f"{last}.bias"][keep].clone()
    state["srnet.conv_out.weight"] = solution[:-1].t().reshape(out_nc, hr_nf, 3, 3).contiguous()
    state["srnet.conv_out.bias"] = solution[-1].clone()
    small = build_generator(type(net).__name__, **dict(arch, hr_nf=hr_nf))
    small.load_state_dict(state, strict=True)
    return small.eval(), keep


def psnr(a, b):
    return (10 * torch.log10(1.0 / (a.clamp(0, 1) - b.clamp(0, 1)).pow(2).mean().clamp_min(1e-12))).item()


def main(argv=None):
    p = argparse.ArgumentParser(description="Narrow an FRNet's output-resolution channels (hr_nf), refitting conv_out.")
    p.add_argument("checkpoint")
    p.add_argument("output")
    p.add_argument("--hr_nf", type=int, required=True, help="the channels wanted at the output resolution")
    p.add_argument("--lr_dir", default="data/Footage/Bicubic4xLR", help="low-res training clips, one sub-folder each")
    p.add_argument("--clips", type=int, default=8, help="how many of its clips (default 8)")
    p.add_argument("--frames", type=int, default=6, help="frames of each clip (default 6)")
    p.add_argument("--pixels", type=int, default=4000, help="random pixels sampled a frame (default 4000)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT (never the CHECKPOINT itself)")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    for flag, value, low in (("--clips", args.clips, 1), ("--frames", args.frames, 2), ("--pixels", args.pixels, 1)):
        if value < low:
            raise UserError(f"{flag} {value}: expected an integer >= {low}")
    check_outputs([("OUTPUT", args.output, FILE)], [("CHECKPOINT", args.checkpoint)], args.overwrite)
    net = generator_from_checkpoint(load_state_dict_file(args.checkpoint), label=args.checkpoint).eval()
    if not hasattr(net, "hr_nf") or len(net.srnet.conv_up) == 0:
        raise UserError(f"{args.checkpoint}: not an FRNet checkpoint (expected srnet.conv_up.* and srnet.conv_out)")
    check_width(args.hr_nf, net.hr_nf)  # before the clips are read and run
    clips = read_clips(args.lr_dir, args.clips, args.frames)
    with torch.no_grad():
        patches, targets = head_samples(net, clips, args.pixels)
        small, keep = narrowed(net, args.hr_nf, patches, targets)
        check = clips[0][None]
        close = psnr(small.forward_sequence(check)["hr_data"], net.forward_sequence(check)["hr_data"])
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    atomic_torch_save(with_metadata(small.state_dict(), net.state_dict()), args.output)
    print(
        f"{args.output}: {net.hr_nf} -> {args.hr_nf} channels at the output resolution (kept "
        f"{', '.join(map(str, keep.tolist()))}); PSNR {close:.2f} dB against the original's output on the first clip"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
