"""The OpenVINO inference backend: same frames as PyTorch within float32 noise, through the
API, tiles, upscale.py, test mode and profile mode; clear errors where it cannot run."""

import os
import re
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch
from helpers import assert_one_line, psnr, save_tiny_generator, upscale_in_process
from test_test_mode import make_sequences, read_rgb, run_main, write_exp

import tecogan
from tecogan.inference.backends import OpenVINOStep, check_backend
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError

# every test here runs in a child pytest process (tests/conftest.py: OpenVINO and fork)
pytestmark = pytest.mark.openvino

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOOTAGE_MODEL = os.path.join(REPO, "pretrained_models", "FRVSR_BD_footage.pth")


def clip(n=5, h=24, w=36, seed=0):
    """A smooth moving pattern with noise: frames a flow network can follow."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = 128 + 70 * np.sin((xx + 1.5 * i) / 5.0)[..., None] * np.cos((yy - i) / 4.0)[..., None]
        out.append((base + rng.normal(0, 6, (h, w, 3))).clip(0, 255).astype(np.uint8))
    return out


def assert_within_one_grey_level(ours, reference):
    """uint8 frames equal up to rounding flips of float32 noise: at most 1 level, on few pixels."""
    ours, reference = np.stack(ours).astype(np.int16), np.stack(reference).astype(np.int16)
    assert ours.shape == reference.shape
    diff = np.abs(ours - reference)
    assert diff.max() <= 1
    assert (diff > 0).mean() < 1e-3


@pytest.mark.parametrize("scale,degradation", [(4, "BD"), (4, "BI"), (2, "BD")])
def test_step_matches_torch_within_float32_noise(scale, degradation):
    torch.manual_seed(0)
    net = FRNet(nf=16, nb=2, degradation=degradation, scale=scale).eval()
    step = OpenVINOStep(net)
    g = torch.Generator().manual_seed(1)
    for h, w in ((16, 16), (21, 35)):  # one converted model, compiled per size; odd sizes pad the flow
        lr_curr, lr_prev = torch.rand(2, 1, 3, h, w, generator=g)
        hr_prev = torch.rand(1, 3, scale * h, scale * w, generator=g)
        with torch.inference_mode():
            expected = net(lr_curr, lr_prev, hr_prev)
        got = step(lr_curr, lr_prev, hr_prev)
        assert got.shape == expected.shape and got.dtype == torch.float32
        assert (got - expected).abs().max().item() < 1e-4
    assert len(step._requests) == 2


def test_weights_are_a_snapshot_taken_at_construction():
    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1).eval()
    step = OpenVINOStep(net)
    x = (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.rand(1, 3, 64, 64))
    with torch.inference_mode():
        before = net(*x)
        net.srnet.conv_out.bias.add_(0.5)
    assert (step(*x) - before).abs().max().item() < 1e-4


def test_shipped_model_clip_through_api_and_tiles():
    net = tecogan.load_generator(FOOTAGE_MODEL)
    frames = clip(n=6, h=40, w=56)
    reference = list(tecogan.Upscaler(net).upscale_frames(frames))
    ours = list(tecogan.Upscaler(net, backend="openvino").upscale_frames(frames))
    assert_within_one_grey_level(ours, reference)
    tiled_ref = list(tecogan.Upscaler(net, tile=32, tile_overlap=8).upscale_frames(frames))
    tiled = list(tecogan.Upscaler(net, tile=32, tile_overlap=8, backend="openvino").upscale_frames(frames))
    assert_within_one_grey_level(tiled, tiled_ref)


def test_upscale_py_backend_openvino(tmp_path, capsys, monkeypatch):
    ckpt, net = save_tiny_generator(tmp_path)
    src = tmp_path / "lr"
    src.mkdir()
    frames = clip(n=4)
    for i, f in enumerate(frames):
        cv2.imwrite(str(src / f"{i:03d}.png"), f[..., ::-1])
    status, _, err = upscale_in_process(capsys, monkeypatch, src, tmp_path / "out", "--model", ckpt, "--backend", "openvino")
    assert status == 0, err
    got = [read_rgb(tmp_path / "out" / n) for n in sorted(os.listdir(tmp_path / "out"))]
    assert_within_one_grey_level(got, list(tecogan.Upscaler(net).upscale_frames(frames)))


def test_upscale_py_unknown_backend(tmp_path, capsys, monkeypatch):
    ckpt, _ = save_tiny_generator(tmp_path)
    src = tmp_path / "lr"
    src.mkdir()
    cv2.imwrite(str(src / "000.png"), clip(n=1)[0])
    status, _, err = upscale_in_process(capsys, monkeypatch, src, tmp_path / "out", "--model", ckpt, "--backend", "tensorrt")
    assert_one_line(status, err, "backend 'tensorrt'", "torch, openvino")
    assert not (tmp_path / "out").exists()


def test_openvino_on_a_gpu_device_is_refused():
    # (--device cuda on a machine without CUDA already falls back to the CPU with a warning)
    with pytest.raises(UserError, match="backend openvino runs on the CPU, but the device is cuda:0"):
        check_backend("openvino", torch.device("cuda:0"))


def test_missing_openvino_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what `import openvino` sees when it is absent
    with pytest.raises(UserError, match="pip install openvino"):
        check_backend("openvino", torch.device("cpu"))
    check_backend("torch", torch.device("cpu"))  # the default needs nothing more


def test_test_mode_and_profile_mode_backend_openvino(tmp_path):
    make_sequences(tmp_path, names=("only",), t=3)
    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1, degradation="BD")
    ckpt = tmp_path / "FRVSR_BD_iter3.pth"
    torch.save(net.state_dict(), ckpt)
    exp = write_exp(tmp_path, ckpt)
    r = run_main(exp, "test", "--backend", "openvino")
    assert r.returncode == 0, r.stderr
    out_dir = tmp_path / "results" / "Tiny" / "FRVSR_BD_iter3" / "only"
    got = [read_rgb(out_dir / n) for n in sorted(os.listdir(out_dir))]
    lr = [read_rgb(tmp_path / "LR" / "only" / f"im{i + 1}.png") for i in range(3)]
    assert_within_one_grey_level(got, list(tecogan.Upscaler(net).upscale_frames(lr)))
    r = run_main(exp, "profile", "--backend", "openvino", "--lr_size", "3x32x48", "--test_speed")
    assert r.returncode == 0, r.stderr
    assert "Speed (FPS):" in r.stdout
    r = run_main(exp, "test", "--backend", "onnx")
    assert_one_line(r.returncode, r.stderr, "backend 'onnx'")


def test_converted_model_cache(tmp_path, monkeypatch, capsys):
    """Second construction reads the converted model; other weights get another entry; a
    damaged entry is converted again (with a warning); an unwritable cache only warns."""
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1).eval()
    x = (torch.rand(1, 3, 16, 20), torch.rand(1, 3, 16, 20), torch.rand(1, 3, 64, 80))
    with torch.inference_mode():
        expected = net(*x)
    first = OpenVINOStep(net)
    assert not first.from_cache and os.path.isfile(first.cache_path)
    stem = os.path.basename(first.cache_path)[:-4]
    assert sorted(os.listdir(tmp_path / "cache")) == [stem + ".bin", stem + ".json", stem + ".xml"]  # + SHA-256 record
    second = OpenVINOStep(net)
    assert second.from_cache and second.cache_path == first.cache_path
    assert (second(*x) - expected).abs().max().item() < 1e-4
    bias = net.srnet.conv_out.bias.detach().clone()
    with torch.no_grad():
        net.srnet.conv_out.bias.add_(0.25)
    assert OpenVINOStep(net).cache_path != first.cache_path
    with torch.no_grad():
        net.srnet.conv_out.bias.copy_(bias)
    with open(first.cache_path, "w") as f:
        f.write("<not a model")
    capsys.readouterr()
    again = OpenVINOStep(net)
    assert not again.from_cache and "not the one converted" in capsys.readouterr().err
    assert (again(*x) - expected).abs().max().item() < 1e-4
    assert OpenVINOStep(net).from_cache  # rewritten
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot be made
    step = OpenVINOStep(net)
    assert "cannot cache the converted OpenVINO model" in capsys.readouterr().err
    assert (step(*x) - expected).abs().max().item() < 1e-4
    monkeypatch.setenv("TECOGAN_CACHE_DIR", "")
    assert OpenVINOStep(net).cache_path is None


# ---- lower precisions through OpenVINO (tecogan.inference.precision; the torch side: test_inference_precision.py)
# documented tolerances (docs/precision.md), every frame of a short clip against fp32 torch
OV_MIN_DB = {"bf16": 38.0, "int8": 30.0}


@pytest.mark.parametrize("name", ["bf16", "int8"])
def test_openvino_low_precision_within_tolerance_or_refused(name, tmp_path, monkeypatch):
    """bf16 and int8 through OpenVINO: within their tolerance of fp32 over a short clip, cached
    under their own keys; int8 keeps the flow head, the upsampler and the first and last
    convolutions out of the quantization. Refused in one line where the CPU lacks the units."""
    import tecogan.inference.backends as backends
    from tecogan.inference.auto import supported
    from tecogan.inference.precision import check_precision
    from tecogan.inference.steppers import RecurrentUpscaler, infer_sequence

    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(backends, "CALIBRATION_FRAMES", 2)  # a tiny network: a few calibration steps
    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1).eval()
    if not supported(name, torch.device("cpu"), "openvino"):
        with pytest.raises(UserError, match=f"precision {name}"):
            check_precision(name, torch.device("cpu"), "openvino")
        return
    frames = clip(n=6, h=24, w=32)
    ref = list(infer_sequence(None, frames, 2, upscaler=RecurrentUpscaler(net, "cpu")))
    up = RecurrentUpscaler(net, "cpu", backend="openvino", precision=name)
    assert not up.step_fn.from_cache and f"-{name}" in up.step_fn.cache_path
    got = list(infer_sequence(None, frames, 2, upscaler=up))
    values = [psnr(a, b) for a, b in zip(ref, got, strict=False)]
    assert min(values) >= OV_MIN_DB[name], values
    assert any(v < 200 for v in values)  # it does run in the lower precision
    again = OpenVINOStep(net, precision=name)  # cached under its own key, beside fp32's
    assert again.from_cache and again.cache_path == up.step_fn.cache_path
    assert OpenVINOStep(net).cache_path != again.cache_path
    if name == "int8":
        consumers = {
            target.get_node().get_friendly_name()
            for op in again._model.get_ordered_ops()
            if op.get_type_name() == "FakeQuantize"
            for out in op.outputs()
            for target in out.get_target_inputs()
        }
        convs = [c for c in consumers if "_convolution" in c]
        assert any("resblocks" in c for c in convs), consumers
        assert not any(re.search(r"fnet\.flow|upsample_func|conv_out|conv_in|encoder1\.0/", c) for c in convs), convs
        # the frames themselves stay float: no quantizer on an input, nor on the output add's inputs
        # (their calibrated ranges clipped bright pixels at 246-248 of 255)
        model = again._model
        after_inputs = [t.get_node().get_type_name() for p in model.get_parameters() for t in p.output(0).get_target_inputs()]
        last = model.get_results()[0].input_value(0).get_node()
        before_output = [last.input_value(i).get_node().get_type_name() for i in range(last.get_input_size())]
        assert "FakeQuantize" not in after_inputs + before_output, (after_inputs, before_output)


def test_auto_may_choose_openvino_when_the_backend_is_free(monkeypatch):
    from tecogan.inference import auto as precision_auto
    from tecogan.inference import precision

    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1).eval()
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"})
    monkeypatch.setattr(precision_auto, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"})
    monkeypatch.setattr(precision_auto, "supported", lambda p, d, b="torch", f=None: True)
    row = {"speedup": 3.9, "d_psnr": -0.002, "d_lpips_rel": 0.001, "d_tof_rel": 0.0, "drift_last_db": 56.0}
    table = {
        "models": {
            precision.weights_hash(net): {
                "name": "tiny",
                "rows": {"openvino/bf16": row, "torch/bf16": dict(row, speedup=1.7), "openvino/int8": dict(row, d_psnr=-0.2)},
            }
        }
    }
    choice = precision_auto.resolve_auto(net, torch.device("cpu"), None, table=table)
    assert (choice.precision, choice.backend) == ("bf16", "openvino") and "3.9x" in choice.reason
    choice = precision_auto.resolve_auto(net, torch.device("cpu"), "torch", table=table)
    assert (choice.precision, choice.backend) == ("bf16", "torch")


def test_auto_on_a_shipped_model_reads_the_table():
    from tecogan.inference import auto as precision_auto
    from tecogan.inference import precision
    from tecogan.inference.measurements import rows_for
    from tecogan.utils.device import cpu_class

    net = tecogan.load_generator("frvsr-bd")
    cpu = torch.device("cpu")
    choice = precision_auto.resolve_auto(net, cpu, None)
    _, measured = rows_for(precision_auto.load_table(), precision.weights_hash(net), cpu_class())
    keys = [f"{b}/{p}" for b, p in precision_auto.native_precisions(cpu)]
    if measured is None:  # this machine's class is not in the table: no frames to check, OpenVINO fp32
        assert (choice.backend, choice.precision) == ("openvino", "fp32") and "not measured on CPU class" in choice.reason
    else:  # the fastest pair this machine runs that passed the gate on its class
        rows = measured["rows"]
        assert (
            f"{choice.backend}/{choice.precision}"
            == max((rows[k]["speedup"], k) for k in keys if k in rows and rows[k]["within_gate"])[1]
        )


def test_full_openvino_cache_is_a_warning(tmp_path, capsys):
    from tecogan.inference import backends

    class FullDisk:
        @staticmethod
        def save_model(*_a, **_k):
            raise RuntimeError("basic_ios::clear: iostream error")

    backends._write_cached(FullDisk, object(), str(tmp_path / "cache" / "m.xml"))
    err = capsys.readouterr().err
    assert err.startswith("warning:") and "continuing without the cache" in err and "basic_ios" in err
    assert not [f for f in os.listdir(tmp_path / "cache") if not f.startswith(".")]


def _files(step):
    stem = step.cache_path[:-4]
    return [stem + ext for ext in (".xml", ".bin", ".json")]


@pytest.mark.parametrize("damage", ["swapped", "truncated"])
def test_a_replaced_or_truncated_openvino_model_is_converted_again(damage, tmp_path, monkeypatch, capsys):
    from tecogan.inference.backends import OpenVINOStep

    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net, other = FRNet(nf=8, nb=1).eval(), FRNet(nf=8, nb=1).eval()
    x = (torch.rand(1, 3, 16, 20), torch.rand(1, 3, 16, 20), torch.rand(1, 3, 64, 80))
    with torch.inference_mode():
        expected = net(*x)
    first = OpenVINOStep(net)
    assert not first.from_cache and all(os.path.isfile(f) for f in _files(first))  # the record is written too
    if damage == "swapped":  # another network's converted model (and its record) under this key
        for src, dst in zip(_files(OpenVINOStep(other)), _files(first), strict=True):
            shutil.copyfile(src, dst)
    else:
        with open(_files(first)[1], "r+b") as f:
            f.truncate(os.path.getsize(_files(first)[1]) // 2)
    capsys.readouterr()
    again = OpenVINOStep(net)
    warnings = capsys.readouterr().err.strip().splitlines()
    assert not again.from_cache and (again(*x) - expected).abs().max().item() < 1e-4
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {first.cache_path}") and "converting again" in warnings[0], (
        warnings
    )
    third = OpenVINOStep(net)  # converted again and recorded again: read from the cache, no warning
    assert third.from_cache and capsys.readouterr().err == ""
    assert (third(*x) - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize("name", ["fp32", "bf16", "int8"])
def test_a_fresh_conversion_computes_as_the_cached_one(name, tmp_path, monkeypatch):
    """A first run (converted, quantized) and every later one (read from the cache), or one with no
    cache at all, give the same frames: a resumed job equals an uninterrupted one."""
    import tecogan.inference.backends as backends
    from tecogan.inference.auto import supported
    from tecogan.inference.precision import check_precision

    if not supported(name, torch.device("cpu"), "openvino"):  # refused where the CPU lacks the units
        with pytest.raises(UserError, match=f"precision {name}"):
            check_precision(name, torch.device("cpu"), "openvino")
        return
    monkeypatch.setattr(backends, "CALIBRATION_FRAMES", 2)
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = FRNet(nf=16, nb=2, degradation="BI").eval()
    x = (torch.rand(1, 3, 24, 32), torch.rand(1, 3, 24, 32), torch.rand(1, 3, 96, 128))
    fresh = OpenVINOStep(net, precision=name)
    cached = OpenVINOStep(net, precision=name)
    monkeypatch.setenv("TECOGAN_CACHE_DIR", "")
    uncached = OpenVINOStep(net, precision=name)
    assert not fresh.from_cache and cached.from_cache and uncached.cache_path is None
    assert torch.equal(fresh(*x), cached(*x)) and torch.equal(uncached(*x), cached(*x))
