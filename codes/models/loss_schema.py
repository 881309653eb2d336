"""The YAML sections of the training losses (``train.*_crit``), part of the experiment schema
(:mod:`tecogan.experiment`): each one's ``type`` is chosen from the criteria of its kinds in
:data:`tecogan.models.losses.CRITERIA`, with the keys of its own besides ``weight`` and
``reduction``.  A new loss is a class in losses.py, one entry there and one section here."""

from tecogan.config.schema import NUM, Key, Section
from tecogan.models.losses import criterion_names


def _non_negative(v):
    return v >= 0


def _criterion(types, extra=None):
    keys = {
        "type": Key(str, required=True, choices=types),
        "weight": Key(NUM, default=1.0, check=_non_negative, expect="a number >= 0"),
        "reduction": Key(str, default="mean", choices=("mean", "sum")),
    }
    keys.update(extra or {})
    return Section(keys)


CRITERIA_SECTIONS = {
    "pixel_crit": _criterion(lambda: criterion_names("distance")),
    "warping_crit": _criterion(lambda: criterion_names("distance")),
    "lattice_crit": _criterion(
        lambda: criterion_names("lattice"),
        # the meshes averaged over the batch and the frames before the square (losses.py)
        {"pool": Key(bool, default=False)},
    ),
    # the grid score as a loss: lattice-frequency peaks over the ground truth's (losses.py)
    "grid_crit": _criterion(
        lambda: criterion_names("peak"),
        # each clip averaged over its frames first: the mesh stays, moving texture blurs
        {
            "pool_time": Key(bool, default=False),
            # false: the neighbours' power is a constant, so only the peaks are lowered
            "ring_grad": Key(bool, default=True),
            # true: also charge power the output lacks beside the lattice frequencies
            "keep_rings": Key(bool, default=False),
        },
    ),
    # the 4x4 blocks' edges gathered on one lattice phase, beyond the ground truth's (losses.py)
    "block_crit": _criterion(lambda: criterion_names("block")),
    "feature_crit": _criterion(
        lambda: criterion_names("distance", "feature"),
        {
            "feature_layers": Key(
                list,
                check=lambda v: len(v) > 0 and all(isinstance(x, int) and 0 <= x < 37 for x in v),
                expect="a list of feature layer indices (VGG19: 0..36, AlexNet: 0..12; "
                "default VGG19 [8, 17, 26, 35], AlexNet [1, 4, 7, 9, 11])",
            ),
            "vgg_weights": Key(str),
            "backbone": Key(
                str,
                default="vgg19",
                choices=("vgg19", "alexnet"),
                expect="the ImageNet network of the feature loss (alexnet ships with the repository)",
            ),
            "weights": Key(str),
            # cut output and ground truth at a moving offset first (models/losses.py)
            "phase_jitter": Key(bool, default=False),
        },
    ),
    "pingpong_crit": _criterion(lambda: criterion_names("distance")),
    "feature_matching_crit": _criterion(
        lambda: criterion_names("distance"),
        {
            "layer_norm": Key(
                list,
                default=[12.0, 14.0, 24.0, 100.0],
                check=lambda v: len(v) == 4 and all(isinstance(x, NUM) and x > 0 for x in v),
                expect="a list of 4 positive numbers",
            ),
        },
    ),
    "gan_crit": _criterion(lambda: criterion_names("adversarial")),
    # distillation: the output pulled toward a frozen teacher generator's output on the same LR clip
    # (with flow_weight, the LR flow toward the teacher's flow: both must estimate flow; with
    # temporal_weight, the change between consecutive outputs toward the teacher's)
    "distill_crit": _criterion(
        lambda: criterion_names("distance"),
        {
            "teacher": Key(
                str,
                required=True,
                nullable=False,
                expect="the teacher generator's checkpoint, e.g. pretrained_models/FRVSR_BI_footage.pth",
            ),
            "flow_weight": Key(NUM, default=0.0, check=_non_negative, expect="a number >= 0"),
            # the output's frame-to-frame change toward the teacher's: flicker the teacher has not
            "temporal_weight": Key(NUM, default=0.0, check=_non_negative, expect="a number >= 0"),
            # true: the teacher's output with its mesh taken out (losses.demesh against the
            # ground truth's spectrum): a GAN taught its own texture without its 4x4 mesh
            "demesh": Key(bool, default=False),
            # TecoGAN only: the feature loss (train.feature_crit's network and criterion) toward the
            # teacher's output as well: its texture matched where the pixels need not line up
            "feature_weight": Key(NUM, default=0.0, check=_non_negative, expect="a number >= 0"),
        },
    ),
}
