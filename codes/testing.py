"""Super-resolve test datasets: one routine for test mode and for validation during training.

For every sequence of every ``dataset.test*`` entry the LR frames are read, run through the
frame-recurrent procedure (:meth:`tecogan.inference.upscaler.Upscaler.upscale_clip`, as upscale.py and
the API), written as PNGs under
``<res_root>/<dataset>/<tag>/<sequence>/<GT frame names>`` by a background writer (so PNG
encoding overlaps the network) into a temporary folder renamed into place when the sequence is
complete, and, when metrics are asked for and GT frames exist, scored
with :class:`tecogan.metrics.validation.ValidationMetrics`.
"""

import os
import time
from dataclasses import dataclass

import numpy as np

from tecogan.data.folder_dataset import PairedFolderDataset, SequenceInfo
from tecogan.experiment import test_datasets
from tecogan.inference.upscaler import as_frames
from tecogan.utils.errors import UserError
from tecogan.utils.progress import Progress
from tecogan.video import BackgroundWriter, FolderSink


@dataclass
class SequenceSet:
    """One ``dataset.test*`` entry: its name and its sequence folders."""

    name: str
    folders: PairedFolderDataset

    @classmethod
    def from_config(cls, ds, scale, degradation="BD"):
        missing = missing_folder(ds)
        if missing:
            key, folder = missing
            how = ds.get("how_to_get") or _how_to_make(ds, key, scale, degradation)
            raise UserError(f"{folder}: {'GT' if key == 'gt_seq_dir' else 'LR'} folder of test set {ds['name']} not found; {how}")
        return cls(
            ds["name"], PairedFolderDataset(ds["lr_seq_dir"], ds.get("gt_seq_dir"), scale, ds.get("filter_file"), read_gt=False)
        )


def missing_folder(ds):
    """(key, folder) of the first missing LR/GT folder of a ``dataset.test*`` entry, or None."""
    for key in ("lr_seq_dir", "gt_seq_dir"):
        folder = ds.get(key)
        if folder and not os.path.isdir(folder):
            return key, folder
    return None


def sequence_sets(opt, report=print):
    """``[(dataset options, SequenceSet)]`` of every ``dataset.test*`` entry.  An entry marked
    ``optional: true`` whose folders are missing is left out with one ``report`` line saying
    how to get it; any other missing folder is an error."""
    scale, degradation = opt["scale"], opt["dataset"]["degradation"]["type"]
    sets = []
    for _, ds in test_datasets(opt):
        missing = missing_folder(ds) if ds.get("optional") else None
        if missing:
            key, folder = missing
            report(
                f"{ds['name']}: skipped (optional; {folder} not found): "
                f"{ds.get('how_to_get') or _how_to_make(ds, key, scale, degradation)}"
            )
            continue
        sets.append((ds, SequenceSet.from_config(ds, scale, degradation)))
    return sets


def check_test_sets(opt, report=print):
    """Before a training's first iteration: every ``dataset.test*`` entry pairs its sequences
    and frame counts (as :func:`sequence_sets`), and each sequence's first GT frame is its first
    LR frame x scale, so a broken validation set is one line now, not at the first validation
    (``test.test_freq`` iterations of work later).  A set without GT frames is reported: its
    frames are written but no metric scores them."""
    for ds, ts in sequence_sets(opt, report):
        if not ds.get("gt_seq_dir") and opt.get("metric"):
            report(f"warning: test set {ds['name']} has no gt_seq_dir: validation scores no metric on it")
        for info in ts.folders.sequences:
            lr = ts.folders.read_lr(SequenceInfo(info.name, info.lr_paths[:1]))
            if info.gt_paths:
                ts.folders.read_gt_frames(SequenceInfo(info.name, info.lr_paths[:1], info.gt_paths[:1]), lr.shape)


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


def run_test_datasets(upscaler, datasets, res_root, tag, save_res=True, metrics=None, report=print, progress=True, samples=None):
    """Run ``upscaler`` (a :class:`tecogan.inference.upscaler.Upscaler`: generator and inference options, e.g.
    the YAML's ``test.num_pad_front``) over every sequence of ``datasets`` (a list of :class:`SequenceSet`).

    Frames go to ``<res_root>/<dataset>/<tag>/<sequence>/`` when ``save_res``.  ``metrics``
    (a ValidationMetrics or None) scores sequences that have GT frames.  ``report(line)``
    receives one line per sequence (frames, seconds, frames/s).  Returns
    ``{dataset name: ({metric: mean over sequences}, {sequence: {metric: mean}})}`` for the
    datasets that were scored.  A dict ``samples`` receives, per dataset, the middle frame of its
    first sequence as ``(lr, output, gt or None)`` uint8 arrays (TensorBoard's validation images).
    """
    averages = {}
    for ds in datasets:
        scored = {}
        for info in ds.folders.sequences:
            lr = ds.folders.read_lr(info, set())
            gt = None
            if info.gt_paths and metrics is not None:
                gt = ds.folders.read_gt_frames(info, lr.shape, set())
            elif info.gt_paths:  # GT frames give the output names: check they match the LR
                ds.folders.read_gt_frames(info.__class__(info.name, info.lr_paths, info.gt_paths[:1]), lr.shape, set())
            out_dir = os.path.join(res_root, ds.name, tag, info.name)
            names = info.frame_names
            outputs = []
            start = time.perf_counter()
            # frames go to a temporary sibling folder, renamed into place when complete
            sink = FolderSink(out_dir) if save_res else None
            writer = BackgroundWriter(maxsize=8)
            bar = Progress(total=len(lr), desc=f"{ds.name}/{info.name}", quiet=not progress, leave=False)
            ok = False
            try:
                for out in upscaler.upscale_clip(as_frames(lr)):
                    if samples is not None and ds.name not in samples and out.index == len(lr) // 2:
                        samples[ds.name] = (lr[out.index], np.array(out.image), gt[out.index] if gt is not None else None)
                    if sink is not None:
                        writer.put(sink, names[out.index], out.image)
                    if gt is not None:
                        outputs.append(out.image)
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
            report(
                f"{ds.name}/{info.name}: {len(lr)} frames, {seconds:.2f} s, "
                f"{len(lr) / max(seconds, 1e-9):.2f} frames/s" + (f" -> {out_dir}" if save_res else "")
            )
            if gt is not None:
                scored[info.name] = (gt, np.stack(outputs))
        if scored:
            averages[ds.name] = (metrics.evaluate(scored), dict(metrics.per_sequence))
    return averages
