"""Choosing the compute device from ``--gpu_id`` / ``--device``."""
import torch

from tecogan.utils.errors import UserError, warn


def device_from_gpu_id(gpu_id, option=None):
    """-1 -> CPU; k >= 0 -> cuda:k, falling back to CPU with a warning when CUDA is absent.

    A GPU index that does not exist on a machine with CUDA is an error.  ``option`` is how the
    user asked for it in messages (default ``--gpu_id k``).
    """
    option = option or f"--gpu_id {gpu_id}"
    if gpu_id is None or gpu_id < 0:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        warn(f"{option}: CUDA is not available on this machine; running on the CPU")
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if gpu_id >= count:
        cpu = "use -1 for the CPU" if option.startswith("--gpu_id") else "use cpu"
        raise UserError(f"{option}: no such GPU (this machine has {count}: 0..{count - 1}); {cpu}")
    return torch.device(f"cuda:{gpu_id}")


def parse_device(name):
    """'cpu', 'cuda' or 'cuda:k' (as for ``--device``) with the same checks."""
    if name in (None, "", "auto"):
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        index = 0
        if ":" in name:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise UserError(f"--device {name}: expected cpu, cuda or cuda:<index>")
        return device_from_gpu_id(index, option=f"--device {name}")
    raise UserError(f"--device {name}: expected cpu, cuda or cuda:<index>")
