"""Faults class 1: inputs and existing work are never destroyed, by any command that writes.

Every case hashes the inputs and the old outputs before and after (tests/helpers.tree_hash)
and asserts the exit status and the single stderr line.  Most commands run in this process
(``cli()`` through ``run_cli``); the signal, disk-full and file-size-limit cases run a
subprocess, since they are about what the process does at its end.
"""
import os
import pickle
import signal
import subprocess
import sys
import time

import cv2
import pytest
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
from tecogan.official_metrics import evaluate as evaluate_cmd
from tecogan.official_metrics import metrics as metrics_cmd
from tecogan.utils.outputs import AtomicFolder, remove_stale_temps, temp_sibling
from tecogan.utils.training_lock import TrainingLock

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = os.path.join(REPO, "codes", "upscale.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
DEAD_PID = 999_999_999  # above Linux's pid_max: never a running process


up = upscale_in_process


def job_folders(folder):
    """The resumable jobs' folders in ``folder`` (work kept on purpose, not a temporary)."""
    return [f for f in os.listdir(folder) if f.endswith(".tecogan-job")]


# -------------------------------------------------------- outputs vs inputs ---
@pytest.mark.parametrize("case", ["same", "inside", "contains", "symlink", "model", "compare_is_output",
                                  "compare_is_input"])
def test_upscale_refuses_outputs_that_touch_inputs(tmp_path, ckpt, capsys, monkeypatch, case):
    work = tmp_path / "work"
    src = work / "in"
    write_frames(src)
    model = tmp_path / "model.pth"
    model.write_bytes(ckpt.read_bytes())
    extra = []
    out = {"same": src, "inside": src / "x4", "contains": work, "model": model,
           "compare_is_output": tmp_path / "o.mp4", "compare_is_input": tmp_path / "o.mp4"}.get(case)
    if case == "symlink":
        out = tmp_path / "link"
        os.symlink(src, out)
    if case == "compare_is_output":
        extra = ["--compare", tmp_path / "o.mp4"]
    if case == "compare_is_input":
        os.symlink(model, tmp_path / "cmp.mp4")
        extra = ["--compare", tmp_path / "cmp.mp4"]
    before = tree_hash(work), tree_hash(model)
    status, _, err = up(capsys, monkeypatch, src, out, "--model", model, "--device", "cpu", *extra)
    needle = {"same": "is the input", "inside": "lies inside the input", "contains": "contains the input",
              "symlink": "is the input", "model": "is the input --model", "compare_is_output": "is also the output",
              "compare_is_input": "is the input --model"}[case]
    assert_one_line(status, err, needle)
    assert (tree_hash(work), tree_hash(model)) == before
    assert not (src / "x4").exists() and not (tmp_path / "o.mp4").exists()


def test_upscale_keeps_existing_outputs_without_overwrite(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in")
    (tmp_path / "old.mp4").write_bytes(b"an earlier video")
    write_frames(tmp_path / "frames", n=5, h=48, w=64, seed=9)
    old_video, old_frames = tree_hash(tmp_path / "old.mp4"), tree_hash(tmp_path / "frames")
    for out in ("old.mp4", "frames"):
        status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / out, "--model", ckpt, "--device", "cpu")
        assert_one_line(status, err, str(tmp_path / out), "already exists", "--overwrite")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "new", "--model", ckpt, "--device", "cpu",
                        "--compare", tmp_path / "old.mp4")
    assert_one_line(status, err, "--compare", "--overwrite")
    assert tree_hash(tmp_path / "old.mp4") == old_video and tree_hash(tmp_path / "frames") == old_frames
    assert not (tmp_path / "new").exists()


def test_upscale_overwrite_replaces_whole_frames_folder(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=3)
    write_frames(tmp_path / "out", n=5, seed=4)  # 0003.png, 0004.png would be stale frames
    before_in = tree_hash(tmp_path / "in")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu",
                        "--overwrite")
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == ["0000.png", "0001.png", "0002.png"]
    assert cv2.imread(str(tmp_path / "out" / "0000.png")).shape == (48, 64, 3)
    assert tree_hash(tmp_path / "in") == before_in and no_temps(tmp_path)
    # a folder holding anything but frames is never replaced, even with --overwrite
    (tmp_path / "out" / "notes.txt").write_text("mine")
    before_out = tree_hash(tmp_path / "out")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu",
                        "--overwrite")
    assert_one_line(status, err, "notes.txt", "--overwrite would delete")
    assert tree_hash(tmp_path / "out") == before_out


def test_failure_midway_keeps_old_output_and_leaves_no_temporary(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=4)
    frame = tmp_path / "in" / "0002.png"
    frame.write_bytes(frame.read_bytes()[:-20])  # truncated: found when frame 3 is decoded
    write_frames(tmp_path / "out", n=2, seed=5)
    before = tree_hash(tmp_path / "in"), tree_hash(tmp_path / "out")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu",
                        "--overwrite")
    assert_one_line(status, err, "0002.png", "truncated")
    assert (tree_hash(tmp_path / "in"), tree_hash(tmp_path / "out")) == before
    assert no_temps(tmp_path)


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=2)
    stale_dir = temp_sibling(tmp_path / "out", pid=DEAD_PID)
    write_frames(stale_dir, n=1)
    stale_video = temp_sibling(tmp_path / "out.mp4", ".mp4", pid=DEAD_PID)
    open(stale_video, "wb").write(b"half a video")
    live = temp_sibling(tmp_path / "out", pid=os.getpid())  # a running process's temporary is left alone
    os.mkdir(live)
    # names of the user's that merely look temporary are never touched
    users = [tmp_path / ".tmp_out_12345678.mp4", tmp_path / f".tmp_{DEAD_PID}_out.k1ll3d00",
             tmp_path / (os.path.basename(stale_video)[:-6] + "X.mp4")]
    for u in users:
        u.write_bytes(b"mine")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert status == 0, err
    assert not os.path.exists(stale_dir) and os.path.exists(live)
    assert sorted(os.listdir(tmp_path / "out")) == ["0000.png", "0001.png"]
    assert remove_stale_temps(str(tmp_path / "out.mp4")) == [os.path.basename(stale_video)]
    assert all(u.read_bytes() == b"mine" for u in users)


def test_folder_moved_aside_by_a_killed_swap_is_restored(tmp_path):
    """A run killed between 'old folder moved aside' and 'new folder renamed in' loses nothing."""
    out = tmp_path / "out"
    write_frames(out, n=2)
    before = tree_hash(out)
    os.rename(out, temp_sibling(out, old=True, pid=DEAD_PID))
    remove_stale_temps(str(out))
    assert tree_hash(out) == before and no_temps(tmp_path)
    with AtomicFolder(out) as stage:  # and a normal replacement leaves only the new content
        write_frames(stage.tmp, n=1, seed=3)
    assert sorted(os.listdir(out)) == ["0000.png"] and no_temps(tmp_path)


# ------------------------------------------------ signals, full disk, limits ---
def long_input(folder, n=400):
    write_frames(folder, n=n, h=24, w=32)


def test_sigterm_keeps_old_output_and_exits_nonzero(tmp_path, ckpt):
    long_input(tmp_path / "in")
    write_frames(tmp_path / "out", n=2, seed=7)
    before = tree_hash(tmp_path / "out")
    proc = subprocess.Popen([sys.executable, UPSCALE, tmp_path / "in", tmp_path / "out", "--model", ckpt,
                             "--device", "cpu", "--overwrite"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    line = proc.stdout.readline()  # printed once the first frame is decoded, before inference
    assert "->" in line, proc.stderr.read()
    deadline = time.time() + 60
    while no_temps(tmp_path) and not job_folders(tmp_path) and time.time() < deadline:  # frames being written
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert_one_line(proc.returncode, err, "SIGTERM", expected_status=143)
    assert tree_hash(tmp_path / "out") == before and no_temps(tmp_path)


def test_file_size_limit_keeps_old_output(tmp_path, ckpt):
    """A write that fails (here: a file-size limit, as a full disk would) keeps the old output."""
    write_frames(tmp_path / "in", n=3, h=40, w=48)
    write_frames(tmp_path / "out", n=2, seed=8)
    before = tree_hash(tmp_path / "in"), tree_hash(tmp_path / "out")
    r = subprocess.run([sys.executable, UPSCALE, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu",
                        "--overwrite"], capture_output=True, text=True, env=ENV, timeout=120,
                       preexec_fn=limit_file_size(4096))
    assert_one_line(r.returncode, r.stderr, "could not be written", "too large")
    assert (tree_hash(tmp_path / "in"), tree_hash(tmp_path / "out")) == before and no_temps(tmp_path)


def test_full_disk_keeps_old_output(tmp_path, ckpt):
    write_frames(tmp_path / "in", n=6, h=40, w=48)
    old = tmp_path / "preload"
    write_frames(old / "out", n=2, seed=8)
    (tmp_path / "disk").mkdir()
    (tmp_path / "after").mkdir()
    cmd = tmpfs_command(tmp_path / "disk", 64, [sys.executable, UPSCALE, tmp_path / "in", tmp_path / "disk" / "out",
                                                "--model", ckpt, "--device", "cpu", "--overwrite"],
                        preload=old, copy_back=tmp_path / "after")
    if cmd is None:
        pytest.skip("mounting a small tmpfs (unshare -rm mount -t tmpfs) is not permitted here; "
                    "test_file_size_limit_keeps_old_output covers the failing write")
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert_one_line(r.returncode, r.stderr, "No space left on device", "disk is full")
    assert tree_hash(tmp_path / "after" / "out") == tree_hash(old / "out")
    assert no_temps(tmp_path / "after")


# ------------------------------------------------------------- data scripts ---
@pytest.mark.parametrize("case", ["same", "inside", "contains"])
def test_resize_bd_refuses_lr_dir_touching_gt_dir(tmp_path, capsys, monkeypatch, case):
    gt = tmp_path / "data" / "GT"
    write_frames(gt / "s1", h=16, w=16)
    lr = {"same": gt, "inside": gt / "s1" / "lr", "contains": tmp_path / "data"}[case]
    before = tree_hash(tmp_path / "data")
    status, _, err = run_inprocess(script_cli("scripts/resize_BD.py"),
                                   ["resize_BD.py", "--gt_dir", gt, "--lr_dir", lr], capsys, monkeypatch)
    assert_one_line(status, err, "--lr_dir", "input --gt_dir")
    assert tree_hash(tmp_path / "data") == before


@pytest.mark.parametrize("script, src_opt, dst_opt", [("resize_BD.py", "--gt_dir", "--lr_dir"),
                                                      ("generate_lr_BI.py", "--gt_dir", "--lr_dir"),
                                                      ("bicubic_baseline.py", "--lr_dir", "--out_dir")])
def test_data_scripts_keep_or_cleanly_replace_existing_output(tmp_path, capsys, monkeypatch, script, src_opt, dst_opt):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_frames(src / "s1", h=16, w=16)
    write_frames(dst / "s1", n=5, h=4, w=4, seed=2)
    write_frames(dst / "old_seq", n=1, h=4, w=4)
    before = tree_hash(src), tree_hash(dst)
    cli = script_cli(f"scripts/{script}")
    status, _, err = run_inprocess(cli, [script, src_opt, src, dst_opt, dst], capsys, monkeypatch)
    assert_one_line(status, err, dst_opt, "already exists", "--overwrite")
    assert (tree_hash(src), tree_hash(dst)) == before
    status, _, err = run_inprocess(cli, [script, src_opt, src, dst_opt, dst, "--overwrite"], capsys, monkeypatch)
    assert status == 0, err
    assert sorted(os.listdir(dst)) == ["s1"]  # no stale sequence
    assert sorted(os.listdir(dst / "s1")) == ["0000.png", "0001.png", "0002.png"]  # no stale frames
    assert tree_hash(src) == before[0] and no_temps(tmp_path)


def test_create_lmdb_refusals_and_overwrite(tmp_path, capsys, monkeypatch):
    cli = script_cli("scripts/create_lmdb.py")
    raw = tmp_path / "raw"
    write_frames(raw / "v0", h=8, w=8)
    before_raw = tree_hash(raw)
    status, _, err = run_inprocess(cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", raw / "x.lmdb"],
                                   capsys, monkeypatch)
    assert_one_line(status, err, "--lmdb_dir", "lies inside the input --raw_dir")
    assert tree_hash(raw) == before_raw
    out = tmp_path / "X.lmdb"
    assert run_inprocess(cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", out], capsys, monkeypatch)[0] == 0
    before = tree_hash(out)
    write_frames(raw / "v1", h=8, w=8)
    status, _, err = run_inprocess(cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", out], capsys, monkeypatch)
    assert_one_line(status, err, "already exists", "--overwrite")
    assert tree_hash(out) == before
    status, _, err = run_inprocess(cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", out, "--overwrite"],
                                   capsys, monkeypatch)
    assert status == 0, err
    with open(out / "meta_info.pkl", "rb") as f:
        assert len(pickle.load(f)["keys"]) == 6
    (out / "notes.txt").write_text("not an LMDB file")
    before = tree_hash(out)
    status, _, err = run_inprocess(cli, ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", out, "--overwrite"],
                                   capsys, monkeypatch)
    assert_one_line(status, err, "notes.txt")
    assert tree_hash(out) == before and no_temps(tmp_path)


# ------------------------------------------------------------------ metrics ---
def test_metrics_output_checked_before_the_long_work(tmp_path, capsys, monkeypatch):
    for kind in ("SR", "GT"):
        write_frames(tmp_path / kind / "seq", n=5, h=16, w=16)
    argv = ["metrics.py", "--results", tmp_path / "SR" / "seq", "--targets", tmp_path / "GT" / "seq",
            "--device", "cpu", "--lpips_weights", tmp_path / "never_read.pth"]
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--output", tmp_path / "GT" / "seq"], capsys, monkeypatch)
    assert_one_line(status, err, "--output", "is the input --targets")
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--output", tmp_path], capsys, monkeypatch)
    assert_one_line(status, err, "contains the input")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "metrics.json").write_text('{"earlier": 1}')
    (tmp_path / "file_out").write_text("a file")
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--output", tmp_path / "out"], capsys, monkeypatch)
    assert_one_line(status, err, "metrics.json", "already exists", "--overwrite")
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--output", tmp_path / "file_out"], capsys, monkeypatch)
    assert_one_line(status, err, "file_out", "is a file")
    assert tree_hash(tmp_path) == before  # and the missing LPIPS weights were never needed


def test_evaluate_keeps_existing_metric_log(tmp_path, capsys, monkeypatch):
    write_frames(tmp_path / "data" / "D" / "GT" / "s", n=5, h=16, w=16)
    write_frames(tmp_path / "results" / "D" / "M" / "s", n=5, h=16, w=16)
    log = tmp_path / "results" / "D" / "M" / "metric_log"
    log.mkdir()
    (log / "metrics.csv").write_text("earlier")
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(evaluate_cmd.cli, ["evaluate.py", "--model", "M", "--datasets", "D",
                                                      "--data_root", tmp_path / "data",
                                                      "--results_root", tmp_path / "results"], capsys, monkeypatch)
    assert_one_line(status, err, "metrics.csv", "--overwrite")
    assert tree_hash(tmp_path) == before


# ---------------------------------------------------------------- test mode ---
def write_test_exp(tmp_path, ckpt, res_dir, name="T"):
    exp = tmp_path / "exp"
    exp.mkdir(exist_ok=True)
    opt = {"scale": 4, "dataset": {"degradation": {"type": "BD"},
                                   "test1": {"name": name, "lr_seq_dir": str(tmp_path / "LR")}},
           "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1, "load_path": str(ckpt)}},
           "test": {"save_res": True, "res_dir": str(res_dir)}}
    (exp / "test.yml").write_text(yaml.safe_dump(opt))
    return ["main.py", "--exp_dir", exp, "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"]


@pytest.mark.parametrize("where", ["inside_lr", "is_lr", "contains_lr"])
def test_test_mode_res_dir_never_touches_inputs(tmp_path, ckpt, capsys, monkeypatch, where):
    write_frames(tmp_path / "LR" / "s1")
    res = {"inside_lr": tmp_path / "LR" / "s1" / "res", "is_lr": tmp_path / "LR", "contains_lr": tmp_path}[where]
    argv = write_test_exp(tmp_path, ckpt, res)
    before = tree_hash(tmp_path / "LR")
    status, _, err = run_inprocess(main_cmd.cli, argv, capsys, monkeypatch)
    assert_one_line(status, err, "res_dir")
    assert tree_hash(tmp_path / "LR") == before


def test_yaml_names_never_lead_outside(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "LR" / "s1")
    argv = write_test_exp(tmp_path, ckpt, tmp_path / "results" / "inner", name="../../escaped")
    status, _, err = run_inprocess(main_cmd.cli, argv, capsys, monkeypatch)
    assert_one_line(status, err, "dataset.test1.name", "plain folder name", "'../../escaped'")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "results").exists()


# ------------------------------------------------------------------ training ---
def train_argv(exp, *extra):
    return ["main.py", "--exp_dir", exp, "--mode", "train", "--model", "FRVSR", "--opt", "train.yml",
            "--gpu_id", "-1", *extra]


def write_train_exp(exp):
    exp.mkdir(parents=True, exist_ok=True)
    opt = {"scale": 4, "dataset": {"degradation": {"type": "BD"},
                                   "train": {"name": "x", "seq_dir": str(exp / "none.lmdb"), "crop_size": 32}},
           "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1}},
           "train": {"total_iter": 2, "generator": {"lr": 1e-4}}}
    (exp / "train.yml").write_text(yaml.safe_dump(opt))


def test_train_refuses_existing_run_without_resume(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    write_train_exp(exp)
    (exp / "train" / "ckpt").mkdir(parents=True)
    (exp / "train" / "ckpt" / "G_iter2.pth").write_bytes(b"earlier checkpoint")
    before = tree_hash(exp)
    status, _, err = run_inprocess(main_cmd.cli, train_argv(exp), capsys, monkeypatch)
    assert_one_line(status, err, str(exp / "train"), "already exists", "--resume auto")
    assert tree_hash(exp) == before  # and the lock was released


def test_train_refuses_experiment_in_use(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    write_train_exp(exp)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (exp / ".train.lock").write_text(f"{sleeper.pid} {os.uname().nodename}\n")
        before = tree_hash(exp)
        status, _, err = run_inprocess(main_cmd.cli, train_argv(exp, "--resume", "auto"), capsys, monkeypatch)
        assert_one_line(status, err, str(exp), "in use by a running training", f"pid {sleeper.pid}")
        assert tree_hash(exp) == before
    finally:
        sleeper.kill()
        sleeper.wait()
    # the same lock, now stale (its process is gone), is taken over
    lock = TrainingLock(str(exp))
    with lock:
        assert (exp / ".train.lock").read_text().split()[0] == str(os.getpid())
    assert not (exp / ".train.lock").exists()


def test_train_never_writes_into_its_data(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    write_train_exp(exp)
    opt = yaml.safe_load((exp / "train.yml").read_text())
    data = tmp_path / "val" / "LR"
    write_frames(data / "s1")
    opt["dataset"]["test1"] = {"name": "V", "lr_seq_dir": str(data)}
    opt["test"] = {"res_dir": str(data / "results")}
    (exp / "train.yml").write_text(yaml.safe_dump(opt))
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(main_cmd.cli, train_argv(exp), capsys, monkeypatch)
    assert_one_line(status, err, "test.res_dir", "lies inside the input dataset.test1.lr_seq_dir")
    assert tree_hash(tmp_path) == before
