"""Super-resolve test datasets: one routine for test mode and for validation during training.

For every sequence of every ``dataset.test*`` entry the LR frames are read, run through the
frame-recurrent procedure (:func:`tecogan.inference.infer_sequence`), written as PNGs under
``<res_root>/<dataset>/<tag>/<sequence>/<GT frame names>`` by a background writer (so PNG
encoding overlaps the network) into a temporary folder renamed into place when the sequence is
complete, and, when metrics are asked for and GT frames exist, scored
with :class:`tecogan.metrics.validation.ValidationMetrics`.
"""
import os
import time
from dataclasses import dataclass

import numpy as np

from tecogan.data.folder_dataset import PairedFolderDataset
from tecogan.inference import infer_sequence
from tecogan.utils.errors import UserError


@dataclass
class SequenceSet:
    """One ``dataset.test*`` entry: its name and its sequence folders."""
    name: str
    folders: PairedFolderDataset

    @classmethod
    def from_config(cls, ds, scale, degradation="BD"):
        for key in ("lr_seq_dir", "gt_seq_dir"):
            folder = ds.get(key)
            if folder and not os.path.isdir(folder):
                raise UserError(f"{folder}: {'GT' if key == 'gt_seq_dir' else 'LR'} folder of test set "
                                f"{ds['name']} not found; {_how_to_make(ds, key, scale, degradation)}")
        return cls(ds["name"], PairedFolderDataset(ds["lr_seq_dir"], ds.get("gt_seq_dir"), scale,
                                                   ds.get("filter_file"), read_gt=False))


def _how_to_make(ds, key, scale, degradation):
    """The command that makes a missing test folder."""
    gt = ds.get("gt_seq_dir")
    if key == "lr_seq_dir" and gt and os.path.isdir(gt):
        if degradation == "BD":
            script = "python scripts/resize_BD.py" + (f" --scale {scale}" if scale != 4 else "")
        else:
            script = "python scripts/generate_lr_BI.py" + (f" --scale {scale}" if scale != 4 else "")
        return f"make it from the GT frames: {script} --gt_dir {gt} --lr_dir {ds[key]}"
    if ds["name"] in ("Vid4", "ToS3"):
        return f"download it: bash scripts/download/download_datasets.sh {degradation} (see data/README.md)"
    return "put <sequence>/<frame>.png folders there (docs/data.md)"


def run_test_datasets(upscaler, datasets, res_root, tag, num_pad_front=5, padding_mode="reflect",
                  save_res=True, metrics=None, report=print, progress=True):
    """Run ``upscaler`` over every sequence of ``datasets`` (a list of :class:`SequenceSet`).

    Frames go to ``<res_root>/<dataset>/<tag>/<sequence>/`` when ``save_res``.  ``metrics``
    (a ValidationMetrics or None) scores sequences that have GT frames.  ``report(line)``
    receives one line per sequence (frames, seconds, frames/s).  Returns
    ``{dataset name: ({metric: mean over sequences}, {sequence: {metric: mean}})}`` for the
    datasets that were scored.
    """
    from tqdm import tqdm
    from tecogan.video import BackgroundWriter, FolderSink

    averages = {}
    for ds in datasets:
        scored = {}
        for info in ds.folders.sequences:
            lr = ds.folders.read_lr(info, set())
            gt = None
            if info.gt_paths and metrics is not None:
                gt = ds.folders.read_gt_frames(info, lr.shape, set())
            elif info.gt_paths:  # GT frames give the output names: check they match the LR
                ds.folders.read_gt_frames(info.__class__(info.name, info.lr_paths, info.gt_paths[:1]),
                                          lr.shape, set())
            out_dir = os.path.join(res_root, ds.name, tag, info.name)
            names = info.frame_names
            outputs = []
            start = time.perf_counter()
            # frames go to a temporary sibling folder, renamed into place when complete
            sink = FolderSink(out_dir) if save_res else None
            writer = BackgroundWriter(maxsize=8)
            bar = tqdm(total=len(lr), desc=f"{ds.name}/{info.name}", unit="frame", leave=False,
                       dynamic_ncols=True, disable=None if progress else True)
            ok = False
            try:
                for i, hr in enumerate(infer_sequence(None, lr, num_pad_front, padding_mode, upscaler=upscaler)):
                    if sink is not None:
                        writer.put(sink, names[i], hr)
                    if gt is not None:
                        outputs.append(hr)
                    bar.update(1)
                writer.close()
                ok = True
            finally:
                if not ok:  # the first error is the one to report
                    writer.close(discard=True)
                bar.close()
                if sink is not None:
                    sink.close(ok)
            seconds = time.perf_counter() - start
            report(f"{ds.name}/{info.name}: {len(lr)} frames, {seconds:.2f} s, "
                   f"{len(lr) / max(seconds, 1e-9):.2f} frames/s" + (f" -> {out_dir}" if save_res else ""))
            if gt is not None:
                scored[info.name] = (gt, np.stack(outputs))
        if scored:
            averages[ds.name] = (metrics.evaluate(scored), dict(metrics.per_sequence))
    return averages


def make_test_upscaler(net, device, channels_last=True, backend=None, precision="fp32", sets=(), report=print):
    """The upscaler of test mode for ``test.precision`` (:mod:`tecogan.precision`).

    ``backend``: the one asked for, or None (torch, unless ``auto`` picks another). For
    ``auto`` a checkpoint without measurements is checked on the first frames of the first
    sequence of ``sets``; the choice and its reason go to ``report``.
    """
    from tecogan.backends import check_backend
    from tecogan.inference import RecurrentUpscaler
    from tecogan.precision import check_precision, resolve_auto
    check_backend(backend or "torch", device)
    if precision == "auto":
        frames = None
        for ds in sets:
            if ds.folders.sequences:
                info = ds.folders.sequences[0]
                frames = ds.folders.read_lr(info.__class__(info.name, info.lr_paths[:8], info.gt_paths[:8]), set())
                break
        choice = resolve_auto(net, device, backend, frames=None if frames is None else list(frames))
        report(choice.reason)
        backend, precision = choice.backend, choice.precision
    check_precision(precision, device, backend or "torch")
    return RecurrentUpscaler(net, device, channels_last=channels_last, backend=backend or "torch",
                             precision=precision)
