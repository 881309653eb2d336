"""Mixed-precision training (``train.precision``): bf16 and fp16 autocast steps stay close to the
float32 step, the flow stays float32, fp16's loss scale is saved and restored, and the
TecoGAN model restores its discriminator-update count on resume."""

import copy

import golden_steps
import numpy as np
import pytest
import torch

from tecogan.utils.errors import UserError


def _opt(case, precision):
    opt = golden_steps.make_opt(case)
    opt["train"]["precision"] = precision
    return opt


def _clip(seed=0, n=2, t=4, size=64):
    """A smooth random GT clip (n, t, 3, size + 8, size + 8) and its BD low-res frames."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(
        torch.rand(n * t, 3, 12, 12, generator=g), size=size + 8, mode="bicubic", align_corners=False
    ).clamp(0, 1)
    return base.view(n, t, 3, size + 8, size + 8)


def _step(case, precision, seed=0):
    model, nets = golden_steps.build_model(case, opt=_opt(case, precision))
    data = model.prepare_batch({"gt": _clip(seed)})
    log = model.optimize(data)
    grads = {
        tag: torch.cat([p.grad.flatten() for p in net.parameters()])  # kept until the next step
        for tag, net in nets.items()
    }
    return model, {k: float(v) for k, v in log.items()}, grads


def test_precision_defaults_to_fp32_and_rejects_unknown_values():
    from tecogan.experiment import validate_config

    opt = validate_config(golden_steps.make_opt("frvsr"), "t.yml")
    assert opt["train"]["precision"] == "fp32"
    bad = golden_steps.make_opt("frvsr")
    bad["train"]["precision"] = "fp8"
    with pytest.raises(UserError, match=r"t\.yml: train\.precision.*fp8.*bf16"):
        validate_config(bad, "t.yml")


def test_fp32_model_runs_without_autocast_or_loss_scaling():
    model, _ = golden_steps.build_model("frvsr", opt=_opt("frvsr", "fp32"))
    assert model.amp_dtype is None and not model.scaler.is_enabled()
    assert "grad_scaler" not in model.state_dict()


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_flow_stays_float32_under_autocast(precision, dtype):
    model, _ = golden_steps.build_model("frvsr", opt=_opt("frvsr", precision))
    lr = _clip()[:, :, :, ::4, ::4][:, :, :, :16, :16].contiguous()
    with model.autocast():
        out = model.net_G.forward_sequence(lr)
        conv_out = model.net_G.fnet.encoder1[0](torch.rand(1, 6, 8, 8))
    assert conv_out.dtype == dtype  # the convolutions do run in the low precision
    assert out["lr_flow"].dtype == torch.float32 and out["hr_flow"].dtype == torch.float32
    with torch.no_grad():
        flow32 = model.net_G.fnet(out["lr_curr"], out["lr_prev"])
    # a bf16 trunk moves the flow a little; a bf16 flow head would add ~0.4% of its value on top
    assert torch.allclose(out["lr_flow"].detach(), flow32, atol=0.05)


@pytest.mark.parametrize(
    "case, precision",
    [
        ("frvsr", "bf16"),
        ("frvsr", "fp16"),
        ("tecogan_fm_always", "bf16"),
        pytest.param("tecogan_fm_always", "fp16", marks=pytest.mark.slow),  # emulated fp16 of the whole GAN step: CI
    ],
)
def test_low_precision_step_is_close_to_float32(case, precision):
    _, log32, grads32 = _step(case, "fp32")
    model, log, grads = _step(case, precision)
    assert log.keys() == log32.keys() and all(np.isfinite(v) for v in log.values())
    # values computed before any update: the generator's losses, the discriminator's logits
    for key in ("l_pix_G", "l_warp_G", "l_pp_G"):
        if key in log32:
            assert abs(log[key] - log32[key]) <= 0.02 * abs(log32[key]) + 1e-5, (key, log[key], log32[key])
    for key in ("p_real_D", "p_fake_D"):
        if key in log32:
            assert abs(log[key] - log32[key]) <= 0.1, (key, log[key], log32[key])
    for p in model.net_G.parameters():
        assert p.dtype == torch.float32  # the master weights stay float32
    if case == "frvsr":  # FRVSR's gradient points the same way as float32's
        cosine = torch.nn.functional.cosine_similarity(grads["G"], grads32["G"], dim=0).item()
        assert cosine > 0.99, cosine
    elif precision == "bf16":
        # TecoGAN's goes through the discriminator after its first (sign-like Adam) update,
        # which float32 rounding alone changes, so it is only broadly the same
        cosine = torch.nn.functional.cosine_similarity(grads["G"], grads32["G"], dim=0).item()
        assert cosine > 0.7, cosine
    else:
        # fp16: the loss scale starts high (65,536) and a step whose scaled gradients overflow
        # is skipped while the scale backs off; either way nothing non-finite reaches a weight
        assert model.scaler.get_scale() <= 65536.0
        for net in model.networks():
            assert all(torch.isfinite(p).all() for p in net.parameters())


def test_fp16_loss_scale_is_saved_and_restored():
    model, _, _ = _step("frvsr", "fp16")
    state = model.state_dict()
    assert state["grad_scaler"]["scale"] == model.scaler.get_scale() > 0
    fresh, _ = golden_steps.build_model("frvsr", opt=_opt("frvsr", "fp16"))
    changed = copy.deepcopy(state)
    changed["grad_scaler"]["scale"] = 1024.0
    changed["grad_scaler"]["_growth_tracker"] = 7
    fresh.load_state_dict(changed)
    assert fresh.scaler.get_scale() == 1024.0
    assert fresh.scaler.state_dict()["_growth_tracker"] == 7


def test_tecogan_resume_restores_the_discriminator_update_count():
    model, _ = golden_steps.build_model("tecogan_default")
    model.n_upd_D = 17.0
    state = model.state_dict()
    fresh, _ = golden_steps.build_model("tecogan_default")
    fresh.load_state_dict(state)
    assert fresh.n_upd_D == 17.0


@pytest.mark.parametrize(
    "flags,precision,expected",
    [
        ("fpu sse avx2 avx512f amx_tile amx_bf16 amx_int8", "bf16", True),
        ("fpu sse avx2 avx512f avx512_bf16", "bf16", True),
        ("fpu sse avx2 fma", "bf16", False),  # an AVX2-only CPU (AMD EPYC Rome, say)
        ("fpu sse avx2 avx512f avx512_bf16 avx512_fp16", "fp16", False),
        ("fpu sse avx2 avx512f amx_bf16 amx_fp16", "fp16", True),
    ],
)
def test_cpu_computes_reads_the_cpu_flags(tmp_path, monkeypatch, flags, precision, expected):
    from tecogan.utils.device import cpu_computes

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n")
    assert cpu_computes(precision, str(info)) is expected
    # oneDNN limited below AMX / AVX512-BF16 (how tests emulate an AVX2 machine) cannot use them
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpu_computes(precision, str(info)) is False
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert cpu_computes(precision, str(tmp_path / "absent")) is None
