"""TensorBoard event files of a training: ``<exp>/train/tensorboard/``.

Written by rank 0 only (``logger.tensorboard``; on by default when the ``tensorboard`` package is
importable).  Tags:

- ``train/<name>``: the running averages of the log line (``logger.decay``), every ``log_freq``
- ``lr/lr_G`` (``lr/lr_D``): the learning rates, every ``log_freq``
- ``grad_norm/G``: the generator's gradient L2 norm at that iteration (fp16: unscaled)
- ``val/<dataset>/<metric>`` (``val_ema/...`` for the EMA of G): the validation averages
- ``images/<dataset>`` (``images_ema/<dataset>``): LR (nearest-upsampled), output and GT of a
  crop of the middle frame of the dataset's first sequence, side by side
- ``config``: the validated YAML, as text, at the start and at every resume

A resumed run writes a new event file into the same folder with ``purge_step`` = the resumed
iteration + 1: readers drop what the earlier process logged after the state it saved, so every
step appears once.
"""

import importlib.util
import os

import numpy as np
import yaml

from tecogan.utils.errors import UserError

CROP = 96  # HR size of the validation image crops (LR crop: CROP / scale)


def available():
    return importlib.util.find_spec("tensorboard") is not None


def enabled(opt):
    """``logger.tensorboard``: true/false, or absent (None): on when tensorboard is importable."""
    want = opt["logger"].get("tensorboard")
    if want is None:
        return available()
    if want and not available():
        raise UserError(
            "logger.tensorboard: true, but the tensorboard package is not installed "
            "(pip install tensorboard==2.21.0, or set logger.tensorboard: false)"
        )
    return bool(want)


def triptych(lr, out, gt, scale, crop=CROP):
    """(h, w, 3) uint8: a centred crop of the LR frame (nearest-upsampled), the output and the GT."""
    h, w = out.shape[:2]
    ch, cw = min(crop, h) // scale * scale, min(crop, w) // scale * scale
    y, x = (h - ch) // 2 // scale * scale, (w - cw) // 2 // scale * scale
    lr_crop = lr[y // scale : (y + ch) // scale, x // scale : (x + cw) // scale]
    panels = [np.repeat(np.repeat(lr_crop, scale, axis=0), scale, axis=1), out[y : y + ch, x : x + cw]]
    if gt is not None:
        panels.append(gt[y : y + ch, x : x + cw])
    gap = np.full((ch, 2, 3), 255, np.uint8)
    row = [panels[0]]
    for p in panels[1:]:
        row += [gap, p]
    return np.concatenate(row, axis=1)


class NoLog:
    """What the trainer holds when TensorBoard is off (or on ranks other than 0): does nothing."""

    active = False

    def scalars(self, *args):
        pass

    validation = flush = close = scalars


def open_log(opt, log_dir, start_iter, resumed, is_main):
    """A :class:`TensorBoardLog` on rank 0 when ``logger.tensorboard`` is on, else a :class:`NoLog`."""
    on = enabled(opt)  # every rank: a missing package is the same error everywhere
    return TensorBoardLog(log_dir, start_iter, resumed, opt) if on and is_main else NoLog()


class TensorBoardLog:
    """A ``SummaryWriter`` with the trainer's tags."""

    active = True

    def __init__(self, log_dir, start_iter, resumed, opt):
        from torch.utils.tensorboard import SummaryWriter

        os.makedirs(log_dir, exist_ok=True)
        # on resume, events after the saved state (logged by the process that was stopped) are dropped
        self.writer = SummaryWriter(log_dir, purge_step=start_iter + 1 if resumed else None)
        self.scale = opt["scale"]
        text = yaml.safe_dump(opt, sort_keys=False, default_flow_style=None)
        self.writer.add_text("config", "```yaml\n" + text + "```", global_step=start_iter)

    def scalars(self, step, running, lrs, grad_norms):
        for name, value in running.items():
            self.writer.add_scalar(f"train/{name}", value, step)
        for name, value in lrs.items():
            self.writer.add_scalar(f"lr/{name}", value, step)
        for name, value in grad_norms.items():
            self.writer.add_scalar(f"grad_norm/{name}", float(value), step)

    def validation(self, step, kind, averages, samples):
        suffix = "" if kind == "G" else "_ema" if kind == "G_ema" else f"_{kind}"
        for dataset, avg in averages.items():
            for metric, value in avg.items():
                self.writer.add_scalar(f"val{suffix}/{dataset}/{metric}", value, step)
        for dataset, (lr, out, gt) in samples.items():
            self.writer.add_image(f"images{suffix}/{dataset}", triptych(lr, out, gt, self.scale), step, dataformats="HWC")
        self.writer.flush()

    def flush(self):
        self.writer.flush()

    def close(self):
        self.writer.close()
