"""Distillation (train.distill_crit) and FRNet's FNet width (model.generator.fnet_nf): the fast model's
training pieces."""

import copy

import pytest
import torch
from golden_steps import make_opt

from tecogan.experiment import validate_config
from tecogan.models import build_model
from tecogan.models.losses import CharbonnierLoss, frame_changes
from tecogan.networks import generator_from_checkpoint
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError


def _teacher_file(tmp_path, degradation="BD"):
    torch.manual_seed(1)
    teacher = FRNet(nf=8, nb=1, degradation=degradation)
    path = tmp_path / f"teacher_{degradation}.pth"
    torch.save(teacher.state_dict(), path)
    return path, teacher.state_dict()


def _opt(teacher, weight=1.0, fnet_nf=4):
    opt = make_opt("frvsr")
    opt["model"]["generator"].update(nf=8, nb=1, fnet_nf=fnet_nf)
    opt["train"]["distill_crit"] = {"type": "CB", "weight": weight, "teacher": str(teacher)}
    return opt


def test_fnet_width_reads_back_and_loads_strictly():
    net = FRNet(nf=8, nb=2, degradation="BI", fnet_nf=4)
    arch = FRNet.arch_from_state_dict(net.state_dict())
    assert arch == {"in_nc": 3, "out_nc": 3, "nf": 8, "nb": 2, "degradation": "BI", "scale": 4, "fnet_nf": 4}
    assert arch == net.arch()
    assert net.fnet.encoder3[2].out_channels == 16 and net.fnet.decoder1[0].out_channels == 32
    assert net.fnet.flow[0].in_channels == 8 and net.fnet.flow[0].out_channels == 4
    # the parameter names are the reference's: only the shapes differ
    assert list(net.state_dict()) == list(FRNet(nf=8, nb=2, degradation="BI").state_dict())
    loaded = generator_from_checkpoint(net.state_dict())  # strict
    assert loaded.fnet_nf == 4
    # the reference width is not mentioned: published architectures read back unchanged
    assert "fnet_nf" not in FRNet(nf=8, nb=1).arch()
    assert "fnet_nf" not in FRNet.arch_from_state_dict(FRNet(nf=8, nb=1).state_dict())


def test_teacher_frozen_and_loss_is_the_hand_computation(tmp_path):
    path, teacher_state = _teacher_file(tmp_path)
    model = build_model(validate_config(_opt(path, weight=0.5), "t"), torch.device("cpu"))
    assert model.net_G.fnet_nf == 4 and model.teacher.nf == 8
    assert not model.teacher.training and not any(p.requires_grad for p in model.teacher.parameters())
    assert all(p.requires_grad for p in model.net_G.parameters())
    torch.manual_seed(0)
    lr, gt = torch.rand(1, 4, 3, 16, 16), torch.rand(1, 4, 3, 64, 64)
    # the hand computation: 0.5 * Charbonnier(student's output, teacher's output) on the same clip
    with torch.no_grad():
        want = 0.5 * CharbonnierLoss()(model.net_G.forward_sequence(lr)["hr_data"], model.teacher.forward_sequence(lr)["hr_data"])
        _, log = model.generator_losses(lr, gt, model.net_G.forward_sequence(lr))
    assert torch.allclose(log["l_distill_G"], want)
    before = copy.deepcopy(model.net_G.state_dict())
    logs = [model.optimize({"lr": lr, "gt": gt}) for _ in range(8)]
    for k, v in model.teacher.state_dict().items():  # the teacher never moves
        assert torch.equal(v, teacher_state[k]), k
    assert any(not torch.equal(v, before[k]) for k, v in model.net_G.state_dict().items())
    assert float(logs[-1]["l_distill_G"]) < float(logs[0]["l_distill_G"])
    # absent section: no teacher, no term (every other recipe)
    plain = build_model(validate_config(make_opt("frvsr"), "t"), torch.device("cpu"))
    assert plain.teacher is None and "l_distill_G" not in plain.optimize({"lr": lr, "gt": gt})


def test_distill_yaml_errors_name_the_key(tmp_path):
    path, _ = _teacher_file(tmp_path)
    opt = _opt(path)
    del opt["train"]["distill_crit"]["teacher"]
    with pytest.raises(UserError, match=r"train\.distill_crit\.teacher"):
        validate_config(opt, "t")
    opt = _opt(path)
    opt["train"]["distill_crit"]["type"] = "GAN"
    with pytest.raises(UserError, match=r"distill_crit\.type: 'GAN' is not allowed"):
        validate_config(opt, "t")
    opt = _opt(path, fnet_nf=0)
    with pytest.raises(UserError, match=r"model\.generator\.fnet_nf"):
        validate_config(opt, "t")
    opt = _opt(tmp_path / "missing.pth")
    with pytest.raises(UserError, match="missing.pth"):
        build_model(validate_config(opt, "t"), torch.device("cpu"))
    bi_path, _ = _teacher_file(tmp_path, degradation="BI")
    with pytest.raises(UserError, match="distill_crit.teacher is a BI x4 generator; the trained one is BD x4"):
        build_model(validate_config(_opt(bi_path), "t"), torch.device("cpu"))


def _flow_term(out, taught):
    return CharbonnierLoss()(out["lr_flow"], taught["lr_flow"])


def _temporal_term(out, taught):
    s, t = out["hr_data"], taught["hr_data"]
    return CharbonnierLoss()(s[:, 1:] - s[:, :-1], t[:, 1:] - t[:, :-1])


@pytest.mark.parametrize(
    "key,logged,weight,term",
    [
        # FNet's LR flow pulled toward the teacher's (Charbonnier, LR pixels)
        ("flow_weight", "l_distill_flow_G", 0.25, _flow_term),
        # consecutive outputs' differences toward the teacher's
        ("temporal_weight", "l_distill_temporal_G", 2.0, _temporal_term),
    ],
)
def test_distillation_extra_terms_are_the_hand_computation(tmp_path, key, logged, weight, term):
    """distill_crit.flow_weight and temporal_weight: each term as computed by hand, off by default,
    a negative weight refused."""
    path, _ = _teacher_file(tmp_path)
    opt = _opt(path, weight=0.5)
    opt["train"]["distill_crit"][key] = weight
    model = build_model(validate_config(opt, "t"), torch.device("cpu"))
    torch.manual_seed(0)
    lr, gt = torch.rand(1, 4, 3, 16, 16), torch.rand(1, 4, 3, 64, 64)
    with torch.no_grad():
        out, taught = model.net_G.forward_sequence(lr), model.teacher.forward_sequence(lr)
        want = weight * term(out, taught)
        total, log = model.generator_losses(lr, gt, out)
    assert torch.allclose(log[logged], want) and float(want) > 0
    assert torch.allclose(total, sum(v for v in log.values()))
    # off by default: no term
    model = build_model(validate_config(_opt(path), "t"), torch.device("cpu"))
    assert logged not in model.optimize({"lr": lr, "gt": gt})
    opt = _opt(path)
    opt["train"]["distill_crit"][key] = -0.5
    with pytest.raises(UserError, match=rf"train\.distill_crit\.{key}: expected a number >= 0, got -0.5"):
        validate_config(opt, "t")


def test_frame_changes_ignore_a_steady_error_and_count_flicker():
    torch.manual_seed(0)
    t = torch.rand(1, 4, 3, 64, 64)
    same = torch.rand(1, 1, 3, 64, 64)  # an error that stays the same in every frame costs nothing
    assert float(CharbonnierLoss()(frame_changes(t + same), frame_changes(t))) < 2e-3
    flicker = torch.rand(1, 4, 3, 64, 64)  # an error of the same size that changes every frame
    assert float(CharbonnierLoss()(frame_changes(t + flicker), frame_changes(t))) > 0.2


def test_crops_that_are_not_a_multiple_of_8_train(tmp_path):
    """FNet's flow covers (h//8*8, w//8*8); the warping loss and the flow distillation take the
    full crop (its last rows and columns reflected, as inference does), so a 240-pixel GT crop
    (60 low-res) trains instead of failing with a size mismatch at iteration 1."""
    path, _ = _teacher_file(tmp_path)
    opt = _opt(path)
    opt["train"]["distill_crit"]["flow_weight"] = 0.1
    model = build_model(validate_config(opt, "t"), torch.device("cpu"))
    torch.manual_seed(0)
    lr, gt = torch.rand(1, 3, 3, 15, 20), torch.rand(1, 3, 3, 60, 80)
    out = model.net_G.forward_sequence(lr)
    assert out["lr_flow"].shape == (2, 2, 15, 20) and out["hr_flow"].shape == (1, 2, 2, 60, 80)
    assert torch.equal(out["lr_flow"][..., :8, :16], model.net_G.fnet(lr[:, 1:].flatten(0, 1), lr[:, :-1].flatten(0, 1)))
    assert torch.equal(out["lr_flow"][..., 8, :16], out["lr_flow"][..., 6, :16])  # reflected
    log = model.optimize({"lr": lr, "gt": gt})
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log.values())
    assert {"l_warp_G", "l_distill_flow_G"} <= set(log)


def _tecogan_opt(teacher, feature_weight, feature_crit=True):
    opt = make_opt("tecogan_default")
    del opt["train"]["pingpong_crit"]  # the clip as it comes: the hand computation below runs it once
    opt["train"]["distill_crit"] = {"type": "CB", "weight": 1.0, "teacher": str(teacher), "demesh": True}
    if feature_weight is not None:
        opt["train"]["distill_crit"]["feature_weight"] = feature_weight
    if feature_crit:
        opt["train"]["feature_crit"] = {"type": "CosineSimilarity", "weight": 0.2, "backbone": "alexnet"}
    return opt


def test_teacher_in_feature_space_is_the_hand_computation(tmp_path):
    """distill_crit.feature_weight: the feature loss between the output and the teacher's (demeshed)
    output, with train.feature_crit's network and criterion; off by default; refused where the model
    has no feature loss, naming the key."""
    from tecogan.models.losses import CosineSimilarityLoss, demesh

    path, _ = _teacher_file(tmp_path)
    model = build_model(validate_config(_tecogan_opt(path, 0.5), "t"), torch.device("cpu"))
    torch.manual_seed(0)
    gt = torch.nn.functional.interpolate(torch.rand(4, 3, 9, 9), size=72, mode="bicubic", align_corners=False)
    data = model.prepare_batch({"gt": gt.clamp(0, 1).reshape(1, 4, 3, 72, 72)})
    with torch.no_grad():
        out = model.net_G.forward_sequence(data["lr"])["hr_data"]
        taught = demesh(model.teacher.forward_sequence(data["lr"])["hr_data"], data["gt"])
        flat = [x.reshape(-1, 3, 64, 64) for x in (out, taught)]
        want = 0.5 * sum(CosineSimilarityLoss()(f, g) for f, g in zip(*(model.net_F(x) for x in flat), strict=True))
    log = model.optimize(data)
    assert float(want) > 0 and torch.allclose(log["l_distill_feat_G"], want, rtol=1e-4)
    assert {"l_distill_G", "l_feat_G"} <= set(log)
    # off by default: no term
    plain = build_model(validate_config(_tecogan_opt(path, None), "t"), torch.device("cpu"))
    assert plain.distill_feature_w == 0.0 and "l_distill_feat_G" not in plain.optimize(data)
    # a model without the feature network: one line naming the key
    with pytest.raises(UserError, match=r"train\.distill_crit\.feature_weight: 0\.5, but train\.feature_crit is not set"):
        build_model(validate_config(_tecogan_opt(path, 0.5, feature_crit=False), "t"), torch.device("cpu"))
    opt = _opt(path)
    opt["train"]["distill_crit"]["feature_weight"] = 0.5
    with pytest.raises(UserError, match=r"train\.distill_crit\.feature_weight: 0\.5, but a FRVSR model has no feature loss"):
        build_model(validate_config(opt, "t"), torch.device("cpu"))
    opt["train"]["distill_crit"]["feature_weight"] = -1
    with pytest.raises(UserError, match=r"train\.distill_crit\.feature_weight: expected a number >= 0, got -1"):
        validate_config(opt, "t")
