"""One FRVSR / TecoGAN training step on the golden inputs, in any float precision.

Used by ``test_golden_training.py`` (float32, the project's precision) and by
``tools/derive_step_tolerances.py`` (float64 "exact" runs, which set the tolerances).
"""

import numpy as np
import torch
from golden_weights import apply_rule

CASES = ("frvsr", "tecogan_default", "tecogan_fm_always")


def make_opt(case):
    """The experiment options of the fixture's ``step/<case>`` (GOLDEN.md)."""
    tr = {
        "tempo_extent": 4,
        "total_iter": 1,
        "generator": {"lr": 1e-4 if case == "frvsr" else 5e-5},
        "pixel_crit": {"type": "CB", "weight": 1},
        "warping_crit": {"type": "CB", "weight": 1},
    }
    model = {"name": "FRVSR", "generator": {"in_nc": 3, "out_nc": 3, "nf": 16, "nb": 2}}
    if case != "frvsr":
        model["name"] = "TecoGAN"
        model["discriminator"] = {"name": "STNet", "in_nc": 3, "tempo_range": 3}
        tr["discriminator"] = {
            "lr": 5e-5,
            "update_threshold": 0.4,
            "crop_border_ratio": 0.75,
            "update_policy": "adaptive" if case == "tecogan_default" else "always",
        }
        tr["pingpong_crit"] = {"type": "CB", "weight": 0.5}
        tr["gan_crit"] = {"type": "GAN", "weight": 0.01}
        if case == "tecogan_fm_always":
            tr["feature_matching_crit"] = {"type": "CB", "weight": 1, "layer_norm": [12.0, 14.0, 24.0, 100.0]}
    return {
        "scale": 4,
        "model": model,
        "train": tr,
        "dataset": {
            "degradation": {"type": "BD", "sigma": 1.5},
            "train": {"name": "golden", "seq_dir": "unused.lmdb", "crop_size": 64},
        },
    }


def build_model(case, dtype=torch.float32, opt=None):
    """The model of ``case`` with the rule's weights, in ``dtype``.

    ``Module.to`` converts parameters in place, so the optimisers (still without state)
    keep stepping the same, converted tensors.
    """
    from tecogan.experiment import validate_config
    from tecogan.models import build_model as build

    torch.manual_seed(0)
    opt = validate_config(opt or make_opt(case), "golden step")
    model = build(opt, torch.device("cpu"))
    nets = {"G": model.net_G}
    if case != "frvsr":
        nets["D"] = model.net_D
    for net in nets.values():
        apply_rule(net).to(dtype)
    model.blur_kernel = model.blur_kernel.to(dtype)
    return model, nets


def run_step(golden, case, dtype=torch.float32, grad_noise=None, opt=None, inputs=None):
    """One ``optimize`` call on ``{lr: bd/lr, gt: bd/gt}`` (or on ``inputs = (lr, gt)``).

    Returns ``(log, deltas, grads)``: the logged values, ``{'G'|'D': {name: after - before}}``
    (float64 arrays of the float32-rounded parameters, as the fixture stores them) and the
    gradients each optimiser stepped with.  ``grad_noise(net_tag, name, grad) -> grad`` may
    perturb the gradients just before each optimiser step.
    """
    model, nets = build_model(case, dtype, opt)
    before = {tag: {k: v.detach().double().clone() for k, v in net.state_dict().items()} for tag, net in nets.items()}
    grads = {}
    optimizers = {"G": model.optim_G}
    if "D" in nets:
        optimizers["D"] = model.optim_D
    for tag, optimizer in optimizers.items():
        names = {id(p): n for n, p in nets[tag].named_parameters()}
        original = optimizer.step

        def step(*args, _tag=tag, _original=original, _names=names, _optimizer=optimizer, **kwargs):
            grads[_tag] = {}
            for group in _optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if grad_noise is not None:
                        p.grad = grad_noise(_tag, _names[id(p)], p.grad)
                    grads[_tag][_names[id(p)]] = p.grad.detach().double().clone()
            return _original(*args, **kwargs)

        optimizer.step = step
    lr, gt = inputs if inputs is not None else (golden["bd/lr"], golden["bd/gt"])
    data = {
        "lr": torch.from_numpy(np.ascontiguousarray(lr)).to(dtype),
        "gt": torch.from_numpy(np.ascontiguousarray(gt)).to(dtype),
    }
    log = model.optimize(data)
    deltas = {}
    for tag, net in nets.items():
        deltas[tag] = {}
        for name, value in net.state_dict().items():
            if not value.is_floating_point():
                continue
            # the fixture's deltas are differences of float32 parameters: round like them
            after = value.detach().to(torch.float32).double()
            first = before[tag][name].to(torch.float32).double()
            deltas[tag][name] = (after - first).flatten().numpy()
    return log, deltas, grads


def delta_quantities(golden, case, deltas):
    """``{fixture key: (ours, expected)}`` for every stored delta head, sum and abs_sum."""
    out = {}
    for tag, per_name in deltas.items():
        for name, delta in per_name.items():
            key = f"step/{case}/{tag}_delta/{name}"
            if f"{key}/head" not in golden.files:
                continue
            head = golden[f"{key}/head"]
            out[f"{key}/head"] = (delta[: len(head)], head)
            out[f"{key}/sum"] = (np.array(delta.sum()), golden[f"{key}/sum"])
            out[f"{key}/abs_sum"] = (np.array(np.abs(delta).sum()), golden[f"{key}/abs_sum"])
    return out
