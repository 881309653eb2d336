"""``precision auto`` as the default of upscale.py and the API (the suite pins that default to
fp32 through $TECOGAN_PRECISION, tests/conftest.py; here it is removed or auto is asked for):
the choice is made once, at the first clip's first frames, printed as one line, and kept by a
saved and restored clip; test mode keeps fp32 unless the YAML asks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import AVX2, ZEN4, run_python, smooth_clip

from tecogan.inference import auto as precision_auto
from tecogan.inference.options import InferenceOptions, OptionError
from tecogan.inference.upscaler import Upscaler, as_frames

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def no_cache(monkeypatch):
    monkeypatch.setattr(precision_auto, "_cache_path", lambda: None)


def test_the_default_is_auto_and_the_variable_replaces_it():
    out = run_python(
        "from tecogan.inference.options import InferenceOptions; print(InferenceOptions().precision)", TECOGAN_PRECISION=None
    )
    assert out.stdout.strip() == "auto", out.stderr
    out = run_python(
        "from tecogan.inference.options import InferenceOptions; print(InferenceOptions().precision)", TECOGAN_PRECISION="bf16"
    )
    assert out.stdout.strip() == "bf16", out.stderr
    out = run_python("from tecogan.inference.options import InferenceOptions; InferenceOptions()", TECOGAN_PRECISION="fp8")
    assert out.returncode != 0 and "$TECOGAN_PRECISION 'fp8': expected one of" in out.stderr
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "codes", "upscale.py"), "--help"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TECOGAN_PRECISION"},
        timeout=300,
    )
    assert "Default: auto" in " ".join(out.stdout.split())


def test_auto_without_low_precision_units_runs_fp32_and_says_so(flags, tiny, no_cache):
    flags(AVX2)
    lines = []
    up = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=lines.append)  # OpenVINO left out
    assert up.requested.precision == "auto" and up.step_fn is None  # nothing decided before the frames
    frames = smooth_clip(6)
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
    frames = smooth_clip(10)
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
    frames = smooth_clip(8)
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


def test_a_restored_clip_runs_in_what_it_ran_on_an_upscaler_that_chose_another(tiny, flags, monkeypatch):
    """A batch's Upscaler decided auto on an earlier input; a partial output made in another precision
    continues in that one (one output, one precision)."""
    from tecogan.inference.upscaler import Upscaler, as_frames

    flags(ZEN4)
    monkeypatch.setattr(precision_auto, "_cache_path", lambda: None)
    monkeypatch.setattr(precision_auto, "own_input_psnr", lambda net, f, d, b, p: [99.0] * len(f))
    items = list(as_frames(smooth_clip(8)))
    exact = Upscaler(tiny, precision="fp32", device="cpu", report=None)
    run = exact.new_clip()
    it = exact.upscale_clip(items, clip=run)
    for _ in range(4):
        next(it)
    state = run.state_dict()
    assert state["requested"] == {"precision": "fp32", "backend": None}
    rest = [o.image for o in it]
    up = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=None)
    list(up.upscale_frames(smooth_clip(8)))  # an earlier input: auto chose bf16
    assert up.options.precision == "bf16"
    again = up.new_clip()
    again.load_state_dict(state)
    resumed = [o.image for o in up.upscale_clip(items[4:], clip=again)]
    assert up.options.precision == "fp32"
    assert all(np.array_equal(a, b) for a, b in zip(rest, resumed, strict=True))


def _damage(kind, data, key):
    """The cache's JSON text after damage ``kind`` to the valid ``data`` (entry ``key``)."""
    entry = dict(data[key])
    if kind == "not JSON":
        return '{"' + key + '": {"precision": "bf1'
    if kind == "a list":
        return json.dumps([entry])
    if kind == "an entry of text":
        entry = "bf16"
    elif kind == "wrong types":
        entry.update(precision=5, reason=None)
    elif kind == "an unknown precision":
        entry.update(precision="fp8")
    elif kind == "a precision nobody asked for":  # fp16 is none of this machine's choices
        entry.update(precision="fp16")
    elif kind == "another entry's key":  # a valid decision, moved
        entry.update(key="0" * 24, precision="fp32", reason="planted")
    elif kind == "another machine's":
        entry.update(machine={**entry.get("machine", {}), "cpu_units": ["amx_fp16"]}, precision="fp32", reason="planted")
    elif kind == "a reason that says another choice":  # would print "auto: int8 ..." while fp32 runs
        entry.update(precision="fp32", reason="auto: int8 through openvino: 2.4x (cached)")
    elif kind == "a huge reason":
        entry.update(reason=entry["reason"] + "x" * 100_000)
    return json.dumps({**data, key: entry})


@pytest.mark.parametrize(
    "kind",
    [
        "not JSON",
        "a list",
        "an entry of text",
        "wrong types",
        "an unknown precision",
        "a precision nobody asked for",
        "another entry's key",
        "another machine's",
        "a reason that says another choice",
        "a huge reason",
    ],
)
def test_a_damaged_auto_cache_entry_is_dropped_and_decided_again(kind, tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    checks = []

    def own_input_psnr(net, frames, device, backend, prec):
        checks.append((backend, prec))
        return [99.0] * len(frames)

    monkeypatch.setattr(precision_auto, "own_input_psnr", own_input_psnr)

    def decide():
        return precision_auto.resolve_auto(tiny, "cpu", backend="torch", frames=smooth_clip(3), flags=ZEN4, table={})

    assert decide().precision == "bf16" and checks == [("torch", "bf16")]
    path = tmp_path / "cache" / "auto_precision.json"
    data = json.loads(path.read_text())
    (key,) = data
    assert decide().reason.endswith("(cached)") and len(checks) == 1
    path.write_text(_damage(kind, data, key))
    capsys.readouterr()
    choice = decide()
    err = capsys.readouterr().err
    assert (choice.precision, choice.backend) == ("bf16", "torch") and len(checks) == 2, (choice, err)
    warnings = err.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {path}") and "deciding again" in warnings[0], err
    assert sorted(os.listdir(tmp_path / "cache")) == ["auto_precision.json"]  # written whole, renamed: no temporaries
    assert decide().reason.endswith("(cached)") and len(checks) == 2  # rewritten, valid
    assert capsys.readouterr().err == ""


def test_an_upscaler_runs_past_a_damaged_auto_cache(tiny, tmp_path, monkeypatch, capsys, flags):
    from tecogan.inference.upscaler import Upscaler

    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    flags(ZEN4)
    monkeypatch.setattr(precision_auto, "own_input_psnr", lambda net, f, d, b, p: [99.0] * len(f))
    first = list(Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=None).upscale_frames(smooth_clip(4)))
    path = tmp_path / "cache" / "auto_precision.json"
    path.write_text(json.dumps({k: "bf16" for k in json.loads(path.read_text())}))
    up = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=None)
    again = list(up.upscale_frames(smooth_clip(4)))
    assert up.options.precision == "bf16" and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert "deciding again" in capsys.readouterr().err
