"""Faults round 3, classes 5 and 6 outside the video code: silent wrong results and unclear
errors that now end with one line naming the file, key or value (or succeed correctly).

Pixel bombs (a 60000x60000 PNG header, a 6 GB sparse PNG) are refused from the header and the
file size before any decoder sees them; /dev/zero, /dev/urandom and FIFOs are "not a regular
file"; a full OpenVINO cache is a warning; a stale lock whose pid was reused is taken over;
create_lmdb names a folder whose name is not UTF-8; monitor_training leaves out values it
cannot draw; a state dict with NaN is refused like a file; evaluation pairs frames by name;
a bare model name that is also a file is ambiguous.
"""
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from helpers import assert_one_line, run_inprocess, script_cli, tree_hash, upscale_in_process, write_frames

from tecogan.utils.errors import UserError

up = upscale_in_process


def png_header_only(path, w, h):
    """A small PNG file whose header declares a w x h RGB image (a pixel bomb's first bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- images ---
def test_pixel_bomb_png_is_refused_from_its_header(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=1)
    png_header_only(tmp_path / "in" / "0001.png", 60000, 60000)
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "0001.png", "60000x60000")
    assert tree_hash(tmp_path) == before


def test_sparse_6gb_png_is_refused_by_its_size(tmp_path):
    from tecogan.utils.fileio import read_image_rgb
    path = tmp_path / "0000.png"
    png_header_only(path, 16, 16)
    os.truncate(path, 6 << 30)  # sparse: no disk used
    with pytest.raises(UserError, match=r"0000.png: 6442450944 bytes, larger than any frame"):
        read_image_rgb(str(path))


def test_jpeg_and_bmp_headers_are_read():
    from tecogan.utils.fileio import image_header_size
    img = np.zeros((21, 37, 3), np.uint8)
    for ext in (".jpg", ".bmp", ".png"):
        ok, buf = cv2.imencode(ext, img)
        assert image_header_size(buf.tobytes()) == (37, 21), ext


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_special_files_are_not_regular_files(tmp_path, special):
    from tecogan.experiment import load_config
    from tecogan.utils.checkpoint import load_state_dict_file
    from tecogan.utils.fileio import read_image_rgb
    if special == "fifo":
        special = str(tmp_path / "x.png")
        os.mkfifo(special)
    for load, what in ((read_image_rgb, "image file"), (load_state_dict_file, "checkpoint file"),
                       (load_config, "config file")):
        with pytest.raises(UserError, match="not a regular file") as err:
            load(special)
        assert special in str(err.value) and what in str(err.value)


def test_fifo_frame_in_an_input_folder(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=2)
    os.mkfifo(tmp_path / "in" / "0002.png")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "0002.png", "not a regular file (a FIFO")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------ misc faults ---
def test_full_openvino_cache_is_a_warning(tmp_path, capsys):
    from tecogan.inference import backends

    class FullDisk:
        @staticmethod
        def save_model(*_a, **_k):
            raise RuntimeError("basic_ios::clear: iostream error")
    backends._write_cached(FullDisk, object(), str(tmp_path / "cache" / "m.xml"))
    err = capsys.readouterr().err
    assert err.startswith("warning:") and "continuing without the cache" in err and "basic_ios" in err
    assert not [f for f in os.listdir(tmp_path / "cache") if not f.startswith(".")]


def test_stale_lock_of_a_reused_pid_is_taken_over(tmp_path):
    import socket
    import subprocess
    import sys

    from tecogan.utils.training_lock import TrainingLock, process_start
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_file = tmp_path / ".train.lock"
        start = process_start(sleeper.pid)
        assert start is not None
        lock_file.write_text(f"{sleeper.pid} {socket.gethostname()} {start}\n")  # really running
        with pytest.raises(UserError, match="in use by a running training"):
            TrainingLock(str(tmp_path)).acquire()
        boot, ticks = start.rsplit(":", 1)
        lock_file.write_text(f"{sleeper.pid} {socket.gethostname()} {boot}:{int(ticks) - 7}\n")  # pid reused
        with TrainingLock(str(tmp_path)):
            assert lock_file.read_text().split()[0] == str(os.getpid())
    finally:
        sleeper.kill()
        sleeper.wait()


def test_create_lmdb_names_a_folder_that_is_not_utf8(tmp_path, capsys, monkeypatch):
    raw = tmp_path / "raw"
    bad = os.path.join(os.fsencode(raw), b"clip\xe9")
    os.makedirs(bad)
    for i in range(2):  # written by Python: OpenCV's own path functions crash on such names
        with open(os.path.join(bad, b"%04d.png" % i), "wb") as f:
            f.write(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    status, _, err = run_inprocess(script_cli("scripts/create_lmdb.py"),
                                   ["create_lmdb.py", "--raw_dir", raw, "--lmdb_dir", tmp_path / "x.lmdb"],
                                   capsys, monkeypatch)
    assert_one_line(status, err, "clip", "not valid UTF-8", "rename the folder")
    assert not (tmp_path / "x.lmdb").exists()


def test_monitor_training_leaves_out_values_it_cannot_draw(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    (exp / "train").mkdir(parents=True)
    (exp / "train" / "train.log").write_text(
        "[epoch: 0 | iter: 1 | lr_G: 1e-4] l_pix_G: 1.0e-01\n[epoch: 0 | iter: 2 | lr_G: 1e-4] l_pix_G: 1e308\n"
        "[epoch: 0 | iter: 3 | lr_G: 1e-4] l_pix_G: inf\n")
    (exp / "test" / "metrics").mkdir(parents=True)
    (exp / "test" / "metrics" / "V_avg.json").write_text('{"G_iter1": {"PSNR": 1e308}, "G_iter2": {"PSNR": 24.0},'
                                                         ' "G_iter3": {"PSNR": ' + "9" * 400 + '}}')
    status, _, err = run_inprocess(script_cli("scripts/monitor_training.py"),
                                   ["monitor_training.py", "--exp_dir", exp], capsys, monkeypatch)
    assert status == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and all("left out" in w for w in warnings), err
    assert (exp / "plots" / "metrics_V.png").stat().st_size > 1000


# ----------------------------------------------------------- silent wrong ---
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_load_generator_state_dict_with_nan_is_refused(bad):
    from tecogan.api import load_generator
    from tecogan.networks.frnet import FRNet
    sd = FRNet(nf=8, nb=1, degradation="BD").state_dict()
    sd["srnet.conv_out.weight"][0, 0, 0, 0] = bad
    with pytest.raises(UserError, match="srnet.conv_out.weight holds 1 NaN/Inf"):
        load_generator(sd)
    with pytest.raises(UserError, match="expected a state dict of tensors"):
        load_generator({"srnet.conv_out.weight": [1.0]})


def test_bare_model_name_that_is_also_a_file(tmp_path, monkeypatch, ckpt, capsys):
    from tecogan.pretrained import resolve_model
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tecogan").write_bytes(open(ckpt, "rb").read())
    with pytest.raises(UserError, match=r"--model tecogan: both a shipped model's name and a file in this folder"):
        resolve_model("tecogan")
    assert resolve_model("./tecogan") == "./tecogan"
    write_frames(tmp_path / "in", n=2)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", "tecogan", "--device",
                        "cpu")
    assert_one_line(status, err, "./tecogan")


def _metric_folders(root, sr_names):
    write_frames(root / "GT" / "s1", n=5, h=64, w=64, names=[f"{i:04d}.png" for i in range(5)])
    write_frames(root / "SR" / "s1", n=5, h=64, w=64, seed=1, names=sr_names)


@pytest.mark.parametrize("sr_names, ok", [
    ([f"{i:04d}.png" for i in range(5)], True),
    ([f"output_{i:04d}.png" for i in range(5)], True),         # the official results' names
    ([f"{i:04d}.png" for i in range(1, 6)], False),            # offset by one frame
])
def test_evaluation_pairs_frames_by_name(tmp_path, capsys, monkeypatch, sr_names, ok):
    from tecogan.official_metrics import metrics as metrics_cmd
    _metric_folders(tmp_path, sr_names)
    before = tree_hash(tmp_path / "GT"), tree_hash(tmp_path / "SR")
    argv = ["metrics.py", "--output", tmp_path / "m", "--results", tmp_path / "SR" / "s1", "--targets",
            tmp_path / "GT" / "s1", "--metrics", "PSNR,SSIM", "--workers", "1"]
    status, _, err = run_inprocess(metrics_cmd.cli, argv, capsys, monkeypatch)
    if ok:
        assert status == 0, err
    else:
        assert_one_line(status, err, "0001.png", "names differ", "--pair_by position")
        status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--pair_by", "position"], capsys, monkeypatch)
        assert status == 0, err
    assert (tree_hash(tmp_path / "GT"), tree_hash(tmp_path / "SR")) == before


# ---------------------------------------------------------------- bounds ---
def test_tile_bomb_is_refused_before_any_tile_is_made(ckpt):
    from tecogan.api import Upscaler, load_generator
    from tecogan.config.limits import tile_count
    from tecogan.defaults import MAX_TILES_PER_FRAME
    frame = np.zeros((1080, 1920, 3), np.uint8)
    assert tile_count(1080, 1920, 8, 7) > MAX_TILES_PER_FRAME
    with pytest.raises(UserError, match=r"2052649 tiles|tiles \(at most 4096\)"):
        next(Upscaler(load_generator(ckpt), tile=8, tile_overlap=7).upscale_frames([frame]))


def test_api_misuse_is_one_line_or_correct(ckpt):
    from tecogan.api import Upscaler, load_generator
    up = Upscaler(load_generator(ckpt))
    assert list(up.upscale_frames([])) == []  # an empty clip: no outputs (was an IndexError)
    with pytest.raises(UserError, match="no such GPU|device 3.5: expected"):
        Upscaler(load_generator(ckpt), device="cuda:77") if torch.cuda.is_available() else \
            Upscaler(load_generator(ckpt), device=3.5)


def _jpeg_with_orientation(path, img, orientation):
    """A JPEG whose EXIF says how to turn it (6: rotate 90 degrees clockwise to view)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    data = buf.tobytes()
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01" + \
        struct.pack(">H", orientation) + b"\x00\x00" + b"\x00\x00\x00\x00"
    app1 = b"Exif\x00\x00" + tiff
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])


def test_jpeg_exif_orientation_is_applied(tmp_path):
    from tecogan.utils.fileio import read_image_rgb
    img = np.zeros((16, 32, 3), np.uint8)
    img[:, :8] = 255  # a white band on the left
    _jpeg_with_orientation(tmp_path / "a.jpg", img, 6)
    out = read_image_rgb(str(tmp_path / "a.jpg"))
    assert out.shape == (32, 16, 3)  # turned upright as the EXIF says
    assert out[:8].mean() > 200 and out[-8:].mean() < 50  # the band is now on top
    _jpeg_with_orientation(tmp_path / "b.jpg", img, 1)
    assert read_image_rgb(str(tmp_path / "b.jpg")).shape == (16, 32, 3)


def test_clip_length_is_bounded(tmp_path, monkeypatch):
    from tecogan.utils import fileio
    write_frames(tmp_path / "in", n=3)
    monkeypatch.setattr(fileio, "MAX_CLIP_FRAMES", 2)
    with pytest.raises(UserError, match="3 frames, more than the 2 of one sequence"):
        fileio.list_images(str(tmp_path / "in"))
