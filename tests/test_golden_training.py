"""One FRVSR / TecoGAN training step and the SNet discriminator against the reference."""
import numpy as np
import pytest
import torch

from golden_weights import apply_rule
from models.frvsr_model import FRVSRModel
from models.tecogan_model import TecoGANModel
from networks.discriminators import SNet


def make_opt(case):
    tr = {"tempo_extent": 4, "generator": {"lr": 1e-4 if case == "frvsr" else 5e-5},
          "pixel_crit": {"type": "CB", "weight": 1}, "warping_crit": {"type": "CB", "weight": 1}}
    model = {"name": "FRVSR", "generator": {"in_nc": 3, "out_nc": 3, "nf": 16, "nb": 2}}
    if case != "frvsr":
        model["name"] = "TecoGAN"
        model["discriminator"] = {"name": "STNet", "in_nc": 3, "tempo_range": 3}
        tr["discriminator"] = {"lr": 5e-5, "update_threshold": 0.4, "crop_border_ratio": 0.75,
                               "update_policy": "adaptive" if case == "tecogan_default" else "always"}
        tr["pingpong_crit"] = {"type": "CB", "weight": 0.5}
        tr["gan_crit"] = {"type": "GAN", "weight": 0.01}
        if case == "tecogan_fm_always":
            tr["feature_matching_crit"] = {"type": "CB", "weight": 1, "layer_norm": [12.0, 14.0, 24.0, 100.0]}
    return {"scale": 4, "dataset": {"degradation": {"type": "BD", "sigma": 1.5}, "train": {"crop_size": 64}},
            "model": model, "train": tr}


def check_deltas(golden, prefix, net, before):
    checked = 0
    for name, value in net.state_dict().items():
        key = f"{prefix}/{name}"
        if f"{key}/head" not in golden.files:
            continue
        delta = (value - before[name]).double().flatten().numpy()
        head = golden[f"{key}/head"]
        # deltas are differences of float32 parameters: below ~1e-8 they are rounding
        np.testing.assert_allclose(delta[:len(head)], head, rtol=1e-3, atol=2e-8, err_msg=key)
        np.testing.assert_allclose(delta.sum(), golden[f"{key}/sum"], rtol=1e-3, atol=1e-8, err_msg=key)
        np.testing.assert_allclose(np.abs(delta).sum(), golden[f"{key}/abs_sum"], rtol=1e-3, atol=1e-8,
                                   err_msg=key)
        checked += 1
    return checked


@pytest.mark.parametrize("case", ["frvsr", "tecogan_default", "tecogan_fm_always"])
def test_training_step(golden, case):
    torch.manual_seed(0)
    opt = make_opt(case)
    model = (FRVSRModel if case == "frvsr" else TecoGANModel)(opt, torch.device("cpu"))
    apply_rule(model.net_G)
    before_G = {k: v.clone() for k, v in model.net_G.state_dict().items()}
    if case != "frvsr":
        apply_rule(model.net_D)
        before_D = {k: v.clone() for k, v in model.net_D.state_dict().items()}
    log = model.optimize({"lr": torch.from_numpy(golden["bd/lr"]), "gt": torch.from_numpy(golden["bd/gt"])})
    expected = {k.split("/")[-1]: golden[k] for k in golden.files if k.startswith(f"step/{case}/log/")}
    assert set(expected) == set(log)
    for name, value in expected.items():
        np.testing.assert_allclose(log[name], value, rtol=1e-5, atol=1e-7, err_msg=name)
    assert check_deltas(golden, f"step/{case}/G_delta", model.net_G, before_G) == len(before_G)
    if case != "frvsr":
        # parameters and BatchNorm running statistics
        assert check_deltas(golden, f"step/{case}/D_delta", model.net_D, before_D) >= 20


def test_snet(golden):
    net = apply_rule(SNet(in_nc=3, spatial_size=64, use_cond=True)).eval()
    with torch.no_grad():
        logits, feats = net(torch.from_numpy(golden["snet/data"]), {"bi_data": torch.from_numpy(golden["snet/bi_data"])})
    np.testing.assert_allclose(logits.numpy(), golden["snet/logits"], atol=1e-5, rtol=1e-4)
    for i, f in enumerate(feats):
        flat = f.flatten().numpy()
        np.testing.assert_allclose(flat[:64], golden[f"snet/feat{i}/head"], atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(flat.astype(np.float64).sum(), golden[f"snet/feat{i}/sum"], rtol=1e-4, atol=1e-3)


def test_discriminator_state_dict_names():
    from networks.discriminators import STNet
    names = set(STNet(3, 128).state_dict())
    for n in ("conv_in.0.weight", "discriminator_block.block1.0.weight", "discriminator_block.block4.1.running_var",
              "dense.weight", "dense.bias"):
        assert n in names
    assert STNet(3, 128).dense.in_features == 256 * 8 * 8
