"""Faults of the precision settings and caches (issue 31, classes 7, 9 and 10).

* Settings from the environment are checked like flags: ``$TECOGAN_PRECISION`` takes any case and
  surrounding spaces, and a value that means nothing is one line naming the variable (upscale.py
  and the API), never a traceback; ``$TECOGAN_DEBUG``, ``$WORLD_SIZE``, ``$TECOGAN_CACHE_DIR``.
* Precision and resume agree with the docs: a job that ``auto`` ran in fp32 resumes with
  ``--precision fp32``, one made with ``--precision fp32`` resumes with ``auto`` (in fp32), another
  precision gets the documented line; ``--batch`` keeps outputs the same way.
* Caches are checked, not trusted: a damaged ``auto_precision.json`` entry is dropped with one
  warning and decided again; a replaced or truncated OpenVINO model is caught by the SHA-256
  recorded when it was converted, dropped with one warning and converted again.

The OpenVINO tests run in this process: this file is ordered last with test_backends.py
(tests/conftest.py).
"""
import errno
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from helpers import assert_one_line, save_tiny_generator, tree_hash, upscale_in_process
from test_precision_inference import AVX2, ZEN4, clip

from tecogan.inference import auto as precision_auto
from tecogan.inference import precision
from tecogan.jobs.job_folder import JobFolder, job_path
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED = "expected one of fp32, bf16, int8, fp16, auto"


def _python(code, **env):
    """``code`` in a fresh interpreter (the variable is read at import) with ``env`` changed (None: unset)."""
    full = dict(os.environ)
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({os.path.join(REPO, 'codes', '_clone.py')!r})\n"
                           + code], capture_output=True, text=True, env=full, timeout=300)


def _command(*args, **env):
    return _python(f"import sys; sys.argv = ['upscale.py'] + {list(map(str, args))!r}\n"
                   "from tecogan.upscale import cli; cli()", **env)


# ------------------------------------------------------------------ 7: the environment ----
@pytest.mark.parametrize("value, meant", [("FP32", "fp32"), (" fp32 ", "fp32"), ("Auto\n", "auto"), ("  ", "auto"),
                                          ("bf16", "bf16")])
def test_precision_variable_takes_case_and_spaces(value, meant):
    r = _python("from tecogan.inference.options import InferenceOptions; print(InferenceOptions().precision)",
                TECOGAN_PRECISION=value)
    assert r.returncode == 0 and r.stdout.strip() == meant, r.stderr


def test_a_bad_precision_variable_is_one_line_naming_it(tmp_path):
    src = tmp_path / "in"
    os.makedirs(src)
    cv2.imwrite(str(src / "0001.png"), np.zeros((16, 16, 3), np.uint8))
    before = tree_hash(src)
    r = _command(src, tmp_path / "out", "--device", "cpu", TECOGAN_PRECISION="fp33")
    line = assert_one_line(r.returncode, r.stderr, "$TECOGAN_PRECISION 'fp33'", EXPECTED)
    assert line.startswith("error: $TECOGAN_PRECISION")
    r = _command("--help", TECOGAN_PRECISION="fp33")
    assert r.returncode == 0 and "Traceback" not in r.stderr and "usage:" in r.stdout
    assert "TECOGAN_PRECISION" in r.stdout and "'fp33'" in " ".join(r.stdout.split())
    # an explicit --precision does not read it: the command goes on to its next check
    r = _command(tmp_path / "missing", tmp_path / "out", "--device", "cpu", "--precision", "fp32",
                 TECOGAN_PRECISION="fp33")
    assert_one_line(r.returncode, r.stderr, "missing", "not found")
    # the API: the default raises OptionError (a ValueError) naming the variable; an explicit precision runs
    r = _python("import torch, tecogan\nfrom tecogan.networks.frnet import FRNet\nnet = FRNet(nf=8, nb=1)\n"
                "print(tecogan.Upscaler(net, precision='fp32', device='cpu', report=None).options.precision)\n"
                "try:\n    tecogan.Upscaler(net, device='cpu')\nexcept ValueError as e:\n    print('refused:', e)",
                TECOGAN_PRECISION=" FP33 ")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.splitlines() == ["fp32", f"refused: $TECOGAN_PRECISION ' FP33 ': {EXPECTED} (or unset it: auto)"]
    assert tree_hash(src) == before


def test_other_variables_read_as_settings(tmp_path, monkeypatch):
    # TECOGAN_DEBUG=false is off: one line, not a traceback
    r = _command(tmp_path / "missing", tmp_path / "out", "--device", "cpu", TECOGAN_DEBUG=" False ")
    assert_one_line(r.returncode, r.stderr, "missing")
    from tecogan.utils.distributed import init_from_env
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(UserError, match=r"^\$WORLD_SIZE 'two': expected a non-negative integer"):
        init_from_env()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "-1")
    with pytest.raises(UserError, match=r"^\$RANK '-1'"):
        init_from_env()
    from tecogan.inference.backends import model_cache_dir
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TECOGAN_CACHE_DIR", " ~/cache ")
    assert model_cache_dir() == str(tmp_path / "cache")
    monkeypatch.delenv("TECOGAN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG specification: ignored
    assert model_cache_dir() == str(tmp_path / ".cache" / "tecogan" / "openvino")


# ------------------------------------------------------------------ 9: precision and resume ----
SEG = "4"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(save_tiny_generator(tmp_path_factory.mktemp("ck"))[0])


@pytest.fixture
def frames_in(tmp_path):
    rng = np.random.default_rng(7)
    src = tmp_path / "in"
    os.makedirs(src)
    for i in range(10):
        cv2.imwrite(str(src / f"f{i:03d}.png"), rng.integers(0, 256, (20, 28, 3), dtype=np.uint8))
    return src


@pytest.fixture
def cpu_like(monkeypatch):
    """The CPU's flags as a sample set, OpenVINO hidden from auto (auto on AVX2: fp32 through torch;
    ZEN4 runs bf16 natively)."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    def no_openvino(backend, device):
        if backend == "openvino":
            raise UserError("backend openvino: the openvino package is not importable")

    def use(sample):
        monkeypatch.setattr(precision, "cpu_flags", lambda: set(sample))
        monkeypatch.setattr(precision_auto, "cpu_flags", lambda: set(sample))
        monkeypatch.setattr(precision_auto, "check_backend", no_openvino)
    return use


def _run(capsys, monkeypatch, *args):
    return upscale_in_process(capsys, monkeypatch, *args)


def _partial(capsys, monkeypatch, src, out, *args):
    """A job of ``out`` with its first segment recorded (the disk fills up at the second)."""
    save = JobFolder.save_segment

    def full_disk(self, index, *a, **k):
        if index == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        save(self, index, *a, **k)
    with monkeypatch.context() as m:
        m.setattr(JobFolder, "save_segment", full_disk)
        status, _, err = _run(capsys, monkeypatch, src, out, *args)
    assert status == 2 and "upscaled frames are kept" in err, err
    assert len(JobFolder(out).records()) == 1


@pytest.mark.parametrize("first, then", [("auto", "fp32"), ("fp32", "auto")])
def test_resume_accepts_the_precision_that_ran(tmp_path, ckpt, frames_in, capsys, monkeypatch, cpu_like, first, then):
    cpu_like(AVX2)  # auto runs fp32 here
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]
    before = tree_hash(frames_in)
    status, _, err = _run(capsys, monkeypatch, frames_in, tmp_path / "whole", *base, "--precision", "fp32")
    assert status == 0, err
    out = tmp_path / "out"
    _partial(capsys, monkeypatch, frames_in, out, *base, "--precision", first)
    status, stdout, err = _run(capsys, monkeypatch, frames_in, out, *base[:-1], "--precision", then, "--resume")
    assert status == 0, err
    assert "resuming from frame 4" in stdout and "+ 4 resumed" in stdout
    if then == "auto":
        assert "precision fp32 (torch)" in stdout and "auto:" not in stdout  # no second decision
    assert not os.path.exists(job_path(out)) and tree_hash(out) == tree_hash(tmp_path / "whole")
    assert tree_hash(frames_in) == before


def test_resume_in_another_precision_gets_the_documented_line(tmp_path, ckpt, frames_in, capsys, monkeypatch, cpu_like):
    cpu_like(AVX2)
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]
    out = tmp_path / "out"
    _partial(capsys, monkeypatch, frames_in, out, *base, "--precision", "auto")
    kept = tree_hash(job_path(out))
    cpu_like(ZEN4)  # bf16 runs natively: only the job stands in the way
    status, _, err = _run(capsys, monkeypatch, frames_in, out, *base, "--precision", "bf16", "--resume")
    assert_one_line(status, err, "--precision bf16: the job ran in fp32; resume it with --precision fp32 (or auto), "
                                 "or --overwrite to start again")
    assert tree_hash(job_path(out)) == kept
    status, _, err = _run(capsys, monkeypatch, frames_in, out, *base, "--precision", "fp32", "--backend", "openvino",
                          "--resume")
    assert_one_line(status, err, "--precision fp32 --backend openvino: the job ran in fp32; resume it with "
                                 "--precision fp32 (or auto without --backend)")
    assert tree_hash(job_path(out)) == kept


def test_batch_keeps_an_output_made_in_the_precision_asked(tmp_path, ckpt, frames_in, capsys, monkeypatch, cpu_like):
    cpu_like(AVX2)
    base = ["--model", ckpt, "--device", "cpu", "--quiet"]
    before = tree_hash(frames_in)
    for first, then in (("auto", "fp32"), ("fp32", "auto")):
        out = tmp_path / f"out_{first}"
        status, stdout, err = _run(capsys, monkeypatch, "--batch", frames_in, "-o", out, *base, "--precision", first)
        assert status == 0 and "1 done" in stdout, err
        made = tree_hash(out)
        status, stdout, err = _run(capsys, monkeypatch, "--batch", frames_in, "-o", out, *base, "--precision", then)
        assert status == 0 and "0 done, 1 skipped, 0 failed" in stdout, err
        assert tree_hash(out) == made
    cpu_like(ZEN4)
    status, stdout, err = _run(capsys, monkeypatch, "--batch", frames_in, "-o", out, *base, "--precision", "bf16")
    assert status == 1 and "0 done, 0 skipped, 1 failed" in stdout and "Traceback" not in err
    failed = [line for line in err.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "was made in fp32, not as --precision bf16 asks; rerun with --precision fp32 (or auto)" \
        in failed[0], err
    assert tree_hash(out) == made and tree_hash(frames_in) == before


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return FRNet(nf=8, nb=1).eval()


def test_a_restored_clip_runs_in_what_it_ran_on_an_upscaler_that_chose_another(tiny, cpu_like, monkeypatch):
    """A batch's Upscaler decided auto on an earlier input; a partial output made in another precision
    continues in that one (one output, one precision)."""
    from tecogan.inference.upscaler import Upscaler, as_frames
    cpu_like(ZEN4)
    monkeypatch.setattr(precision_auto, "_cache_path", lambda: None)
    monkeypatch.setattr(precision_auto, "own_input_psnr", lambda net, f, d, b, p: [99.0] * len(f))
    items = list(as_frames(clip(8)))
    exact = Upscaler(tiny, precision="fp32", device="cpu", report=None)
    run = exact.new_clip()
    it = exact.upscale_clip(items, clip=run)
    for _ in range(4):
        next(it)
    state = run.state_dict()
    assert state["requested"] == {"precision": "fp32", "backend": None}
    rest = [o.image for o in it]
    up = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=None)
    list(up.upscale_frames(clip(8)))  # an earlier input: auto chose bf16
    assert up.options.precision == "bf16"
    again = up.new_clip()
    again.load_state_dict(state)
    resumed = [o.image for o in up.upscale_clip(items[4:], clip=again)]
    assert up.options.precision == "fp32"
    assert all(np.array_equal(a, b) for a, b in zip(rest, resumed, strict=True))


# ------------------------------------------------------------------ 10: caches ----


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
        entry.update(machine={**entry.get("machine", {}), "cpu_units": ["amx_fp16"]}, precision="fp32",
                     reason="planted")
    return json.dumps({**data, key: entry})


@pytest.mark.parametrize("kind", ["not JSON", "a list", "an entry of text", "wrong types", "an unknown precision",
                                  "a precision nobody asked for", "another entry's key", "another machine's"])
def test_a_damaged_auto_cache_entry_is_dropped_and_decided_again(kind, tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    checks = []

    def own_input_psnr(net, frames, device, backend, prec):
        checks.append((backend, prec))
        return [99.0] * len(frames)
    monkeypatch.setattr(precision_auto, "own_input_psnr", own_input_psnr)

    def decide():
        return precision_auto.resolve_auto(tiny, "cpu", backend="torch", frames=clip(3), flags=ZEN4, table={})
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


def test_an_upscaler_runs_past_a_damaged_auto_cache(tiny, tmp_path, monkeypatch, capsys, cpu_like):
    from tecogan.inference.upscaler import Upscaler
    monkeypatch.setenv("TECOGAN_CACHE_DIR", str(tmp_path / "cache"))
    cpu_like(ZEN4)
    monkeypatch.setattr(precision_auto, "own_input_psnr", lambda net, f, d, b, p: [99.0] * len(f))
    first = list(Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=None).upscale_frames(clip(4)))
    path = tmp_path / "cache" / "auto_precision.json"
    path.write_text(json.dumps({k: "bf16" for k in json.loads(path.read_text())}))
    up = Upscaler(tiny, precision="auto", backend="torch", device="cpu", report=None)
    again = list(up.upscale_frames(clip(4)))
    assert up.options.precision == "bf16" and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert "deciding again" in capsys.readouterr().err


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
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {first.cache_path}") \
        and "converting again" in warnings[0], warnings
    third = OpenVINOStep(net)  # converted again and recorded again: read from the cache, no warning
    assert third.from_cache and capsys.readouterr().err == ""
    assert (third(*x) - expected).abs().max().item() < 1e-4
