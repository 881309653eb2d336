"""``precision auto`` as the default of upscale.py and the API (the suite pins that default to
fp32 through $TECOGAN_PRECISION, tests/conftest.py; here it is removed or auto is asked for):
the choice is made once, at the first clip's first frames, printed as one line, and kept by a
saved and restored clip; test mode keeps fp32 unless the YAML asks."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_precision_inference import AVX2, ZEN4, clip

from tecogan.inference import auto as precision_auto
from tecogan.inference import precision
from tecogan.inference.options import InferenceOptions, OptionError
from tecogan.inference.upscaler import Upscaler, as_frames
from tecogan.networks.frnet import FRNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def flags(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    def use(sample):
        monkeypatch.setattr(precision, "cpu_flags", lambda: set(sample))
        monkeypatch.setattr(precision_auto, "cpu_flags", lambda: set(sample))
    return use


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return FRNet(nf=8, nb=1).eval()


@pytest.fixture
def no_cache(monkeypatch):
    monkeypatch.setattr(precision_auto, "_cache_path", lambda: None)


def _python(code, env_extra=None, drop=("TECOGAN_PRECISION",)):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({os.path.join(REPO, 'codes', '_clone.py')!r})\n"
                           + code], capture_output=True, text=True, env=env, timeout=300)


def test_the_default_is_auto_and_the_variable_replaces_it():
    out = _python("from tecogan.inference.options import InferenceOptions; print(InferenceOptions().precision)")
    assert out.stdout.strip() == "auto", out.stderr
    out = _python("from tecogan.inference.options import InferenceOptions; print(InferenceOptions().precision)",
                  {"TECOGAN_PRECISION": "bf16"})
    assert out.stdout.strip() == "bf16", out.stderr
    out = _python("from tecogan.inference.options import InferenceOptions; InferenceOptions()", {"TECOGAN_PRECISION": "fp8"})
    assert out.returncode != 0 and "$TECOGAN_PRECISION 'fp8': expected one of" in out.stderr
    out = subprocess.run([sys.executable, os.path.join(REPO, "codes", "upscale.py"), "--help"], capture_output=True,
                         text=True, env={k: v for k, v in os.environ.items() if k != "TECOGAN_PRECISION"}, timeout=300)
    assert "Default: auto" in " ".join(out.stdout.split())


def test_auto_without_low_precision_units_runs_fp32_and_says_so(flags, tiny, no_cache):
    flags(AVX2)
    lines = []
    up = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=lines.append)  # OpenVINO left out
    assert up.requested.precision == "auto" and up.step_fn is None  # nothing decided before the frames
    frames = clip(6)
    out = list(up.upscale_frames(frames))
    exact = list(Upscaler(tiny, precision="fp32", device="cpu", report=None).upscale_frames(frames))
    assert len(lines) == 1 and lines[0].startswith("auto: fp32") and "no native lower precision" in lines[0]
    assert up.options.precision == "fp32" and up.options.backend == "torch"
    assert all(np.array_equal(a, b) for a, b in zip(out, exact, strict=True))


def test_auto_checks_the_first_frames_once_and_runs_its_choice(flags, tiny, no_cache, monkeypatch):
    flags(ZEN4)
    seen = []

    def own_input_psnr(net, frames, device, backend, prec):
        seen.append((backend, prec, len(frames)))
        return [99.0] * len(frames) if (backend, prec) == ("torch", "bf16") else [10.0] * len(frames)
    monkeypatch.setattr(precision_auto, "own_input_psnr", own_input_psnr)
    lines = []
    up = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=lines.append)
    frames = clip(10)
    first = list(up.upscale_frames(frames))
    second = list(up.upscale_frames(frames))  # a second clip: no second check
    assert seen == [("torch", "bf16", precision_auto.OWN_INPUT_FRAMES)]
    assert len(lines) == 1 and lines[0].startswith("auto: bf16 through torch")
    assert up.options.precision == "bf16" and len(first) == len(second) == 10
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))  # each clip from a fresh state
    # the front padding reads the same frames as without the peek: equal to an explicit bf16 run
    explicit = list(Upscaler(tiny, precision="bf16", device="cpu", report=None).upscale_frames(frames))
    assert all(np.array_equal(a, b) for a, b in zip(first, explicit, strict=True))


def test_a_restored_clip_keeps_the_saved_choice(flags, tiny, no_cache, monkeypatch):
    flags(ZEN4)
    monkeypatch.setattr(precision_auto, "own_input_psnr", lambda net, f, d, b, p: [99.0] * len(f))
    up = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=None)
    frames = clip(8)
    run = up.new_clip()
    items = list(as_frames(frames))
    it = up.upscale_clip(items, clip=run)
    done = [next(it).image for _ in range(4)]
    state = run.state_dict()
    assert state["precision"] == "bf16" and state["backend"] == "torch" and state["done"] == 4
    rest = [o.image for o in it]

    def refuse(*a, **k):
        raise AssertionError("a restored clip must not decide again")
    monkeypatch.setattr(precision_auto, "resolve_auto", refuse)
    monkeypatch.setattr("tecogan.inference.upscaler.resolve_auto", refuse)
    fresh = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=None)
    again = fresh.new_clip()
    again.load_state_dict(state)
    resumed = [o.image for o in fresh.upscale_clip(items[4:], clip=again)]
    assert fresh.options.precision == "bf16"
    assert len(done) + len(resumed) == 8
    assert all(np.array_equal(a, b) for a, b in zip(rest, resumed, strict=True))


def test_half_on_the_cpu_stays_fp32_and_bad_values_are_one_line(tiny):
    up = Upscaler(tiny, device="cpu", half=True, report=None)
    assert up.options.precision == "fp32"
    with pytest.raises(OptionError, match="precision 'fp64': expected one of fp32, bf16, int8, fp16, auto"):
        InferenceOptions(precision="fp64")
    with pytest.raises(OptionError, match="backend 'onnx'"):
        InferenceOptions(backend="onnx")
