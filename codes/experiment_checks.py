"""The experiment's rules between keys: what no single key of the schema (:mod:`tecogan.experiment`)
can say alone.

:func:`cross_check` runs after the schema filled the defaults: crops that are multiples of the
scale and large enough for the flow network, the training data each degradation reads, the
sections TecoGAN training needs, complete learning-rate schedules, a bounded test range, and
``dataset.degradation.real`` only with type Real.  Each problem is one line naming the file and
the key path.
"""

import os
import re

from tecogan import defaults
from tecogan.config.schema import validate_node
from tecogan.data.real_schema import REAL
from tecogan.networks import GENERATORS
from tecogan.utils.errors import UserError


def _check_real(deg, where, fill_defaults):
    """``dataset.degradation.real``: only with type Real, where it is created holding its defaults."""
    if deg["type"] != "Real":
        if deg.get("real") is not None:
            raise UserError(f"{where}: dataset.degradation.real: only used with type Real (type is {deg['type']})")
        return
    if deg.get("real") is None and fill_defaults:
        deg["real"] = {}
        validate_node(deg["real"], REAL, "dataset.degradation.real", where, fill_defaults)


def _check_test_range(opt, where):
    test = opt.get("test") or {}
    start, end = test.get("start_iter"), test.get("end_iter")
    if start is not None and end is not None:  # before main.py lists the series' names
        if end < start:
            raise UserError(f"{where}: test.end_iter: {end} is smaller than test.start_iter {start}")
        count = (end - start) // test.get("test_freq", 1) + 1
        if count > defaults.MAX_TEST_CHECKPOINTS:
            raise UserError(
                f"{where}: test.start_iter {start}, end_iter {end}, test_freq {test.get('test_freq')}: "
                f"{count} checkpoints, more than {defaults.MAX_TEST_CHECKPOINTS} (a larger test_freq?)"
            )


def _check_generator_arch(section, degradation, scale, where):
    """The generator's own rules between its keys (FRNetShuffle takes no ``hr_nf``), with the file named."""
    cls = GENERATORS.get((section or {}).get("name"))
    if cls is None:
        return
    try:
        cls.arch_from_config(section, degradation, scale)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None


# dataset.train keys read by one kind of degradation only (BD degrades GT frames as it reads them)
_TRAIN_KEYS = {"BD": ("seq_dir", "crop_size"), "BI": ("gt_seq_dir", "lr_seq_dir", "gt_crop_size")}
_TRAIN_KEYS["Real"] = ("gt_seq_dir", "gt_crop_size")


def _check_unused_degradation_keys(dataset, degradation, where):
    """A key another degradation reads (a BI recipe turned BD keeping gt_crop_size) is one line,
    not silently ignored."""
    train = dataset.get("train") or {}
    own = _TRAIN_KEYS.get(degradation, _TRAIN_KEYS["BI"])  # a type added to the table reads GT/LR like BI
    for key in sorted({k for keys in _TRAIN_KEYS.values() for k in keys} - set(own)):
        if train.get(key) is not None:
            readers = "/".join(d for d, keys in _TRAIN_KEYS.items() if key in keys)
            raise UserError(
                f"{where}: dataset.train.{key}: read by {readers} training only (dataset.degradation.type is {degradation})"
            )


def cross_check(opt, where, fill_defaults=True):
    """Check the rules between the keys of a validated experiment mapping ``opt`` (``where``: the
    file named in the messages); fills ``dataset.degradation.real`` for type Real."""
    _check_test_range(opt, where)
    scale = opt["scale"]
    degradation = opt["dataset"]["degradation"]["type"]
    _check_real(opt["dataset"]["degradation"], where, fill_defaults)
    train = opt["dataset"].get("train")
    _check_unused_degradation_keys(opt["dataset"], degradation, where)
    if train:
        if degradation == "BD":
            if not train.get("seq_dir"):
                raise UserError(f"{where}: dataset.train.seq_dir: missing (BD training reads GT frames from an LMDB)")
            if train.get("crop_size") is None:
                raise UserError(f"{where}: dataset.train.crop_size: missing required key for BD")
            if train["crop_size"] % scale:
                raise UserError(f"{where}: dataset.train.crop_size: {train['crop_size']} is not a multiple of scale {scale}")
            if train["crop_size"] // scale < defaults.MIN_LR_SIZE:
                raise UserError(
                    f"{where}: dataset.train.crop_size: {train['crop_size']} gives LR crops smaller "
                    f"than {defaults.MIN_LR_SIZE}x{defaults.MIN_LR_SIZE} (the flow network needs at "
                    f"least {defaults.MIN_LR_SIZE * scale})"
                )
        else:
            for key in ("gt_seq_dir", "lr_seq_dir") if degradation == "BI" else ("gt_seq_dir",):
                if not train.get(key):
                    raise UserError(
                        f"{where}: dataset.train.{key}: missing ({degradation} training reads "
                        f"{'paired GT/LR LMDBs' if degradation == 'BI' else 'a GT LMDB'})"
                    )
            if train.get("gt_crop_size") is None:
                raise UserError(f"{where}: dataset.train.gt_crop_size: missing required key for {degradation}")
            if train["gt_crop_size"] % scale:
                raise UserError(
                    f"{where}: dataset.train.gt_crop_size: {train['gt_crop_size']} is not a multiple of scale {scale}"
                )
            if train["gt_crop_size"] // scale < defaults.MIN_LR_SIZE:
                raise UserError(
                    f"{where}: dataset.train.gt_crop_size: {train['gt_crop_size']} gives LR crops "
                    f"smaller than {defaults.MIN_LR_SIZE}x{defaults.MIN_LR_SIZE} (the flow network "
                    f"needs at least {defaults.MIN_LR_SIZE * scale})"
                )
            region = (opt["dataset"]["degradation"].get("real") or {}).get("region") or 0
            if degradation == "Real" and region and region < train["gt_crop_size"] // scale:
                raise UserError(
                    f"{where}: dataset.degradation.real.region: {region} low-res pixels is smaller "
                    f"than the low-res crop {train['gt_crop_size'] // scale} (gt_crop_size / scale)"
                )
    model = opt["model"]
    _check_generator_arch(model.get("generator"), degradation, scale, where)
    tr = opt.get("train")
    if tr is not None and model["name"] == "TecoGAN":
        for section, key in (("model", "discriminator"), ("train", "discriminator"), ("train", "gan_crit")):
            if opt[section].get(key) is None:
                raise UserError(f"{where}: {section}.{key}: missing required section for TecoGAN training")
    if tr is not None:
        for name in ("generator", "discriminator"):
            sched = (tr.get(name) or {}).get("lr_schedule") or {}
            if sched.get("type") == "MultiStepLR" and (sched.get("milestones") is None or sched.get("gamma") is None):
                raise UserError(f"{where}: train.{name}.lr_schedule: MultiStepLR needs milestones and gamma")
            if sched.get("type") == "CosineAnnealingLR_Restart" and sched.get("periods") is None:
                raise UserError(f"{where}: train.{name}.lr_schedule: CosineAnnealingLR_Restart needs periods")
            restarts, weights = sched.get("restarts") or [], sched.get("restart_weights")
            if weights is not None and len(weights) != len(restarts):
                raise UserError(
                    f"{where}: train.{name}.lr_schedule.restart_weights: {len(weights)} numbers for "
                    f"{len(restarts)} restart{'s' if len(restarts) != 1 else ''}; expected one weight per restart"
                )


def published_hint(path):
    """For a missing published checkpoint (``FRVSR_BD_iter400000.pth`` style), the script that fetches it."""
    m = re.match(r"(FRVSR|TecoGAN)_(BD|BI)_iter\d+\.pth$", os.path.basename(path))
    return f"; fetch it with: bash scripts/download/download_models.sh {m.group(2)} {m.group(1)}" if m else ""


def check_training_paths(opt, where):
    """Before a training starts: the files and folders its YAML names exist (the training LMDBs,
    the starting weights, the LPIPS and feature-loss weights), each missing one a line naming the
    key.  Validation sets are checked by :func:`tecogan.testing.check_test_sets`."""
    train = opt["dataset"].get("train") or {}
    for key in ("seq_dir", "gt_seq_dir", "lr_seq_dir"):
        folder = train.get(key)
        if folder and not os.path.isdir(folder):
            raise UserError(
                f"{where}: dataset.train.{key}: {folder}: LMDB folder not found (make it with "
                f"scripts/create_lmdb.py, after the data scripts of docs/data.md)"
            )
    files = [(f"model.{net}.load_path", (opt["model"].get(net) or {}).get("load_path")) for net in ("generator", "discriminator")]
    files.append(("metric.LPIPS.weights", ((opt.get("metric") or {}).get("LPIPS") or {}).get("weights")))
    feature = (opt.get("train") or {}).get("feature_crit") or {}
    files += [(f"train.feature_crit.{key}", feature.get(key)) for key in ("weights", "vgg_weights")]
    for key, path in files:
        if path and not os.path.isfile(path):
            raise UserError(f"{where}: {key}: {path}: file not found{published_hint(path)}")
