"""profiling.py (main.py --mode profile): profile sizes are bounded, and tiny ones run."""

import os
import time

import pytest
from helpers import REPO, assert_one_line, run_inprocess

from tecogan import main as main_cmd


def test_profile_size_bounds(tmp_path, capsys, monkeypatch):
    exp = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments_BD", "FRVSR", "001")
    for size in ("3x100000x100000", "3x4x4"):
        t0 = time.time()
        status, _, err = run_inprocess(
            main_cmd.cli,
            [
                "main.py",
                "--exp_dir",
                exp,
                "--mode",
                "profile",
                "--model",
                "FRVSR",
                "--opt",
                "test.yml",
                "--gpu_id",
                "-1",
                "--lr_size",
                size,
            ],
            capsys,
            monkeypatch,
        )
        assert_one_line(status, err, f"--lr_size {size}", "8..8192")
        assert time.time() - t0 < 20


@pytest.mark.parametrize("size", ["3x1x1", "3x4x4", "3x7x9"])
def test_tiny_profile_sizes(capsys, monkeypatch, size):
    exp = os.path.join(REPO, "experiments_BD", "FRVSR", "001")
    status, _, err = run_inprocess(
        main_cmd.cli,
        [
            "main.py",
            "--exp_dir",
            exp,
            "--mode",
            "profile",
            "--model",
            "FRVSR",
            "--opt",
            "test.yml",
            "--gpu_id",
            "-1",
            "--lr_size",
            size,
        ],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, f"--lr_size {size}", "at least" if False else "8..8192")


def test_profile_fast_times_configs_with_fewer_channels_at_the_output_resolution(capsys, monkeypatch):
    import sys

    from helpers import load_script

    profile_fast = load_script("scripts/profile_fast.py")
    monkeypatch.setattr(
        sys, "argv", ["profile_fast.py", "--lr_size", "64x64", "--configs", "8:1:4,8:1:4:2", "--rounds", "1", "--repeats", "1"]
    )
    profile_fast.main()
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line[:1].isdigit()]
    assert [r[0] for r in rows] == ["8:1:4:8", "8:1:4:2"]
    assert int(rows[1][1]) < int(rows[0][1])  # fewer parameters, and fewer SRNet FLOPs
    assert float(rows[1][3]) < float(rows[0][3])
    for bad in ("8:1", "24:7:x"):
        monkeypatch.setattr(sys, "argv", ["profile_fast.py", "--configs", bad])
        with pytest.raises(SystemExit, match=f"--configs '{bad}': expected nf:nb:fnet_nf or nf:nb:fnet_nf:hr_nf"):
            profile_fast.main()
