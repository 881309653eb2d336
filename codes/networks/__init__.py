"""Networks: the FRVSR/TecoGAN generator, the discriminators and the VGG feature net.

``GENERATORS`` is the one table of generator classes: the config's allowed
``model.generator.name`` values, every builder (training, test mode, profiling,
``upscale.py``, the Python API) and the checkpoint reader use it.  What a generator class
provides is :mod:`tecogan.networks.generator`'s protocol (the base class :class:`Generator`);
a new generator is one file in this folder and one entry below (docs/architecture.md,
"Where to add things").  Checkpoints record the generator's name; those without it are FRNets.
"""

import inspect

import torch

from tecogan.networks.frnet import FRNet
from tecogan.networks.frnet_shuffle import FRNetShuffle
from tecogan.networks.generator import (
    DEFAULT_GENERATOR,
    GENERATORS,
    Generator,
    generator_class,
    recorded_name,
    with_metadata,
)
from tecogan.utils.checkpoint import check_tensors, load_into, load_state_dict_file
from tecogan.utils.errors import UserError, short

__all__ = [
    "GENERATORS",
    "DEFAULT_GENERATOR",
    "Generator",
    "FRNet",
    "FRNetShuffle",
    "build_generator",
    "generator_arch_from_config",
    "check_checkpoint_fits",
    "own_settings",
    "load_generator_weights",
    "generator_from_checkpoint",
    "recorded_name",
    "with_metadata",
]

GENERATORS["FRNet"] = FRNet  # the table lives in networks/generator.py; one entry per generator
GENERATORS["FRNetShuffle"] = FRNetShuffle

# the keys every generator's arch() holds that messages state apart from its own ones
_COMMON = ("in_nc", "out_nc", "degradation", "scale")


def build_generator(name=DEFAULT_GENERATOR, **arch):
    """A generator from the table, e.g. ``build_generator("FRNet", nf=64, nb=10, degradation="BD", scale=4)``."""
    if name not in GENERATORS:
        raise UserError(f"generator {short(name)}: expected one of {', '.join(GENERATORS)} (tecogan.networks.GENERATORS)")
    return GENERATORS[name](**arch)


def generator_arch_from_config(opt):
    """The generator's name and keyword arguments from a validated experiment config."""
    g = opt["model"]["generator"]
    return g["name"], GENERATORS[g["name"]].arch_from_config(g, opt["dataset"]["degradation"]["type"], opt["scale"])


def _own_keys(*archs):
    """The architecture keys particular to the generator (nf, nb, ...), in order, over ``archs``."""
    return list(dict.fromkeys(k for arch in archs for k in arch if k not in _COMMON))


def own_settings(arch, sep=", "):
    """A generator's own architecture values as text (an FRNet: ``nf 64, nb 10``, then ``fnet_nf`` and
    ``hr_nf`` where they are not the reference's)."""
    return sep.join(f"{k} {arch[k]}" for k in _own_keys(arch))


def _describe(arch, name=DEFAULT_GENERATOR):
    kind = "" if name == DEFAULT_GENERATOR else f"{name} "
    own = "".join(f"{k} {arch[k]}, " for k in _own_keys(arch))
    return f"{arch['degradation']} {kind}generator with {own}scale {arch['scale']}"


def _yaml_keys(*archs):
    return f"dataset.degradation.type, model.generator.{'/'.join(_own_keys(*archs)) or 'name'}, scale"


def _hint(name):
    def hint(state_dict):
        arch = GENERATORS[name].arch_from_state_dict(state_dict)
        return f"the checkpoint is a {_describe(arch, name)}: set those in the YAML ({_yaml_keys(arch)})"

    return hint


def describe_generator(state_dict, label="checkpoint"):
    """What generator ``state_dict`` holds and the YAML keys that set it, for a message
    (``BD generator with nf 8, nb 1, scale 4: set those in the YAML (...)``); None when unknown."""
    try:
        name, cls = generator_class(state_dict, label)
        arch = cls.arch_from_state_dict(state_dict, label)
    except (UserError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return f"{_describe(arch, name)}: set those in the YAML ({_yaml_keys(arch)})"


# fixed (not learned) buffers: the BD bicubic kernels, rebuilt by every BD generator
UPSAMPLER_BUFFERS = ("upsample_func.kernels", "srnet.upsample_func.kernels")


def check_checkpoint_fits(path, name, arch, across_degradations=False):
    """Before a configured generator is built: the architecture the checkpoint's tensors hold
    (``nf``, ``nb``, scale, BD/BI) is the one asked for, else one line.  A YAML ``nb: 200`` is
    then reported at once, not after building a network that cannot load it."""
    state_dict = load_state_dict_file(path)
    _, cls = generator_class(state_dict, path, name)
    found = cls.arch_from_state_dict(state_dict, path)
    skip = ("degradation",) if across_degradations else ()
    if {k: v for k, v in found.items() if k not in skip} != {k: v for k, v in arch.items() if k not in skip}:
        raise UserError(
            f"{path}: does not fit the {_describe(arch, name)}: the checkpoint is a "
            f"{_describe(found, name)}; set those in the YAML ({_yaml_keys(arch, found)})"
        )


def load_generator_weights(net, path, name=DEFAULT_GENERATOR, across_degradations=False):
    """Load a published-style checkpoint into a configured generator (strict), or explain
    in one line why it does not fit (which architecture the checkpoint holds).

    ``across_degradations`` (training initialisation only): a BD checkpoint may start a BI
    generator and the reverse; only the fixed BD bicubic kernels differ between the two, so
    every learned weight is still loaded strictly.  Returns the net.
    """
    state_dict = load_state_dict_file(path)
    generator_class(state_dict, path, name)  # the name it records, if any, is the one configured
    if across_degradations:
        own = net.state_dict()
        state_dict = {k: v for k, v in state_dict.items() if k not in UPSAMPLER_BUFFERS}
        state_dict.update({k: own[k] for k in UPSAMPLER_BUFFERS if k in own})
    return load_into(net, state_dict, path, describe_expected=_describe(net.arch(), name), suggest=_hint(name))


def generator_from_checkpoint(checkpoint, name=None, label=None, **overrides):
    """Build the generator a checkpoint implies and load it (strict).

    ``checkpoint``: a path or a state dict; the generator is the one its metadata names (an
    FRNet when it names none), and ``name`` (if given) must agree.  ``overrides`` replace
    architecture values read from it (e.g. ``degradation="BI"``), and a combination that does
    not fit is one error.
    """
    if isinstance(checkpoint, dict):
        state_dict, label = checkpoint, label or "state dict"
        bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise UserError(
                f"{label}: {short(bad[0])} is a {type(state_dict[bad[0]]).__name__}; expected a state dict "
                f"of tensors (net.state_dict())"
            )
        check_tensors(state_dict, label)  # as for files: NaN/Inf (all-black output), crafted shapes
    else:
        label = label or str(checkpoint)
        state_dict = load_state_dict_file(str(checkpoint))
    name, cls = generator_class(state_dict, label, name)
    arch = cls.arch_from_state_dict(state_dict, label)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    accepted = inspect.signature(cls).parameters
    foreign = [k for k in overrides if k not in accepted]
    if foreign:
        raise UserError(f"{label}: {foreign[0]}: the {name} generator has no such setting (it takes {', '.join(accepted)})")
    read = dict(arch)
    arch.update(overrides)
    net = build_generator(name, **arch)
    given = ", ".join(f"{k} {v}" for k, v in overrides.items() if read.get(k) != v)

    def suggest(_state_dict):  # the values given here, not a YAML, made it not fit
        return f"the checkpoint is a {_describe(read, name)}: leave out {given} (read from the checkpoint)"

    return load_into(net, state_dict, label, describe_expected=_describe(arch, name), suggest=suggest if given else _hint(name))
