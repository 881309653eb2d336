"""Faults class 4: nothing crashes the interpreter, no traceback.

File names that are not valid UTF-8 (OpenCV's path functions segfault on them), truncated or
damaged ``data.mdb`` files (SIGBUS once memory-mapped), crafted checkpoint shapes, running
out of memory, invalid UTF-8 in a YAML or a log, tiny profile sizes, self-referencing
metadata, a full disk in create_lmdb and in training, foreign JSON for the monitor,
read-only and occupied outputs, argparse mistakes and unexpected exceptions: each ends with
one line on stderr and a non-zero status.  Cases that could kill the interpreter run in a
subprocess; the others in this process.
"""
import os
import pickle
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import yaml
from helpers import (
    assert_one_line,
    limit_file_size,
    no_temps,
    run_inprocess,
    script_cli,
    tmpfs_command,
    tree_hash,
    upscale_in_process,
    write_frames,
)

from tecogan import main as main_cmd
from tecogan import upscale
from tecogan.data.lmdb_io import write_lmdb
from tecogan.networks.frnet import FRNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = os.path.join(REPO, "codes", "upscale.py")
MAIN = os.path.join(REPO, "codes", "main.py")
CREATE_LMDB = os.path.join(REPO, "scripts", "create_lmdb.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


up = upscale_in_process


def bad_name(text):
    """``text`` with a byte that is not valid UTF-8 (as a str with a surrogate escape)."""
    return os.fsdecode(text.encode() + b"\xff")


@pytest.fixture
def non_utf8_ok(tmp_path):
    try:
        os.mkdir(tmp_path / bad_name("probe"))
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses names that are not valid UTF-8")


# --------------------------------------------------------- non-UTF-8 names ---
def test_non_utf8_frame_names_work(tmp_path, ckpt, capsys, monkeypatch, non_utf8_ok):
    src = tmp_path / bad_name("in")
    names = [bad_name(f"f{i}") + ".png" for i in range(3)]
    write_frames(src, names=names)
    before = tree_hash(src)
    status, out, err = up(capsys, monkeypatch, src, tmp_path / bad_name("out"), "--model", ckpt, "--device", "cpu")
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / bad_name("out"))) == sorted(names)
    assert tree_hash(src) == before
    gt = tmp_path / "GT" / bad_name("seq")
    write_frames(gt, n=2, h=16, w=16, names=[bad_name("a") + ".png", bad_name("b") + ".png"])
    status, _, err = run_inprocess(script_cli("scripts/resize_BD.py"),
                                   ["resize_BD.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "LR"],
                                   capsys, monkeypatch)
    assert status == 0, err
    assert cv2.imdecode(np.fromfile(tmp_path / "LR" / bad_name("seq") / (bad_name("a") + ".png"), np.uint8),
                        cv2.IMREAD_COLOR).shape == (4, 4, 3)


def test_non_utf8_video_names_work(tmp_path, ckpt, non_utf8_ok):
    """Video files whose names are not valid UTF-8 are read and written (FFmpeg through PyAV
    takes such paths; OpenCV used to segfault on them); the input is left as it was."""
    video = tmp_path / "v.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (16, 16))
    for i in range(3):
        writer.write(np.full((16, 16, 3), 60 * i, np.uint8))
    writer.release()
    named = tmp_path / (bad_name("v") + ".mp4")
    os.rename(video, named)
    before = tree_hash(named)
    write_frames(tmp_path / "frames")
    for src, out in ((named, tmp_path / "o"), (tmp_path / "frames", tmp_path / (bad_name("o") + ".mp4"))):
        r = subprocess.run([sys.executable, UPSCALE, os.fsencode(src), os.fsencode(out), "--model", ckpt,
                            "--device", "cpu"], capture_output=True, env=ENV, timeout=120)
        assert r.returncode == 0, (r.returncode, r.stderr)  # not -11 (SIGSEGV)
        assert os.path.exists(out)
    assert tree_hash(named) == before


# -------------------------------------------------------------------- LMDB ---
def make_lmdb(folder, clips=2, frames=4, h=64, w=64):
    rng = np.random.default_rng(0)
    data = [(f"v{c}", [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(frames)])
            for c in range(clips)]
    write_lmdb(str(folder), "T", data)
    return folder


@pytest.mark.parametrize("damage, needle", [
    ("truncate", "truncated"),
    ("remove", "data.mdb: missing"),
    ("zeros", "not an LMDB data file"),
])
def test_damaged_data_mdb_is_one_line_not_sigbus(tmp_path, damage, needle):
    lmdb_dir = make_lmdb(tmp_path / "x.lmdb")
    data = lmdb_dir / "data.mdb"
    if damage == "truncate":
        os.truncate(data, 3 * 4096)
    elif damage == "remove":
        data.unlink()
    else:
        data.write_bytes(bytes(data.stat().st_size))
    before = tree_hash(tmp_path)
    r = subprocess.run([sys.executable, CREATE_LMDB, "--lmdb_dir", lmdb_dir, "--check", "8", "--check_dir",
                        tmp_path / "chk"], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode != -signal.SIGBUS
    assert_one_line(r.returncode, r.stderr, "data.mdb", needle)
    assert tree_hash(tmp_path) == before and not (tmp_path / "chk").exists()


def test_self_referencing_metadata_is_one_line(tmp_path, capsys, monkeypatch):
    lmdb_dir = make_lmdb(tmp_path / "x.lmdb")
    keys = ["v0_4x64x64_0000"]
    keys.append(keys)
    with open(lmdb_dir / "meta_info.pkl", "wb") as f:
        pickle.dump({"name": "T", "keys": keys}, f)
    status, _, err = run_inprocess(script_cli("scripts/create_lmdb.py"),
                                   ["create_lmdb.py", "--lmdb_dir", lmdb_dir, "--check", 1, "--check_dir",
                                    tmp_path / "chk"], capsys, monkeypatch)
    assert_one_line(status, err, "meta_info.pkl", "holds itself")


# ------------------------------------------------------------- checkpoints ---
def crafted(kind):
    sd = FRNet(nf=8, nb=1, degradation="BD").state_dict()
    if kind == "1-D":
        sd["srnet.conv_in.0.weight"] = torch.zeros(10)
    elif kind == "expanded":  # a 1-value storage viewed as 10^10 values
        sd["srnet.conv_in.0.weight"] = torch.zeros(1).expand(100000, 51, 3, 3)
    elif kind == "no_scale":
        sd["srnet.conv_in.0.weight"] = torch.zeros(8, 50, 3, 3)
    elif kind == "huge_nf":
        sd["srnet.conv_in.0.weight"] = torch.zeros(5000, 51, 1, 1)
    return sd


@pytest.mark.parametrize("kind, needle", [
    ("1-D", "expected a 4-D convolution weight"),
    ("expanded", "crafted or damaged"),
    ("no_scale", "not an FRNet of scale 2 or 4"),
    ("huge_nf", "implausibly large"),
])
def test_crafted_checkpoint_shapes(tmp_path, capsys, monkeypatch, kind, needle):
    torch.save(crafted(kind), tmp_path / "crafted.pth")
    write_frames(tmp_path / "in")
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", tmp_path / "crafted.pth",
                        "--device", "cpu")
    assert_one_line(status, err, "crafted.pth", needle)
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
                 "you tried to allocate 98765432100 bytes. Error code 12 (Cannot allocate memory)"),
    MemoryError(),
])
def test_out_of_memory_is_one_line_with_tile_hint(tmp_path, ckpt, capsys, monkeypatch, error):
    import tecogan.inference.upscaler

    def no_memory(*_args, **_kwargs):
        raise error
        yield  # makes this a generator, like the real one
    monkeypatch.setattr(tecogan.inference.upscaler.ClipRun, "run", no_memory)
    write_frames(tmp_path / "in")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "out of memory", "--tile 128")
    assert not (tmp_path / "out").exists() and no_temps(tmp_path)


# ------------------------------------------------------- text and profiles ---
def test_invalid_utf8_yaml_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "test.yml").write_bytes(b"scale: 4\nmodel: {name: FRVSR\xe9}\n")
    status, _, err = run_inprocess(main_cmd.cli, ["main.py", "--exp_dir", tmp_path / "exp", "--mode", "test",
                                                  "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"],
                                   capsys, monkeypatch)
    assert_one_line(status, err, "test.yml", "not valid UTF-8", "0xe9")


def monitor_exp(tmp_path, log_bytes, metrics_text=None):
    exp = tmp_path / "exp"
    (exp / "train").mkdir(parents=True)
    (exp / "train" / "train.log").write_bytes(log_bytes)
    if metrics_text is not None:
        (exp / "test" / "metrics").mkdir(parents=True)
        (exp / "test" / "metrics" / "V_avg.json").write_text(metrics_text)
    return exp


LOG = (b"2024-01-01 00:00:00 [INFO]: [epoch: 0 | iter: 1 | lr_G: 1e-4] l_pix_G: 1.0e-01\n"
       b"2024-01-01 00:00:01 [INFO]: caf\xe9 \xff\xfe damaged bytes\n"
       b"2024-01-01 00:00:02 [INFO]: [epoch: 0 | iter: 2 | lr_G: 1e-4] l_pix_G: 9.0e-02\n")


def test_monitor_reads_logs_with_invalid_utf8(tmp_path, capsys, monkeypatch):
    exp = monitor_exp(tmp_path, LOG)
    status, _, err = run_inprocess(script_cli("scripts/monitor_training.py"),
                                   ["monitor_training.py", "--exp_dir", exp], capsys, monkeypatch)
    assert status == 0, err
    assert (exp / "plots" / "losses.png").stat().st_size > 1000


@pytest.mark.parametrize("text, needle", [
    ('{"G_iter2": {"PSNR": 2', "not readable JSON"),
    ('[1, 2, 3]', "holds a list"),
    ('{"G_iter2": "fast"}', "entry 'G_iter2'"),
    ('{"nothing": {"PSNR": 1}}', "entry 'nothing'"),
    ('{"G_iter2": {"PSNR": "x"}}', "entry 'G_iter2'"),
])
def test_monitor_on_truncated_or_foreign_json(tmp_path, capsys, monkeypatch, text, needle):
    exp = monitor_exp(tmp_path, LOG, text)
    status, _, err = run_inprocess(script_cli("scripts/monitor_training.py"),
                                   ["monitor_training.py", "--exp_dir", exp], capsys, monkeypatch)
    assert_one_line(status, err, "V_avg.json", needle)


@pytest.mark.parametrize("size", ["3x1x1", "3x4x4", "3x7x9"])
def test_tiny_profile_sizes(capsys, monkeypatch, size):
    exp = os.path.join(REPO, "experiments_BD", "FRVSR", "001")
    status, _, err = run_inprocess(main_cmd.cli, ["main.py", "--exp_dir", exp, "--mode", "profile", "--model", "FRVSR",
                                                  "--opt", "test.yml", "--gpu_id", "-1", "--lr_size", size],
                                   capsys, monkeypatch)
    assert_one_line(status, err, f"--lr_size {size}", "at least" if False else "8..8192")


# --------------------------------------------------------- full disk ---


def raw_frames(root, clips=2, frames=4, h=64, w=64):
    for c in range(clips):
        write_frames(root / f"v{c}", n=frames, h=h, w=w, seed=c)


def test_create_lmdb_full_disk(tmp_path):
    raw_frames(tmp_path / "raw")
    preload = tmp_path / "preload"
    make_lmdb(preload / "X.lmdb", clips=1, frames=1, h=8, w=8)  # the old LMDB, kept
    (tmp_path / "disk").mkdir()
    (tmp_path / "after").mkdir()
    cmd = tmpfs_command(tmp_path / "disk", 96, [sys.executable, CREATE_LMDB, "--raw_dir", tmp_path / "raw",
                                                "--lmdb_dir", tmp_path / "disk" / "X.lmdb", "--overwrite"],
                        preload=preload, copy_back=tmp_path / "after")
    if cmd is None:
        pytest.skip("mounting a small tmpfs (unshare -rm mount -t tmpfs) is not permitted here; "
                    "test_create_lmdb_file_size_limit covers the failing write")
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert_one_line(r.returncode, r.stderr, str(tmp_path / "disk" / "X.lmdb:"), "the disk is full")
    assert tree_hash(tmp_path / "after" / "X.lmdb") == tree_hash(preload / "X.lmdb")
    assert no_temps(tmp_path / "after")


def test_create_lmdb_file_size_limit(tmp_path):
    raw_frames(tmp_path / "raw")
    before = tree_hash(tmp_path / "raw")
    r = subprocess.run([sys.executable, CREATE_LMDB, "--raw_dir", tmp_path / "raw", "--lmdb_dir",
                        tmp_path / "X.lmdb"], capture_output=True, text=True, env=ENV, timeout=120,
                       preexec_fn=limit_file_size(20000))
    assert_one_line(r.returncode, r.stderr, "X.lmdb")
    assert tree_hash(tmp_path / "raw") == before
    assert sorted(os.listdir(tmp_path)) == ["raw"]  # neither the LMDB nor a temporary folder


def write_train_exp(exp, lmdb_dir):
    exp.mkdir(parents=True, exist_ok=True)
    opt = {"scale": 4, "manual_seed": 0,
           "dataset": {"degradation": {"type": "BD"},
                       "train": {"name": "T", "seq_dir": str(lmdb_dir), "crop_size": 32, "batch_size": 2}},
           "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1}},
           "train": {"tempo_extent": 3, "total_iter": 1, "generator": {"lr": 1e-4},
                     "pixel_crit": {"type": "CB"}, "warping_crit": {"type": "CB"}},
           "test": {"test_freq": 1000},
           "logger": {"log_freq": 1, "ckpt_freq": 1}}
    (exp / "train.yml").write_text(yaml.safe_dump(opt))


@pytest.fixture(scope="module")
def train_lmdb(tmp_path_factory):
    return make_lmdb(tmp_path_factory.mktemp("lmdb") / "GT.lmdb")


def train_cmd(exp):
    return [sys.executable, MAIN, "--exp_dir", exp, "--mode", "train", "--model", "FRVSR", "--opt", "train.yml",
            "--gpu_id", "-1"]


def test_training_full_disk(tmp_path, train_lmdb):
    preload = tmp_path / "preload"
    write_train_exp(preload, train_lmdb)
    (tmp_path / "disk").mkdir()
    (tmp_path / "after").mkdir()
    env = dict(ENV, TECOGAN_LOG_FILE_ONLY="1")
    cmd = tmpfs_command(tmp_path / "disk", 48, train_cmd(tmp_path / "disk"), preload=preload,
                        copy_back=tmp_path / "after")
    if cmd is None:
        pytest.skip("mounting a small tmpfs (unshare -rm mount -t tmpfs) is not permitted here; "
                    "test_training_file_size_limit covers the failing write")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert_one_line(r.returncode, r.stderr, "G_iter1.pth", "No space left on device")
    assert no_temps(tmp_path / "after" / "train" / "ckpt")
    assert not (tmp_path / "after" / ".train.lock").exists()


def test_training_file_size_limit(tmp_path, train_lmdb):
    """The fallback of test_training_full_disk where mounting a tmpfs is not allowed."""
    if tmpfs_command(tmp_path, 16, ["true"]) is not None:
        pytest.skip("test_training_full_disk ran on a real full file system")
    exp = tmp_path / "exp"
    write_train_exp(exp, train_lmdb)
    r = subprocess.run(train_cmd(exp), capture_output=True, text=True, env=dict(ENV, TECOGAN_LOG_FILE_ONLY="1"),
                       timeout=300, preexec_fn=limit_file_size(30000))
    assert_one_line(r.returncode, r.stderr, "_iter1.pth", "could not be written")
    assert no_temps(exp / "train" / "ckpt") and not (exp / ".train.lock").exists()


# --------------------------------------------------- unwritable, occupied ---
def test_read_only_output_folder(tmp_path, ckpt):
    write_frames(tmp_path / "in")
    (tmp_path / "ro").mkdir()
    cmd = tmpfs_command(tmp_path / "ro", 64, [sys.executable, UPSCALE, tmp_path / "in", tmp_path / "ro" / "out",
                                              "--model", ckpt, "--device", "cpu"], read_only=True)
    if cmd is None:
        pytest.skip("mounting a read-only tmpfs (unshare -rm mount) is not permitted here")
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert_one_line(r.returncode, r.stderr, "out", "not writable")


@pytest.mark.parametrize("case, needle", [
    ("video_is_folder", "is a folder; expected a file name"),
    ("frames_is_file", "is a file; expected a folder"),
    ("parent_is_file", "is a file, not a folder"),
])
def test_occupied_outputs(tmp_path, ckpt, capsys, monkeypatch, case, needle):
    write_frames(tmp_path / "in")
    if case == "video_is_folder":
        (tmp_path / "out.mp4").mkdir()
        (tmp_path / "out.mp4" / "keep.txt").write_text("mine")
        out = tmp_path / "out.mp4"
    elif case == "frames_is_file":
        (tmp_path / "out").write_text("mine")
        out = tmp_path / "out"
    else:
        (tmp_path / "file").write_text("mine")
        out = tmp_path / "file" / "sub" / "out"
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", out, "--model", ckpt, "--device", "cpu", "--overwrite")
    assert_one_line(status, err, needle)
    assert tree_hash(tmp_path) == before


# ------------------------------------------------------ the last resorts ---
def test_argparse_mistakes_are_one_line(tmp_path, capsys, monkeypatch):
    status, _, err = up(capsys, monkeypatch, tmp_path / "in")
    assert_one_line(status, err, "the following arguments are required: output", "--help")
    status, _, err = run_inprocess(main_cmd.cli, ["main.py", "--exp_dir", tmp_path, "--mode", "tset", "--model", "X",
                                                  "--opt", "x"], capsys, monkeypatch)
    assert_one_line(status, err, "invalid choice: 'tset'")


@pytest.mark.parametrize("error, status_expected, needle", [
    (ValueError("boom\nsecond line"), 2, "unexpected ValueError: boom second line"),
    (KeyboardInterrupt(), 130, "interrupted by SIGINT"),
    (RecursionError("maximum recursion depth exceeded"), 2, "nested too deeply"),
    (OSError(28, "No space left on device", "/some/file"), 2, "/some/file: No space left on device (the disk is full"),
])
def test_unexpected_errors_are_one_line(tmp_path, ckpt, capsys, monkeypatch, error, status_expected, needle):
    def fail(_args):
        raise error
    monkeypatch.setattr(upscale, "load_network", fail)
    write_frames(tmp_path / "in")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, needle, expected_status=status_expected)
    assert not (tmp_path / "out").exists() and no_temps(tmp_path)
