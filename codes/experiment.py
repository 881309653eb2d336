"""Experiment YAML: loaded and validated once, at the edge.

The schema below is the reference's (docs/training.md, "Configuration") plus this project's
additions (``dataset.train.augment``, ``train.feature_crit.vgg_weights``,
``metric.LPIPS.weights``, ``test.start_iter/end_iter``, ``scale: 2``,
``train.memory_format``, ``train.precision``, ``train.ema_decay``, ``test.precision``,
``dataset.test*.optional/how_to_get``, ``base:`` inheritance).  Every problem is
reported as one line naming the file and the key path, e.g.
``train.yml: model.genrator: unknown key (did you mean generator?)``.  Defaults live here
only: validation fills them in, and inner code reads plain values (``opt[key]``) from the
returned dict.  The rules between keys (crops, training data, schedules) are
:mod:`tecogan.experiment_checks`.
"""

import math
import os

from tecogan import defaults
from tecogan.config.schema import NUM, Key, Section, validate_node
from tecogan.config.schema import fill_section as schema_fill_section
from tecogan.config.yaml_io import YAML_MAX_BYTES, YAML_MAX_DEPTH, YAML_MAX_VALUES, load_recipe, load_yaml_bounded, locate_error  # noqa: F401 - re-exported
from tecogan.data.real_schema import REAL as _REAL
from tecogan.data.train_datasets import TRAIN_DATASETS
from tecogan.experiment_checks import cross_check
from tecogan.metrics.validation import METRIC_OPTIONS
from tecogan.models import MODELS
from tecogan.models.loss_schema import CRITERIA_SECTIONS
from tecogan.models.lr_schedules import SCHEDULES
from tecogan.networks import DEFAULT_GENERATOR, GENERATORS
from tecogan.networks.discriminators import DISCRIMINATORS
from tecogan.utils.errors import UserError


def _positive(v):
    return v > 0


def _non_negative(v):
    return v >= 0


def _bounded(low, high, **key):
    """An integer Key in [low, high]: every number that sizes work is bounded (tecogan.defaults)."""
    return Key(int, check=lambda v: low <= v <= high, expect=f"an integer >= {low} and <= {high}", **key)


def _iterations(positive=False, increasing=False):
    """A list of iteration numbers (schedules), each in 0..MAX_ITER (> 0 when ``positive``; each
    after the one before when ``increasing``)."""
    low = 1 if positive else 0
    return Key(
        list,
        check=lambda v: (
            len(v) <= defaults.MAX_LIST
            and all(isinstance(x, int) and not isinstance(x, bool) and low <= x <= defaults.MAX_ITER for x in v)
            and (not increasing or all(a < b for a, b in zip(v, v[1:], strict=False)))
        ),
        expect=f"a list of {'increasing ' if increasing else ''}iteration numbers ({low}..{defaults.MAX_ITER})",
    )


def _weights():
    """A list of non-negative finite numbers (factors of a learning rate)."""
    return Key(
        list,
        check=lambda v: (
            len(v) <= defaults.MAX_LIST
            and all(
                isinstance(x, NUM) and not isinstance(x, bool) and math.isfinite(x) and 0 <= x <= defaults.MAX_YAML_NUMBER
                for x in v
            )
        ),
        expect="a list of numbers >= 0 (factors of the learning rate)",
    )


def _plain_name(v):
    """A name that becomes one folder name: never a path leading elsewhere."""
    return v not in ("", ".", "..") and not any(c in v for c in "/\\\0") and len(v) <= 255


_LR_SCHEDULE = Section(
    {
        "type": Key(str, required=True, choices=lambda: tuple(SCHEDULES)),
        "milestones": _iterations(),
        "gamma": Key(NUM, check=_positive, expect="a number > 0"),
        "periods": _iterations(positive=True),
        "eta_min": Key(NUM, default=0.0, check=_non_negative, expect="a number >= 0"),
        "restarts": _iterations(positive=True, increasing=True),
        "restart_weights": _weights(),
    }
)

_OPTIM = {
    "lr": Key(NUM, required=True, check=_positive, expect="a learning rate > 0"),
    "lr_schedule": _LR_SCHEDULE,
    "beta1": Key(NUM, default=0.9, check=lambda v: 0 <= v < 1, expect="a number in [0, 1)"),
    "beta2": Key(NUM, default=0.999, check=lambda v: 0 <= v < 1, expect="a number in [0, 1)"),
    "weight_decay": Key(NUM, default=0, check=_non_negative, expect="a number >= 0"),
}

_LOADER = {
    "num_workers": _bounded(0, defaults.MAX_WORKERS, default=0),
    "pin_memory": Key(bool, default=False),
}

_NAME_EXPECT = "a plain folder name (no /, \\, . or ..)"

_TEST_DATASET = Section(
    dict(
        {
            "name": Key(str, required=True, nullable=False, check=_plain_name, expect=_NAME_EXPECT),
            "gt_seq_dir": Key(str),
            "lr_seq_dir": Key(str, required=True, nullable=False),
            "filter_file": Key(str),
            # a test set the user may not have (made by a script, downloaded): when its folders are
            # missing it is skipped with one line (how_to_get, else the command that makes it)
            "optional": Key(bool, default=False),
            "how_to_get": Key(str),
        },
        **_LOADER,
    )
)

SCHEMA = Section(
    {
        "scale": Key(int, required=True, nullable=False, choices=(2, 4), expect="the generator upsamples x2 or x4"),
        "manual_seed": _bounded(0, 2**32 - 1, default=0),  # the seeds NumPy takes
        "verbose": Key(bool, default=False),
        "dataset": Section(
            {
                "degradation": Section(
                    {
                        "type": Key(str, required=True, nullable=False, choices=lambda: tuple(TRAIN_DATASETS)),
                        "sigma": Key(
                            NUM,
                            default=defaults.BD_SIGMA,
                            check=lambda v: 0 < v <= defaults.MAX_BD_SIGMA,
                            expect=f"a number > 0 and <= {defaults.MAX_BD_SIGMA}",
                        ),
                        "real": _REAL,  # type Real only: codes/ops/real_degradation.py
                    },
                    required=True,
                ),
                "train": Section(
                    dict(
                        {
                            "name": Key(str, required=True, nullable=False, check=_plain_name, expect=_NAME_EXPECT),
                            "seq_dir": Key(str),
                            "gt_seq_dir": Key(str),
                            "lr_seq_dir": Key(str),
                            "filter_file": Key(str),
                            "data_type": Key(str, default="rgb", choices=("rgb",)),
                            "crop_size": _bounded(1, defaults.MAX_CROP_SIZE),
                            "gt_crop_size": _bounded(1, defaults.MAX_CROP_SIZE),
                            "batch_size": _bounded(1, defaults.MAX_BATCH_SIZE, default=4),
                            "augment": Key(bool, default=True),
                        },
                        **_LOADER,
                    )
                ),
            },
            required=True,
            patterns={"test": _TEST_DATASET},
        ),
        "model": Section(
            {
                "name": Key(str, required=True, nullable=False, choices=lambda: tuple(MODELS)),
                "generator": Section(
                    {
                        "name": Key(str, default=DEFAULT_GENERATOR, choices=lambda: tuple(GENERATORS)),
                        "in_nc": Key(int, default=3, choices=(3,)),
                        "out_nc": Key(int, default=3, choices=(3,)),
                        "nf": _bounded(1, defaults.MAX_NF, default=64),
                        "nb": _bounded(1, defaults.MAX_NB, default=10),
                        # FNet's first width (levels fnet_nf, 2x, 4x, 8x); the reference and every shipped model but
                        # frvsr-fast: 32
                        "fnet_nf": _bounded(1, defaults.MAX_NF, default=32),
                        # SRNet's channels at the output resolution (the last transposed convolution's outputs);
                        # empty: nf, as the reference
                        "hr_nf": _bounded(1, defaults.MAX_NF),
                        "load_path": Key(str),
                    },
                    required=True,
                ),
                "discriminator": Section(
                    {
                        "name": Key(str, default="STNet", choices=lambda: tuple(DISCRIMINATORS)),
                        "in_nc": Key(int, default=3, choices=(3,)),
                        "tempo_range": Key(int, default=3, choices=(3,)),
                        "use_cond": Key(bool, default=True),
                        "load_path": Key(str),
                    }
                ),
            },
            required=True,
        ),
        "train": Section(
            {
                "tempo_extent": _bounded(2, defaults.MAX_TEMPO_EXTENT, default=10),
                "start_iter": _bounded(0, defaults.MAX_ITER, default=0),
                "total_iter": _bounded(1, defaults.MAX_ITER, required=True),
                "generator": Section(dict(_OPTIM), required=True),
                "discriminator": Section(
                    dict(
                        _OPTIM,
                        **{
                            "update_policy": Key(str, default="adaptive", choices=("adaptive", "always")),
                            "update_threshold": Key(NUM, default=0.4),
                            "crop_border_ratio": Key(NUM, default=0.75, check=lambda v: 0 < v <= 1, expect="a number in (0, 1]"),
                        },
                    )
                ),
                "memory_format": Key(
                    str,
                    default="channels_last",
                    choices=("channels_last", "contiguous"),
                    expect="NHWC (channels_last, about 1.8x faster on CPUs) or NCHW",
                ),
                "precision": Key(
                    str,
                    default="fp32",
                    choices=("fp32", "bf16", "fp16"),
                    expect="fp32, bf16 (autocast: faster on GPUs and on CPUs with AMX or "
                    "AVX512-BF16) or fp16 (autocast with loss scaling: GPUs)",
                ),
                "ema_decay": Key(
                    NUM,
                    check=lambda v: 0 < v < 1,
                    expect="a number in (0, 1), e.g. 0.999 (an EMA of G's weights: G_ema_iter{N}.pth); absent or ~ for none",
                ),
                "moving_first_frame": Key(bool, default=defaults.MOVING_FIRST_FRAME),
                "moving_factor": Key(
                    NUM, default=defaults.MOVING_FACTOR, check=lambda v: 0 <= v <= 1, expect="a number in [0, 1]"
                ),
                **CRITERIA_SECTIONS,  # every *_crit section (models/loss_schema.py)
            }
        ),
        "test": Section(
            create=True,
            keys={
                "test_freq": _bounded(1, defaults.MAX_ITER, default=10000),
                "start_iter": _bounded(0, defaults.MAX_ITER),
                "end_iter": _bounded(0, defaults.MAX_ITER),
                "save_res": Key(bool, default=True),
                "res_dir": Key(str),
                "save_json": Key(bool, default=False),
                "json_dir": Key(str),
                "padding_mode": Key(str, default=defaults.PADDING_MODE, choices=defaults.PADDING_MODES),
                "num_pad_front": Key(
                    int,
                    default=defaults.NUM_PAD_FRONT,
                    check=lambda v: 0 <= v <= defaults.MAX_NUM_PAD_FRONT,
                    expect=f"an integer in 0..{defaults.MAX_NUM_PAD_FRONT}",
                ),
                "precision": Key(
                    str,
                    default=defaults.TEST_PRECISION,
                    choices=defaults.PRECISIONS,
                    expect="fp32 (the reference's numbers), bf16, int8 (--backend openvino), fp16 or auto (docs/precision.md)",
                    nullable=False,
                ),
            },
        ),
        "metric": Section(METRIC_OPTIONS),
        "logger": Section(
            create=True,
            keys={
                "log_freq": _bounded(1, defaults.MAX_ITER, default=100),
                "decay": Key(NUM, default=0.99, check=lambda v: 0 <= v < 1, expect="a number in [0, 1)"),
                "ckpt_freq": _bounded(1, defaults.MAX_ITER, default=20000),
                # absent: on when the tensorboard package is importable (codes/training/tensorboard_log.py)
                "tensorboard": Key(bool, expect="true or false (TensorBoard event files under <exp>/train/tensorboard)"),
            },
        ),
    }
)


def validate_config(opt, where="config", fill_defaults=True):
    """Check a loaded YAML mapping against the schema; fills defaults in place."""
    metric = opt.get("metric") if isinstance(opt, dict) else None
    if isinstance(metric, dict):  # `LPIPS: false` drops a metric a base sets (null keeps it, with its defaults)
        for name in [k for k, v in metric.items() if v is False]:
            del metric[name]
    validate_node(opt, SCHEMA, "", where, fill_defaults)
    cross_check(opt, where, fill_defaults)
    return opt


def load_config(path):
    """Read and validate one experiment YAML file (its ``base:`` chain merged); returns a plain dict."""
    where = os.path.basename(path)
    origins = {}
    opt = load_recipe(path, origins)
    inherits = any(file != path for file, _ in origins.values())
    try:
        return validate_config(opt, where)
    except UserError as err:
        if not inherits:
            raise
        raise UserError(locate_error(str(err), where, origins)) from None


def fill_section(name, value, where="config"):
    """Validate one top-level section on its own (e.g. ``metric`` for the validation metrics
    API) and fill its defaults; returns the filled mapping."""
    return schema_fill_section(SCHEMA.keys[name], value, name, where)


def set_output_dirs(opt, exp_dir, mode):
    """Fill ``test.res_dir`` and ``test.json_dir`` where the YAML leaves them empty.

    Test mode writes ``results/<dataset>/<model>/<seq>`` (the reference's layout); validation
    during training writes under the experiment: ``<exp>/test/results`` and ``<exp>/test/metrics``.
    """
    test = opt["test"]
    if not test.get("res_dir"):
        test["res_dir"] = "results" if mode == "test" else os.path.join(exp_dir, "test", "results")
    if not test.get("json_dir"):
        test["json_dir"] = os.path.join(exp_dir, "test", "metrics")
    return opt


def test_datasets(opt):
    """(key, dataset options) for every ``dataset.test*`` entry, in key order."""
    return [(k, v) for k, v in sorted(opt["dataset"].items()) if k.startswith("test") and v]
