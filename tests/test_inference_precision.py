"""Inference precision (tecogan.inference.precision) with the torch backend: what each CPU may run, the
one-line refusals (on sample flag sets, so they hold on every machine, AVX2-only included),
bf16 within its tolerance of fp32 over a short clip, ``auto``'s choice from the table and from
the own-input check, and ``test.precision`` in test mode. OpenVINO's bf16/int8 are tested in
test_inference_backends.py (in a child process: OpenVINO and fork, see conftest.py)."""

import json
import os

import numpy as np
import pytest
import torch
from helpers import ALDER, AVX2, SAPPHIRE, ZEN4, psnr, smooth_clip

from tecogan.inference import auto as precision_auto
from tecogan.inference import precision
from tecogan.inference.auto import Choice, resolve_auto, within_gate
from tecogan.inference.options import InferenceOptions
from tecogan.inference.precision import check_precision
from tecogan.inference.steppers import RecurrentUpscaler, infer_sequence, make_stepper
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError

CPU = torch.device("cpu")
# documented tolerance (docs/precision.md): torch bf16 on a short clip, every frame against fp32
BF16_MIN_DB = 38.0


@pytest.mark.parametrize(
    "sample,name,needle",
    [
        (AVX2, "bf16", r"needs bf16 units \(AVX512_BF16 or AMX\), and this CPU has none: it would be emulated"),
        (ALDER, "bf16", "needs bf16 units"),
        (ZEN4, "fp16", r"needs fp16 units \(AMX-FP16\).*use bf16"),
        (AVX2, "int8", "add backend openvino"),  # from Python: the API's argument
    ],
)
def test_unsupported_precisions_are_one_line(flags, sample, name, needle):
    with pytest.raises(UserError, match=needle) as err:
        check_precision(name, CPU, "torch", flags=flags(sample))
    assert "\n" not in str(err.value) and str(err.value).startswith(f"precision {name}")


def test_onednn_cap_and_unknown_values(flags, monkeypatch):
    flags(ZEN4)
    check_precision("bf16", CPU, "torch")  # native on Zen 4
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # how tests emulate an AVX2 machine
    with pytest.raises(UserError, match="ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN below them"):
        check_precision("bf16", CPU, "torch")
    with pytest.raises(UserError, match="precision 'fp8': expected one of fp32, bf16, int8, fp16, auto"):
        check_precision("fp8", CPU)
    check_precision("auto", CPU)
    check_precision("fp32", CPU)


def test_gpu_rules(monkeypatch):
    gpu = torch.device("cuda:0")
    with pytest.raises(UserError, match="int8 runs on the CPU through OpenVINO"):
        check_precision("int8", gpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(UserError, match="no bf16 units.*use fp16"):
        check_precision("bf16", gpu)
    check_precision("fp16", gpu)


def test_int8_without_nncf_or_below_avx2(flags, monkeypatch):
    import sys

    with pytest.raises(UserError, match="needs AVX2 or newer vector units"):  # AVX2 and up: test_inference_cpu_classes
        check_precision("int8", CPU, "openvino", flags=flags(AVX2 - {"avx2"}))
    monkeypatch.setitem(sys.modules, "nncf", None)
    with pytest.raises(UserError, match="pip install nncf"):
        check_precision("int8", CPU, "openvino", flags=flags(ZEN4))


@pytest.mark.parametrize(
    "sample,torch_only",
    [
        (AVX2, [("torch", "fp32")]),
        (ALDER, [("torch", "fp32")]),
        (ZEN4, [("torch", "fp32"), ("torch", "bf16")]),
        (SAPPHIRE, [("torch", "fp32"), ("torch", "bf16")]),
    ],
)
def test_native_precisions_per_cpu(flags, sample, torch_only):
    assert precision_auto.native_precisions(CPU, "torch", flags(sample)) == torch_only


def _table(net, rows):
    return {"models": {precision.weights_hash(net): {"name": "tiny", "rows": rows}}}


def _row(speedup, d_psnr=-0.01, drift=50.0):
    return {"speedup": speedup, "d_psnr": d_psnr, "d_lpips_rel": 0.0, "d_tof_rel": 0.001, "drift_last_db": drift}


def test_auto_from_the_table(flags, tiny):
    rows = {"torch/bf16": _row(1.8), "openvino/bf16": _row(3.9), "openvino/int8": _row(4.5, d_psnr=-0.3)}
    table = _table(tiny, rows)
    assert not within_gate(rows["openvino/int8"]) and within_gate(rows["openvino/bf16"])
    # this machine's kind, torch backend asked for: torch bf16
    choice = resolve_auto(tiny, CPU, "torch", flags=flags(ZEN4), table=table)
    assert (choice.precision, choice.backend) == ("bf16", "torch")
    assert "1.8x fp32" in choice.reason and "precision_table.json" in choice.reason
    # an AVX2-only CPU: fp32, whatever the table says
    choice = resolve_auto(tiny, CPU, "torch", flags=flags(AVX2), table=table)
    assert (choice.precision, choice.backend) == ("fp32", "torch") and "no native lower precision" in choice.reason
    # every row outside the gate: fp32
    table = _table(tiny, {"torch/bf16": _row(1.8, drift=30.0)})
    choice = resolve_auto(tiny, CPU, "torch", flags=flags(ZEN4), table=table)
    assert choice.precision == "fp32" and "within the gate" in choice.reason


def test_auto_checks_an_unknown_checkpoint_on_its_own_frames(flags, tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    flags(ZEN4)
    frames = smooth_clip(n=10)
    calls = []
    real = precision_auto.own_input_psnr

    def counted(net, fr, device, backend, prec):
        calls.append((backend, prec, len(fr)))
        return real(net, fr, device, backend, prec)

    monkeypatch.setattr(precision_auto, "own_input_psnr", counted)
    assert resolve_auto(tiny, CPU, "torch", table={}).precision == "fp32"  # no frames: no check
    monkeypatch.setattr(precision_auto, "OWN_INPUT_DB", 30.0)
    choice = resolve_auto(tiny, CPU, "torch", frames=frames, table={})
    assert (choice.precision, choice.backend) == ("bf16", "torch") and calls == [("torch", "bf16", 8)]
    assert "first 8 frames agree with fp32's" in choice.reason
    again = resolve_auto(tiny, CPU, "torch", frames=frames, table={})
    assert again.precision == "bf16" and again.reason.endswith("(cached)") and len(calls) == 1
    with open(tmp_path / "cache" / "auto_precision.json") as f:
        cache = json.load(f)
    assert len(cache) == 1
    monkeypatch.setattr(precision_auto, "OWN_INPUT_DB", 500.0)  # another gate: another key, and a refusal
    choice = resolve_auto(tiny, CPU, "torch", frames=frames, table={})
    assert choice.precision == "fp32" and "no lower precision agreed" in choice.reason and len(calls) == 2


def test_bf16_stays_within_its_tolerance_over_a_clip(tiny):
    frames = smooth_clip(n=8)
    ref = list(infer_sequence(None, frames, 2, upscaler=RecurrentUpscaler(tiny, CPU)))
    if precision_auto.supported("bf16", CPU, "torch"):
        up = RecurrentUpscaler(tiny, CPU, precision="bf16")
        got = list(infer_sequence(None, frames, 2, upscaler=up))
        values = [psnr(a, b) for a, b in zip(ref, got, strict=False)]
        assert min(values) >= BF16_MIN_DB, values
        assert values[-1] >= BF16_MIN_DB  # no drift over the clip
        tiled = make_stepper(tiny, InferenceOptions(tile=16, tile_overlap=4, precision="bf16"), CPU)
        assert len(list(infer_sequence(None, frames[:2], 0, upscaler=tiled))) == 2
    else:  # a CPU without bf16 units: one line, not an emulated run
        with pytest.raises(UserError, match="needs bf16 units"):
            RecurrentUpscaler(tiny, CPU, precision="bf16")


def test_half_is_an_alias_of_fp16_and_fp32_is_exact(tiny):
    up = RecurrentUpscaler(tiny, CPU, half=True)  # on the CPU half was always ignored
    assert up.precision == "fp32" and not up.half and up.step_fn is tiny
    with pytest.raises(ValueError, match="resolve it first"):
        RecurrentUpscaler(tiny, CPU, precision="auto")
    frames = smooth_clip(n=3)
    a = list(infer_sequence(None, frames, 1, upscaler=RecurrentUpscaler(tiny, CPU)))
    b = list(infer_sequence(None, frames, 1, upscaler=RecurrentUpscaler(tiny, CPU, precision="fp32")))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=False))


def test_low_precision_copy_keeps_flow_and_upsampler_float32(tiny):
    q = precision.low_precision_copy(tiny, torch.bfloat16)
    assert q.fnet.encoder2[0].weight.dtype == torch.bfloat16 and q.srnet.resblocks[0].conv[0].weight.dtype == torch.bfloat16
    assert q.fnet.flow[1].weight.dtype == torch.float32 and q.upsample_func.kernels.dtype == torch.float32
    assert tiny.fnet.encoder2[0].weight.dtype == torch.float32  # the original is untouched
    x = (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.rand(1, 3, 64, 64))
    with torch.inference_mode():
        out, ref = q(*x), tiny(*x)
        flow = q.fnet(x[0], x[1])
    assert out.dtype == torch.float32 and flow.dtype == torch.float32
    assert (out - ref).abs().max().item() < 0.05


def test_test_precision_in_yaml(tmp_path):
    from test_test_mode import make_sequences, run_main, write_exp

    from tecogan.experiment import validate_config

    make_sequences(tmp_path, names=("only",), t=3)
    torch.manual_seed(0)
    ckpt = tmp_path / "FRVSR_BD_iter1.pth"
    torch.save(FRNet(nf=8, nb=1).state_dict(), ckpt)
    exp = write_exp(tmp_path, ckpt, extra_test={"precision": "fp8"})
    r = run_main(exp, "test")
    assert r.returncode == 2 and "test.precision: 'fp8' is not allowed" in r.stderr.strip().splitlines()[-1]
    exp = write_exp(tmp_path, ckpt, extra_test={"precision": "auto"})
    r = run_main(exp, "test", "--backend", "torch")
    assert r.returncode == 0, r.stderr
    assert "auto: " in r.stdout  # the choice and its reason
    assert len(os.listdir(tmp_path / "results" / "Tiny" / "FRVSR_BD_iter1" / "only")) == 3
    opt = validate_config(
        {"scale": 4, "dataset": {"degradation": {"type": "BD"}}, "model": {"name": "FRVSR", "generator": {}}}, "t.yml"
    )
    assert opt["test"]["precision"] == "fp32"  # the golden numbers stay exact


def test_profile_mode_reports_the_precision(tmp_path):
    from test_test_mode import make_sequences, run_main, write_exp

    make_sequences(tmp_path, names=("only",), t=2)
    ckpt = tmp_path / "G.pth"
    torch.save(FRNet(nf=8, nb=1).state_dict(), ckpt)
    exp = write_exp(tmp_path, ckpt, extra_test={"precision": "fp32"})
    r = run_main(exp, "profile", "--lr_size", "3x16x24", "--test_speed")
    assert r.returncode == 0, r.stderr
    assert "precision: fp32 (torch)" in r.stdout and "Speed (FPS):" in r.stdout


def test_choice_is_a_plain_record():
    c = Choice("bf16", "openvino", "why")
    assert (c.precision, c.backend, c.reason) == ("bf16", "openvino", "why")
