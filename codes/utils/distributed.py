"""torchrun support: process group from the environment, rank helpers."""

import os

import torch
import torch.distributed as dist

from tecogan.utils.errors import UserError


def _env_int(name, default):
    """``$name`` as a non-negative integer (torchrun sets these); one line naming it otherwise."""
    text = os.environ.get(name)
    if text is None:
        if default is None:
            raise UserError(
                f"${name} is not set, but $WORLD_SIZE is {os.environ.get('WORLD_SIZE')!r}: start "
                f"multi-process training with torchrun, which sets both"
            )
        return default
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise UserError(f"${name} {text!r}: expected a non-negative integer (torchrun sets it)")
    return value


def init_from_env():
    """(rank, world_size, local_rank); initialises the process group under torchrun."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return 0, 1, 0
    rank, local_rank = _env_int("RANK", None), _env_int("LOCAL_RANK", 0)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return rank, world, local_rank


def barrier():
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def average_gradients(params):
    """All-reduce the gradients of ``params`` (mean over processes)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    world = dist.get_world_size()
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad.div_(world)


def average_scalar(value):
    """The mean of a Python float over processes (itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.item() / dist.get_world_size()


def cleanup():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


PEER_LOST = ("Connection reset", "Connection closed", "Broken pipe", "gloo", "NCCL", "ProcessGroup")


def peer_lost(err):
    """The words of a collective operation's error that say a process is gone (gloo's and NCCL's
    own), or None."""
    text = str(err)
    return next((text[text.index(w) :].split("]")[0].split(".")[0][:80] for w in PEER_LOST if w in text), None)
