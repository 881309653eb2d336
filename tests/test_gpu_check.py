"""scripts/gpu_check.py without a GPU: it says so and exits 0; its runner, report and checks'
logic (run here on the CPU with a tiny model) work."""

import torch
from helpers import assert_one_line, load_script, run_inprocess, script_cli

from tecogan.networks.frnet import FRNet

gpu_check = load_script("scripts/gpu_check.py")


def test_without_cuda_it_says_so_and_exits_0(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    status, out, _ = run_inprocess(script_cli("scripts/gpu_check.py"), ["gpu_check.py"], capsys, monkeypatch)
    assert status == 0 and "no CUDA device on this machine" in out and "nothing to check" in out


def test_unknown_check_is_one_line(capsys, monkeypatch):
    status, _, err = run_inprocess(script_cli("scripts/gpu_check.py"), ["gpu_check.py", "--skip", "profil"], capsys, monkeypatch)
    assert_one_line(status, err, "--skip profil", "unknown check(s) profil", "torchrun")
    assert gpu_check.parse_names("torchrun,profile") == ["test-mode", "precision", "train", "upscale"]


def test_runner_reports_failures_and_goes_on(monkeypatch):
    def broken(ctx):
        raise RuntimeError("CUDA error: an illegal memory access\nmore")

    monkeypatch.setitem(gpu_check.RUNNERS, "test-mode", broken)
    monkeypatch.setitem(gpu_check.RUNNERS, "upscale", lambda ctx: (True, "fine"))
    lines = []
    results = gpu_check.run_checks(None, ["test-mode", "upscale"], report=lines.append)
    assert results["test-mode"][:2] == (False, "RuntimeError: CUDA error: an illegal memory access")
    assert results["upscale"][:2] == (True, "fine")
    assert lines[0].startswith("FAIL  test-mode") and lines[1].startswith("PASS  upscale")
    monkeypatch.setattr(gpu_check, "BUDGET_S", -1)  # spent: the rest is reported, not run
    results = gpu_check.run_checks(None, ["upscale"], report=lines.append)
    assert results["upscale"][0] is False and "budget is spent" in results["upscale"][1]


def test_checks_run_on_the_cpu_with_a_tiny_model(tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pth"
    torch.save(FRNet(nf=8, nb=1).state_dict(), ckpt)
    status, out, err = run_inprocess(
        script_cli("scripts/gpu_check.py"),
        ["gpu_check.py", "--device", "cpu", "--model", ckpt, "--skip", "torchrun,profile,train"],
        capsys,
        monkeypatch,
    )
    assert "PASS  test-mode" in out and "PASS  upscale" in out and "16x24 -> 64x96" in out, out + err
    assert "precision" in out and "fp16: not supported" in out  # no fp16 units on the CPU
    assert status in (0, 1) and "checks passed" in out
