"""What every generator provides: the protocol the rest of the project uses, and the table of them.

A generator is one recurrent step, ``forward(lr_curr, lr_prev, hr_prev) -> hr_curr``: the
current low-res frame, the previous one and the previous output, float32 in [0, 1],
``(n, in_nc, h, w)`` x2 and ``(n, in_nc, scale*h, scale*w)`` -> ``(n, out_nc, scale*h,
scale*w)``, not clipped.  The upscaler runs it frame after frame from zero ``lr_prev``/``hr_prev``
(whole frames or tiles, any ``h, w`` of at least 8); the OpenVINO backend and
``scripts/export_onnx.py`` trace exactly this step, so it must be traceable (tensor operations,
no data-dependent Python branches) and use all three inputs (an ONNX export drops an unused one).

A generator class subclasses :class:`Generator` and has:

* attributes ``scale`` (2 or 4), ``in_nc`` and ``degradation`` (``"BD"`` or ``"BI"``: the
  low-res input it expects; int8 calibration, ``--compare`` and the messages read it);
* ``arch()``: the keyword arguments that rebuild it, holding at least ``degradation`` and
  ``scale``;
* ``arch_from_state_dict(state_dict, label)`` (a static or class method): those keyword
  arguments read back from a checkpoint's tensors, or one :class:`UserError` line naming
  ``label`` when the tensors are not its kind;
* ``arch_from_config(section, degradation, scale)`` (a class method): those keyword arguments
  from the YAML's ``model.generator`` section (its keys ``in_nc, out_nc, nf, nb, fnet_nf, hr_nf``),
  the experiment's ``dataset.degradation.type`` and ``scale``;

and may override, for training and lower precisions:

* ``forward_sequence(lr_data)``: a clip ``(n, t, c, h, w)`` -> ``{"hr_data": (n, t, c, sh, sw)}``;
  the default runs ``forward`` frame after frame from zeros.  A generator that estimates motion
  sets ``estimates_flow = True``, returns ``lr_flow``, ``hr_flow``, ``lr_curr``, ``lr_prev`` as
  well (FRVSR's warping loss) and has ``hr_flow(lr_curr, lr_prev)`` (TecoGAN's STNet);
* ``low_precision(dtype)``: a module with the same step whose convolution trunk computes
  ``dtype`` (the OpenVINO bf16/fp16 paths call it on a copy); the default runs the whole step
  in ``dtype`` with float32 in and out;
* ``int8_float32``: node-name patterns (regular expressions) of the converted OpenVINO graph that
  int8 keeps out of the quantization (flows, pixel values); the default is none.

The table :data:`GENERATORS` maps a name (the YAML's ``model.generator.name``) to its class.
``net.state_dict()`` of a registered generator records that name in the state dict's metadata
(``state_dict._metadata[""]["generator"]``: kept by ``torch.save``/``torch.load(weights_only=
True)``, ignored by ``load_state_dict``), and loading picks the class from it; a checkpoint without
it (the published and shipped ones) is an FRNet.
"""

import abc
import copy
from collections import OrderedDict

import torch
from torch import nn

from tecogan.utils.errors import UserError, short

# name -> generator class; filled by tecogan.networks (one entry per generator)
GENERATORS = {}
# what a checkpoint without a recorded name holds (the reference's published checkpoints)
DEFAULT_GENERATOR = "FRNet"
METADATA_KEY = "generator"  # in the root entry of ``state_dict._metadata``


class Cast(nn.Module):
    """``x.to(dtype)``: the explicit casts at the ends of a lower-precision trunk."""

    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, x):
        return x.to(self.dtype)


class LowPrecisionStep(nn.Module):
    """A generator's whole step in ``dtype``, float32 in and out (the default ``low_precision``)."""

    def __init__(self, net, dtype):
        super().__init__()
        self.net, self.dtype = net.to(dtype), dtype

    def forward(self, lr_curr, lr_prev, hr_prev):
        out = self.net(lr_curr.to(self.dtype), lr_prev.to(self.dtype), hr_prev.to(self.dtype))
        return out.to(torch.float32)


def registered_name(net):
    """The name ``net``'s class has in :data:`GENERATORS` (its class name when it is not there)."""
    for name, cls in GENERATORS.items():
        if type(net) is cls:
            return name
    return type(net).__name__


def _record_name(module, state_dict, prefix, local_metadata):
    """state_dict post-hook: the generator's name beside its tensors (``_metadata[prefix]``)."""
    local_metadata[METADATA_KEY] = registered_name(module)


class Generator(nn.Module, metaclass=abc.ABCMeta):
    """The base of every generator (module docstring: what a subclass provides)."""

    estimates_flow = False  # True: forward_sequence returns flows and hr_flow() exists
    int8_float32 = ()  # node-name patterns of the converted graph that int8 keeps float32

    def __init__(self):
        super().__init__()
        hook = getattr(self, "register_state_dict_post_hook", None) or self._register_state_dict_hook  # torch < 2.2
        hook(_record_name)

    @abc.abstractmethod
    def forward(self, lr_curr, lr_prev, hr_prev):
        """One recurrent step -> hr_curr (module docstring: shapes and range)."""

    @abc.abstractmethod
    def arch(self):
        """The keyword arguments that rebuild this network (with ``degradation`` and ``scale``)."""

    @staticmethod
    @abc.abstractmethod
    def arch_from_state_dict(state_dict, path="checkpoint"):
        """The keyword arguments read from a checkpoint's tensors; one UserError line naming ``path`` if not its kind."""

    @classmethod
    @abc.abstractmethod
    def arch_from_config(cls, section, degradation, scale):
        """The keyword arguments from the YAML's ``model.generator`` section, degradation (BD/BI) and scale."""

    def forward_sequence(self, lr_data):
        """A clip (n, t, c, h, w) -> ``{"hr_data": (n, t, c, s*h, s*w)}``, ``forward`` from zeros."""
        n, t, c, h, w = lr_data.shape
        s = self.scale
        lr_prev, hr_prev = lr_data.new_zeros(n, c, h, w), lr_data.new_zeros(n, c, s * h, s * w)
        frames = []
        for i in range(t):
            hr_prev = self(lr_data[:, i], lr_prev, hr_prev)
            lr_prev = lr_data[:, i]
            frames.append(hr_prev)
        return {"hr_data": torch.stack(frames, dim=1)}

    def low_precision(self, dtype):
        """A module with this step whose trunk computes ``dtype`` (called on a copy): here the whole step."""
        return LowPrecisionStep(self, dtype)


def with_metadata(items, like):
    """A state dict of ``items`` (a mapping or pairs) carrying ``like``'s metadata (its generator's name)."""
    out = OrderedDict(items)
    meta = getattr(like, "_metadata", None)
    if meta is not None:
        out._metadata = copy.deepcopy(meta)
    return out


def recorded_name(state_dict):
    """The generator name a state dict records (None: none recorded, e.g. a published checkpoint)."""
    root = (getattr(state_dict, "_metadata", None) or {}).get("") or {}
    return root.get(METADATA_KEY) if isinstance(root, dict) else None


def generator_class(state_dict, label, name=None):
    """``(name, class)`` of the generator a state dict holds: the recorded name, else ``name`` (what
    the caller expects), else FRNet; one line when it is not in :data:`GENERATORS` or differs from ``name``."""
    found = recorded_name(state_dict)
    if found is None:
        found = name or DEFAULT_GENERATOR
    elif not isinstance(found, str):
        raise UserError(
            f"{label}: its metadata records generator {short(found)}; expected a generator's name ({', '.join(GENERATORS)})"
        )
    elif name is not None and found != name:
        raise UserError(f"{label}: holds a {found} generator, not the {name} asked for (model.generator.name); set it to {found}")
    if found not in GENERATORS:
        shown = found if found.isidentifier() and len(found) <= 80 else short(found)
        raise UserError(
            f"{label}: holds a {shown} generator, which is not in tecogan.networks.GENERATORS "
            f"({', '.join(GENERATORS)}); register its class there"
        )
    return found, GENERATORS[found]
