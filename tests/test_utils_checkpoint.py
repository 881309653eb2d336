"""Faults class 3: nothing is silently wrong.

Checkpoints with NaN/Inf or whose zip entries fail their CRC are refused; frames whose size
changes mid-sequence and two frames with one stem are errors naming the file; scripts refuse
meaningless parameters.  (The video-specific cases, a decoded frame count short of the
container's and a size change mid-stream in a video file, belong to the PyAV reader in
codes/video/ and are tested with it.)
"""
import os
import zipfile

import pytest
import torch
import yaml
from helpers import assert_one_line, run_inprocess, script_cli, tree_hash, write_frames

from tecogan import main as main_cmd
from tecogan import upscale
from tecogan.networks.frnet import FRNet
from tecogan.training.trainer import load_training_state
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError


def tiny_state():
    torch.manual_seed(0)
    return FRNet(nf=8, nb=1, degradation="BD").state_dict()


def up(capsys, monkeypatch, *args):
    return run_inprocess(upscale.cli, ["upscale.py", *map(str, args)], capsys, monkeypatch)


# -------------------------------------------------------------- checkpoints ---
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_checkpoint_with_nan_or_inf_is_refused(tmp_path, capsys, monkeypatch, bad):
    sd = tiny_state()
    sd["srnet.conv_out.weight"][0, 0, 0, 0] = bad
    torch.save(sd, tmp_path / "diverged.pth")
    write_frames(tmp_path / "in")
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", tmp_path / "diverged.pth",
                        "--device", "cpu")
    assert_one_line(status, err, "diverged.pth", "srnet.conv_out.weight", "NaN/Inf")
    assert tree_hash(tmp_path) == before


def corrupt_tensor_bytes(path):
    """Flip one byte inside the largest tensor entry of a torch zip, keeping its length."""
    with zipfile.ZipFile(path) as zf:
        entry = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        offset = entry.header_offset + 30 + len(entry.filename.encode()) + len(entry.extra)
    data = bytearray(path.read_bytes())
    data[offset + entry.file_size // 2] ^= 0x40
    path.write_bytes(bytes(data))
    return entry.filename


def test_checkpoint_failing_crc_is_refused(tmp_path, ckpt, capsys, monkeypatch):
    bad = tmp_path / "flipped.pth"
    bad.write_bytes(ckpt.read_bytes())
    name = corrupt_tensor_bytes(bad)
    with pytest.raises(UserError) as err:
        load_state_dict_file(str(bad))
    assert name in str(err.value) and "CRC" in str(err.value)
    write_frames(tmp_path / "in")
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", bad, "--device", "cpu")
    assert_one_line(status, err, "flipped.pth", "fails its CRC check")
    assert tree_hash(tmp_path) == before


def test_training_state_nan_or_bad_crc_is_refused(tmp_path):
    state = {"iter": 2, "model": {"G": tiny_state()}, "running_log": {"l_pix_G": torch.tensor(float("nan"))}}
    torch.save(state, tmp_path / "state_iter2.pth")
    with pytest.raises(UserError, match=r"running_log.l_pix_G holds 1 NaN/Inf"):
        load_training_state(str(tmp_path / "state_iter2.pth"))
    state["running_log"] = {}
    torch.save(state, tmp_path / "state_iter4.pth")
    corrupt_tensor_bytes(tmp_path / "state_iter4.pth")
    with pytest.raises(UserError, match="fails its CRC check"):
        load_training_state(str(tmp_path / "state_iter4.pth"))


def test_test_mode_refuses_nan_checkpoint(tmp_path, capsys, monkeypatch):
    sd = tiny_state()
    sd["fnet.encoder1.0.weight"].fill_(float("nan"))
    torch.save(sd, tmp_path / "G_iter9.pth")
    write_frames(tmp_path / "LR" / "s1")
    (tmp_path / "exp").mkdir()
    opt = {"scale": 4, "dataset": {"degradation": {"type": "BD"},
                                   "test1": {"name": "T", "lr_seq_dir": str(tmp_path / "LR")}},
           "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 1, "load_path": str(tmp_path / "G_iter9.pth")}},
           "test": {"save_res": True, "res_dir": str(tmp_path / "results")}}
    (tmp_path / "exp" / "test.yml").write_text(yaml.safe_dump(opt))
    status, _, err = run_inprocess(main_cmd.cli, ["main.py", "--exp_dir", tmp_path / "exp", "--mode", "test",
                                                  "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"],
                                   capsys, monkeypatch)
    assert_one_line(status, err, "G_iter9.pth", "NaN/Inf")
    assert not (tmp_path / "results" / "T" / "G_iter9" / "s1").exists()


# ------------------------------------------------------------------- frames ---
def test_two_frames_with_one_stem_are_refused(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=3, names=["0000.png", "0000.jpg", "0001.png"])
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "0000.png", "0000.jpg", "same name stem")
    assert tree_hash(tmp_path) == before
    write_frames(tmp_path / "GT" / "s1", n=3, h=16, w=16, names=["a.png", "b.png", "a.bmp"])
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(script_cli("scripts/resize_BD.py"),
                                   ["resize_BD.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "LR"],
                                   capsys, monkeypatch)
    assert_one_line(status, err, "a.png", "a.bmp", "same name stem")
    assert tree_hash(tmp_path) == before


def test_frame_size_change_mid_sequence_names_the_frame(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=4)
    write_frames(tmp_path / "odd", n=1, h=16, w=16)
    os.replace(tmp_path / "odd" / "0000.png", tmp_path / "in" / "0002.png")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "0002.png", "16x16", "16x12")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------- meaningless parameters ---
@pytest.mark.parametrize("script, args, needle", [
    ("resize_BD.py", ["--scale", "-4"], "--scale -4: expected an integer >= 1"),   # flipped the image before
    ("resize_BD.py", ["--scale", "0"], "--scale 0: expected an integer >= 1"),     # crashed before
    ("resize_BD.py", ["--sigma", "-1"], "--sigma -1.0: expected a number > 0"),
    ("resize_BD.py", ["--sigma", "0"], "--sigma 0.0: expected a number > 0"),
    ("generate_lr_BI.py", ["--scale", "0"], "--scale 0: expected an integer >= 1"),
    ("generate_lr_BI.py", ["--scale", "-2"], "--scale -2"),
    ("bicubic_baseline.py", ["--scale", "-4"], "--scale -4"),
])
def test_meaningless_parameters_are_refused(tmp_path, capsys, monkeypatch, script, args, needle):
    write_frames(tmp_path / "src" / "s1", h=16, w=16)
    src_opt, dst_opt = ("--lr_dir", "--out_dir") if script == "bicubic_baseline.py" else ("--gt_dir", "--lr_dir")
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(script_cli(f"scripts/{script}"),
                                   [script, src_opt, tmp_path / "src", dst_opt, tmp_path / "dst", *args],
                                   capsys, monkeypatch)
    assert_one_line(status, err, needle)
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_yaml_numbers_must_be_finite(tmp_path, value):
    """NaN passes every comparison check (nan > 0 is False, but so is nan <= 0): refused by name."""
    from tecogan.experiment import load_config
    text = ("scale: 4\ndataset: {degradation: {type: BD}}\nmodel: {name: FRVSR, generator: {}}\n"
            f"train: {{total_iter: 2, generator: {{lr: {value}}}}}\n")
    (tmp_path / "t.yml").write_text(text)
    with pytest.raises(UserError, match=r"train.generator.lr: expected (a finite number|a learning rate > 0)"):
        load_config(str(tmp_path / "t.yml"))


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n" * 20, bytes(range(256)) * 8, b"\x80\x02}q\x00."],
                         ids=["text", "bytes", "pickle_fragment"])
def test_a_file_that_is_no_checkpoint_is_one_line(tmp_path, capsys, monkeypatch, content):
    """Text, random bytes or a stray pickle given as --model: one line naming the file, inputs kept."""
    bad = tmp_path / "notes.pth"
    bad.write_bytes(content)
    with pytest.raises(UserError, match="notes.pth"):
        load_state_dict_file(str(bad))
    write_frames(tmp_path / "in")
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", bad, "--device", "cpu")
    assert_one_line(status, err, "notes.pth")
    assert tree_hash(tmp_path) == before
