"""Networks: the FRVSR/TecoGAN generator, the discriminators and the VGG feature net.

``GENERATORS`` is the one table of generator classes: the config's allowed
``model.generator.name`` values, every builder (training, test mode, profiling,
``upscale.py``, the Python API) and the checkpoint reader use it.  A generator class takes
its architecture as keyword arguments (``in_nc, out_nc, nf, nb, degradation, scale``) and
provides ``arch_from_state_dict(state_dict, path)`` and ``arch()``.
"""
import torch

from tecogan.networks.frnet import FNET_NF, FRNet
from tecogan.utils.checkpoint import check_tensors, load_into, load_state_dict_file
from tecogan.utils.errors import UserError, short

GENERATORS = {"FRNet": FRNet}


def build_generator(name="FRNet", **arch):
    """A generator from the table, e.g. ``build_generator("FRNet", nf=64, nb=10, degradation="BD", scale=4)``."""
    return GENERATORS[name](**arch)


def generator_arch_from_config(opt):
    """The generator's name and keyword arguments from a validated experiment config."""
    g = opt["model"]["generator"]
    degradation = opt["dataset"]["degradation"]["type"]
    arch = {"in_nc": g["in_nc"], "out_nc": g["out_nc"], "nf": g["nf"], "nb": g["nb"],
            # Real data is made with centre-aligned resizing: a BI generator
            "degradation": "BI" if degradation == "Real" else degradation, "scale": opt["scale"]}
    if g.get("fnet_nf", FNET_NF) != FNET_NF:  # as FRNet.arch(): only a non-reference FNet width
        arch["fnet_nf"] = g["fnet_nf"]
    return g["name"], arch


def _describe(arch):
    fnet = f", fnet_nf {arch['fnet_nf']}" if arch.get("fnet_nf", FNET_NF) != FNET_NF else ""
    return f"{arch['degradation']} generator with nf {arch['nf']}, nb {arch['nb']}{fnet}, scale {arch['scale']}"


def _hint(name):
    def hint(state_dict):
        arch = GENERATORS[name].arch_from_state_dict(state_dict)
        return (f"the checkpoint is a {_describe(arch)}: set those in the YAML "
                f"(dataset.degradation.type, model.generator.nf/nb/fnet_nf, scale)")
    return hint


# fixed (not learned) buffers: the BD bicubic kernels, rebuilt by every BD generator
UPSAMPLER_BUFFERS = ("upsample_func.kernels", "srnet.upsample_func.kernels")


def check_checkpoint_fits(path, name, arch, across_degradations=False):
    """Before a configured generator is built: the architecture the checkpoint's tensors hold
    (``nf``, ``nb``, scale, BD/BI) is the one asked for, else one line.  A YAML ``nb: 200`` is
    then reported at once, not after building a network that cannot load it."""
    found = GENERATORS[name].arch_from_state_dict(load_state_dict_file(path), path)
    keys = ("in_nc", "out_nc", "nf", "nb", "scale") + (() if across_degradations else ("degradation",))
    if any(found.get(k) != arch.get(k) for k in keys) or found.get("fnet_nf", FNET_NF) != arch.get("fnet_nf", FNET_NF):
        raise UserError(f"{path}: does not fit the {_describe(arch)}: the checkpoint is a {_describe(found)}; "
                        f"set those in the YAML (dataset.degradation.type, model.generator.nf/nb/fnet_nf, scale)")


def load_generator_weights(net, path, name="FRNet", across_degradations=False):
    """Load a published-style checkpoint into a configured generator (strict), or explain
    in one line why it does not fit (which architecture the checkpoint holds).

    ``across_degradations`` (training initialisation only): a BD checkpoint may start a BI
    generator and the reverse; only the fixed BD bicubic kernels differ between the two, so
    every learned weight is still loaded strictly.  Returns the net.
    """
    state_dict = load_state_dict_file(path)
    if across_degradations:
        own = net.state_dict()
        state_dict = {k: v for k, v in state_dict.items() if k not in UPSAMPLER_BUFFERS}
        state_dict.update({k: own[k] for k in UPSAMPLER_BUFFERS if k in own})
    return load_into(net, state_dict, path, describe_expected=_describe(net.arch()), suggest=_hint(name))


def generator_from_checkpoint(checkpoint, name="FRNet", label=None, **overrides):
    """Build the generator a checkpoint implies and load it (strict).

    ``checkpoint``: a path or a state dict; ``overrides`` replace architecture values read
    from it (e.g. ``degradation="BI"``), and a combination that does not fit is one error.
    """
    if isinstance(checkpoint, dict):
        state_dict, label = checkpoint, label or "state dict"
        bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise UserError(f"{label}: {short(bad[0])} is a {type(state_dict[bad[0]]).__name__}; expected a state dict "
                            f"of tensors (net.state_dict())")
        check_tensors(state_dict, label)  # as for files: NaN/Inf (all-black output), crafted shapes
    else:
        label = label or str(checkpoint)
        state_dict = load_state_dict_file(str(checkpoint))
    arch = GENERATORS[name].arch_from_state_dict(state_dict, label)
    arch.update({k: v for k, v in overrides.items() if v is not None})
    net = build_generator(name, **arch)
    return load_into(net, state_dict, label, describe_expected=_describe(arch), suggest=_hint(name))
