"""One FRVSR / TecoGAN training step and the SNet discriminator against the reference.

Tolerances (tests/README.md): GOLDEN.md's base tolerance (logs ``rtol 1e-5``, parameter
deltas ``rtol 1e-3``) plus a per-quantity allowance derived from float64 runs of the same
step (``tests/tools/derive_step_tolerances.py`` -> ``tests/data/step_tolerances.npz``).
The TecoGAN step is ill-conditioned where Adam's first, sign-like update meets gradients
no larger than their float32 error; the allowance covers exactly that, the values computed
before any update (losses, discriminator outputs on the rule's weights) stay tight, and the
negative tests below show that a wrong variant of the step fails.
"""

import numpy as np
import pytest
import torch
from golden_check import assert_golden, golden_close
from golden_steps import CASES, delta_quantities, make_opt, run_step
from golden_weights import apply_rule
from helpers import REPO

from tecogan.models.discriminator_inputs import s_input
from tecogan.networks.discriminators import SNet, STNet

LOG_RTOL, LOG_ATOL = 1e-5, 1e-7
DELTA_RTOL, DELTA_ATOL = 1e-3, 1e-8  # deltas of float32 parameters: below ~1e-8 they are rounding


@pytest.fixture(scope="module")
def tolerances():
    return np.load(REPO / "tests" / "data" / "step_tolerances.npz")


def step_mismatches(golden, tolerances, case, log, deltas):
    """Fixture keys whose value is outside its tolerance (empty when the step is faithful)."""
    bad = []
    expected = {k.split("/")[-1]: k for k in golden.files if k.startswith(f"step/{case}/log/")}
    if set(expected) != set(log):
        bad.append(f"logged names {sorted(log)} != {sorted(expected)}")
    for name, key in expected.items():
        if name in log and not golden_close(log[name], golden[key], LOG_ATOL, LOG_RTOL, tolerances[key]):
            bad.append(key)
    quantities = delta_quantities(golden, case, deltas)
    for key, (ours, ref) in quantities.items():
        if not golden_close(ours, ref, DELTA_ATOL, DELTA_RTOL, tolerances[key]):
            bad.append(key)
    return bad, len(quantities)


@pytest.mark.parametrize("memory_format", ["channels_last", "contiguous"])
@pytest.mark.parametrize("case", CASES)
def test_training_step(golden, tolerances, case, memory_format):
    opt = make_opt(case)
    opt["train"]["memory_format"] = memory_format
    log, deltas, _ = run_step(golden, case, opt=opt)
    bad, checked = step_mismatches(golden, tolerances, case, log, deltas)
    assert not bad, f"{len(bad)} quantities outside tolerance, e.g. {bad[:5]}"
    n_params = len(deltas["G"]) + len(deltas.get("D", {}))
    assert checked >= 3 * n_params - 3 * 4  # every G tensor, D tensors and BatchNorm statistics


def _variant(case, edit):
    opt = make_opt(case)
    edit(opt)
    return opt


WRONG_STEPS = {
    # a swapped frame: the clip's frames 1 and 2 exchanged
    "frvsr/swapped_frame": ("frvsr", None, lambda lr, gt: (lr[:, [0, 2, 1, 3]], gt[:, [0, 2, 1, 3]])),
    # a missing term: the warping loss off
    "frvsr/no_warping_loss": ("frvsr", lambda o: o["train"].pop("warping_crit"), None),
    # a wrong sign: LSGAN instead of the logistic GAN loss
    "tecogan/lsgan": ("tecogan_default", lambda o: o["train"]["gan_crit"].update(type="LSGAN"), None),
    # the warped part of the discriminator input cropped differently
    "tecogan/crop_border": ("tecogan_default", lambda o: o["train"]["discriminator"].update(crop_border_ratio=0.5), None),
    # ping-pong weight halved
    "tecogan/pingpong_weight": ("tecogan_fm_always", lambda o: o["train"]["pingpong_crit"].update(weight=0.25), None),
    # feature matching without its layer normalisation
    "tecogan/fm_norm": (
        "tecogan_fm_always",
        lambda o: o["train"]["feature_matching_crit"].update(layer_norm=[1.0, 1.0, 1.0, 1.0]),
        None,
    ),
}


@pytest.mark.parametrize("variant", sorted(WRONG_STEPS))
def test_wrong_step_variants_fail(golden, tolerances, variant):
    case, edit, swap = WRONG_STEPS[variant]
    opt = _variant(case, edit) if edit else None
    inputs = swap(golden["bd/lr"], golden["bd/gt"]) if swap else None
    log, deltas, _ = run_step(golden, case, opt=opt, inputs=inputs)
    bad, _ = step_mismatches(golden, tolerances, case, log, deltas)
    assert bad, f"{variant}: a wrong step passed the golden comparison"


def test_snet(golden):
    net = apply_rule(SNet(in_nc=3, spatial_size=64, use_cond=True)).eval()
    exact = apply_rule(SNet(in_nc=3, spatial_size=64, use_cond=True)).double().eval()
    data, bi = torch.from_numpy(golden["snet/data"]), torch.from_numpy(golden["snet/bi_data"])
    with torch.no_grad():
        logits, feats = net(s_input(data, bi))
        logits64, feats64 = exact(s_input(data.double(), bi.double()))
    assert_golden(logits, golden["snet/logits"], logits64, atol=1e-5, rtol=1e-4, name="snet/logits")
    for i, (f, f64) in enumerate(zip(feats, feats64, strict=False)):
        assert_golden(
            f.flatten()[:64], golden[f"snet/feat{i}/head"], f64.flatten()[:64], atol=1e-5, rtol=1e-4, name=f"snet/feat{i}/head"
        )
        assert_golden(f.double().sum(), golden[f"snet/feat{i}/sum"], f64.sum(), atol=1e-3, rtol=1e-4, name=f"snet/feat{i}/sum")


def test_snet_condition_order_matters(golden):
    """Negative: the condition after the frame (instead of before) fails the comparison."""
    net = apply_rule(SNet(in_nc=3, spatial_size=64, use_cond=True)).eval()
    data, bi = torch.from_numpy(golden["snet/data"]), torch.from_numpy(golden["snet/bi_data"])
    n, t, c, h, w = data.shape
    swapped = torch.cat([data.reshape(n * t, c, h, w), bi.reshape(n * t, c, h, w)], dim=1)
    with torch.no_grad():
        logits, _ = net(swapped)
    assert not golden_close(logits, golden["snet/logits"], 1e-5, 1e-4, 0.0)


def test_discriminator_state_dict_names():
    names = set(STNet(3, 128).state_dict())
    for n in (
        "conv_in.0.weight",
        "discriminator_block.block1.0.weight",
        "discriminator_block.block4.1.running_var",
        "dense.weight",
        "dense.bias",
    ):
        assert n in names
    assert STNet(3, 128).dense.in_features == 256 * 8 * 8
