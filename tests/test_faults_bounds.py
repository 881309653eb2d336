"""Faults class 2: nothing hangs or grows without bound.

YAML alias bombs, recursive aliases and deep nesting are refused before any value is built or
formatted; messages cut long values; pickled LMDB metadata is walked in bounded time; numbers
from the command line are checked before any library sees them.  Every case runs under a
deadline (SIGALRM) so that a regression fails instead of hanging the suite.
"""
import os
import pickle
import time

import numpy as np
import pytest
import yaml
from helpers import assert_one_line, deadline, run_inprocess, script_cli, tree_hash

from tecogan import main as main_cmd
from tecogan import upscale
from tecogan.data.lmdb_io import read_meta_info
from tecogan.experiment import load_config
from tecogan.utils.errors import UserError, short


def billion_laughs(levels=9, width=9, key="scale"):
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + f"\n{key}: *a{levels - 1}\n"


def test_short_is_bounded_whatever_the_value():
    x = []
    for _ in range(200):
        x = [x, x]  # 2^200 leaves if walked naively
    with deadline(5):
        assert len(short(x)) <= 80 and len(short("y" * 10 ** 7)) <= 80
    loop = []
    loop.append(loop)
    assert short(loop).startswith("[[")


# ----------------------------------------------------------------------- YAML ---
@pytest.mark.parametrize("text, needle", [
    (billion_laughs(), "aliases expand to more than"),
    (billion_laughs(key="model"), "aliases expand to more than"),
    ("a0: &a {x: 1, y: 2}\n" + "".join(f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 9)}]}}\n"
                                      for i in range(1, 9)) + "scale: *a8\n", "aliases expand to more than"),
    ("scale: &r [*r]\n", "refers to its own anchor"),
    ("scale: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than"),
    ("scale: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nested more than"),
])
def test_yaml_bombs_and_nesting_are_one_line(tmp_path, capsys, monkeypatch, text, needle):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "test.yml").write_text(text)
    before = tree_hash(tmp_path)
    with deadline(20):
        status, _, err = run_inprocess(main_cmd.cli, ["main.py", "--exp_dir", exp, "--mode", "test", "--model",
                                                      "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"],
                                       capsys, monkeypatch)
    assert_one_line(status, err, "test.yml", needle)
    assert tree_hash(tmp_path) == before


def test_long_values_are_cut_in_messages(tmp_path):
    opt = {"scale": "s" * 1_000_000, "dataset": {"degradation": {"type": "BD"}},
           "model": {"name": "FRVSR", "generator": {}}}
    (tmp_path / "a.yml").write_text(yaml.safe_dump(opt))
    with pytest.raises(UserError) as err:
        load_config(str(tmp_path / "a.yml"))
    assert "scale: expected an integer" in str(err.value) and len(str(err.value)) < 200
    # a big (but allowed) aliased list as a value: the message stays short
    text = "big: &b [" + ", ".join(["1"] * 3000) + "]\nscale: [*b, *b, *b]\n"
    (tmp_path / "b.yml").write_text(text)
    with pytest.raises(UserError) as err:
        load_config(str(tmp_path / "b.yml"))
    assert len(str(err.value)) < 300


# ------------------------------------------------------------ pickled metadata ---
def nested_shared(depth):
    x = ["k_1x8x8_0000"]
    for _ in range(depth):
        x = [x, x]
    return x


def self_referencing():
    keys = ["clip_1x8x8_0000"]
    keys.append(keys)
    return keys


@pytest.mark.parametrize("meta, needle", [
    ({"name": "shared", "keys": nested_shared(60)}, "nested more than"),
    ({"name": "shared", "keys": [["k_1x8x8_0000"]] * 1000}, "appears twice or holds itself"),
    ({"name": "cycle", "keys": self_referencing()}, "appears twice or holds itself"),
    ({"name": "deep", "keys": [[[[[[[[[[["k"]]]]]]]]]]]}, "nested more than"),
])
def test_meta_info_walk_is_bounded(tmp_path, meta, needle):
    d = tmp_path / "x.lmdb"
    d.mkdir()
    with open(d / "meta_info.pkl", "wb") as f:
        pickle.dump(meta, f)
    with deadline(10), pytest.raises(UserError) as err:
        read_meta_info(str(d))
    assert needle in str(err.value) and "meta_info.pkl" in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_huge_meta_info_is_refused_before_unpickling(tmp_path):
    d = tmp_path / "y.lmdb"
    d.mkdir()
    with open(d / "meta_info.pkl", "wb") as f:
        f.truncate(300 << 20)  # sparse: costs no disk
    with deadline(10), pytest.raises(UserError, match="more than a meta-info file holds"):
        read_meta_info(str(d))


# --------------------------------------------------------- command-line numbers ---
@pytest.fixture
def frames_dir(tmp_path):
    import cv2
    os.makedirs(tmp_path / "in")
    cv2.imwrite(str(tmp_path / "in" / "0000.png"), np.zeros((12, 16, 3), np.uint8))
    return tmp_path / "in"


@pytest.mark.parametrize("option, value, needle", [
    ("--fps", "nan", "--fps nan: expected a finite number"),
    ("--fps", "inf", "--fps inf: expected a finite number"),
    ("--fps", "-25", "--fps -25.0: expected a number > 0"),
    ("--fps", "0", "--fps 0.0: expected a number > 0"),
    ("--fps", "1e9", "expected a number > 0 and <= 1000"),
    ("--tile", "-5", "--tile -5: expected an integer in 0..16384"),
    ("--tile", "99999999", "--tile 99999999: expected an integer in 0..16384"),
    ("--num_pad_front", "1000000000", "--num_pad_front"),
    ("--nf", "100000", "--nf 100000"),
    ("--fps", "abc", "argument --fps: invalid float value: 'abc'"),
])
def test_upscale_numbers_checked_first(tmp_path, frames_dir, capsys, monkeypatch, option, value, needle):
    before = tree_hash(tmp_path)
    with deadline(20):
        status, _, err = run_inprocess(upscale.cli, ["upscale.py", frames_dir, tmp_path / "out", "--model",
                                                     tmp_path / "never_read.pth", option, value], capsys, monkeypatch)
    assert_one_line(status, err, needle)
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("script, args, needle", [
    ("resize_BD.py", ["--sigma", "nan"], "--sigma nan: expected a finite number"),
    ("resize_BD.py", ["--sigma", "1e12"], "--sigma 1000000000000.0"),
    ("make_gif.py", ["--fps", "0"], "--fps 0.0"),
    ("make_gif.py", ["--width", "0"], "--width 0"),
    ("make_gif.py", ["--max_frames", "-1"], "--max_frames -1"),
    ("make_gif.py", ["--crop", "0,0,-5,10"], "--crop 0,0,-5,10"),
    ("monitor_training.py", ["--baseline", "PSNR=nan"], "finite VALUE"),
])
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


def test_profile_size_bounds(tmp_path, capsys, monkeypatch):
    exp = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments_BD", "FRVSR", "001")
    for size in ("3x100000x100000", "3x4x4"):
        t0 = time.time()
        status, _, err = run_inprocess(main_cmd.cli, ["main.py", "--exp_dir", exp, "--mode", "profile", "--model",
                                                      "FRVSR", "--opt", "test.yml", "--gpu_id", "-1", "--lr_size",
                                                      size], capsys, monkeypatch)
        assert_one_line(status, err, f"--lr_size {size}", "8..8192")
        assert time.time() - t0 < 20
