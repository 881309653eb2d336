"""Shell entry points and LMDB meta-info: bad input is one clear stderr line, exit != 0, no traceback."""

import os
import pickle
import subprocess
import sys

import pytest
from helpers import assert_one_line, deadline, run_inprocess, script_cli, tree_hash, write_frames

from tecogan.data.lmdb_io import parse_key, read_meta_info
from tecogan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHON=sys.executable)


def run_sh(script, *args):
    return subprocess.run(
        ["bash", os.path.join(REPO, script), *args], capture_output=True, text=True, env=ENV, timeout=60, cwd=REPO
    )


def assert_fails_one_line(r, *needles):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("size", ["3x134", "3x134x", "axbxc", "3x134x320x1"])
def test_profile_malformed_size(size):
    assert_fails_one_line(run_sh("profile.sh", "BD", "TecoGAN", size), size, "CxHxW")


def test_profile_unknown_degradation():
    assert_fails_one_line(run_sh("profile.sh", "BX", "TecoGAN", "3x134x320"), "'BX'", "BD or BI")


def test_test_sh_unknown_degradation_and_model():
    assert_fails_one_line(run_sh("test.sh", "XD", "FRVSR"), "'XD'", "BD or BI")
    assert_fails_one_line(run_sh("test.sh", "BD", "FRVSR_nosuchexp", "-1"), "FRVSR_nosuchexp", "test.yml not found")
    assert_fails_one_line(run_sh("test.sh", "BD", "ESRGAN"), "'ESRGAN'", "FRVSR or TecoGAN")


# ------------------------------------------------------------------- LMDB --
def test_lmdb_missing_folder_and_meta(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_meta_info(str(tmp_path / "nope.lmdb"))
    (tmp_path / "a.lmdb").mkdir()
    with pytest.raises(UserError, match="meta_info.pkl: missing"):
        read_meta_info(str(tmp_path / "a.lmdb"))


def test_lmdb_unparsable_key(tmp_path):
    d = tmp_path / "b.lmdb"
    d.mkdir()
    with open(d / "meta_info.pkl", "wb") as f:
        pickle.dump({"name": "b", "keys": ["clip_3x8x8_0000", "garbage"]}, f)
    with pytest.raises(UserError, match="'garbage' does not parse"):
        read_meta_info(str(d))
    with pytest.raises(UserError, match="does not parse"):
        parse_key("clip_3x8_0000")
    assert parse_key("my_clip_3x8x9_0002") == ("my_clip", 3, 8, 9, 2)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_lmdb_meta_restricted_unpickler_runs_nothing(tmp_path):
    d = tmp_path / "c.lmdb"
    d.mkdir()
    marker = tmp_path / "PWNED"
    with open(d / "meta_info.pkl", "wb") as f:
        pickle.dump({"name": "c", "keys": [_Evil(str(marker))]}, f)
    with pytest.raises(UserError, match="not a plain meta-info pickle"):
        read_meta_info(str(d))
    assert not marker.exists()


@pytest.mark.parametrize(
    "script, args",
    [
        ("upscale.sh", ["in.mp4", "out.mp4", "--model", "m.pth"]),
        ("test.sh", ["BD", "FRVSR", "-1"]),
        ("profile.sh", ["BD", "FRVSR", "3x16x16", "-1"]),
    ],
)
def test_python_without_the_packages_is_one_line(tmp_path, script, args):
    """Outside the virtualenv (an interpreter lacking torch & co.): one line, not a traceback."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named torch' >&2\nexit 1\n")
    fake.chmod(0o755)
    r = subprocess.run(
        ["bash", os.path.join(REPO, script), *args],
        capture_output=True,
        text=True,
        env=dict(ENV, PYTHON=str(fake)),
        timeout=60,
        cwd=tmp_path,
    )
    assert_fails_one_line(r, "lacks the project's packages", "pip install -r requirements.txt")
    assert r.returncode == 2


def test_profile_2x_experiment():
    r = run_sh("profile.sh", "BD", "FRVSR_2x", "3x32x32", "-1")
    assert r.returncode == 0, r.stderr
    assert "x2, nf 64, nb 10" in r.stdout and "FLOPs (x10^9)" in r.stdout


@pytest.mark.parametrize(
    "script, args, needle",
    [
        ("resize_BD.py", ["--sigma", "nan"], "--sigma nan: expected a finite number"),
        ("resize_BD.py", ["--sigma", "1e12"], "--sigma 1000000000000.0"),
        ("make_gif.py", ["--fps", "0"], "--fps 0.0"),
        ("make_gif.py", ["--width", "0"], "--width 0"),
        ("make_gif.py", ["--max_frames", "-1"], "--max_frames -1"),
        ("make_gif.py", ["--crop", "0,0,-5,10"], "--crop 0,0,-5,10"),
        ("make_gif.py", ["--crop", "8,0,10,10"], "--crop 8,0,10,10: reaches outside the 16x12 frame"),  # was cut to 8x10
        ("monitor_training.py", ["--baseline", "PSNR=nan"], "finite VALUE"),
    ],
)
def test_script_numbers_checked_first(tmp_path, frames_dir, capsys, monkeypatch, script, args, needle):
    if script == "resize_BD.py":
        argv = ["--gt_dir", tmp_path, "--lr_dir", tmp_path.parent / f"{tmp_path.name}_lr"]
    elif script == "make_gif.py":
        argv = [frames_dir, tmp_path / "x.gif"]
    else:
        argv = ["--exp_dir", tmp_path]
    before = tree_hash(tmp_path)
    with deadline(20):
        status, _, err = run_inprocess(script_cli(f"scripts/{script}"), [script, *argv, *args], capsys, monkeypatch)
    assert_one_line(status, err, needle)
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize(
    "script, args, needle",
    [
        ("resize_BD.py", ["--scale", "-4"], "--scale -4: expected an integer >= 1"),  # flipped the image before
        ("resize_BD.py", ["--scale", "0"], "--scale 0: expected an integer >= 1"),  # crashed before
        ("resize_BD.py", ["--sigma", "-1"], "--sigma -1.0: expected a number > 0"),
        ("resize_BD.py", ["--sigma", "0"], "--sigma 0.0: expected a number > 0"),
        ("generate_lr_BI.py", ["--scale", "0"], "--scale 0: expected an integer >= 1"),
        ("generate_lr_BI.py", ["--scale", "-2"], "--scale -2"),
        ("bicubic_baseline.py", ["--scale", "-4"], "--scale -4"),
    ],
)
def test_meaningless_parameters_are_refused(tmp_path, capsys, monkeypatch, script, args, needle):
    write_frames(tmp_path / "src" / "s1", h=16, w=16)
    src_opt, dst_opt = ("--lr_dir", "--out_dir") if script == "bicubic_baseline.py" else ("--gt_dir", "--lr_dir")
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(
        script_cli(f"scripts/{script}"),
        [script, src_opt, tmp_path / "src", dst_opt, tmp_path / "dst", *args],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, needle)
    assert tree_hash(tmp_path) == before
