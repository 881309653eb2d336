"""Output size after the network (--outscale, --target_height, --target_width), progress lines
for logs, --quiet and --threads (upscale.py, VideoOptions, the API)."""

import io
import os

import av
import cv2
import numpy as np
import pytest
import torch
from avclips import make_clip
from helpers import save_tiny_generator, upscale_in_process

import tecogan
from tecogan.inference.options import OptionError
from tecogan.jobs.video_options import VideoOptions, output_size, resize_frame
from tecogan.utils.progress import Progress, counted, format_seconds, progress_line


def clip_frames(n=4, h=12, w=16):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(save_tiny_generator(tmp_path_factory.mktemp("ck"), degradation="BI")[0])


def video_size(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.width, s.height, sum(1 for _ in c.decode(s))


def test_output_size_rules():
    assert output_size(480, 270, 4, VideoOptions(target_height=1080)) is None  # the network's own size
    assert output_size(640, 360, 4, VideoOptions(target_height=1080)) == (1920, 1080)
    assert output_size(640, 480, 4, VideoOptions(target_height=1080)) == (1440, 1080)
    assert output_size(16, 12, 4, VideoOptions(outscale=3.5)) == (56, 42)
    assert output_size(15, 11, 4, VideoOptions(outscale=3.5)) == (52, 38)  # even sides
    assert output_size(16, 12, 4, VideoOptions(target_width=30)) == (30, 22)
    assert output_size(16, 12, 4, VideoOptions()) is None
    with pytest.raises(OptionError, match="give one of"):
        VideoOptions(outscale=2.0, target_height=100)
    for bad in (
        dict(outscale=0),
        dict(outscale=float("inf")),
        dict(target_height=1),
        dict(target_width=10**6),
        dict(target_height=100.5),
        dict(quiet="yes"),
    ):
        with pytest.raises(OptionError):
            VideoOptions(**bad)


def test_resizer_by_direction():
    img = np.zeros((40, 40, 3), np.uint8)
    img[::2] = 255  # a pattern area averaging turns grey when halved
    down = resize_frame(img, (20, 20))
    assert down.shape == (20, 20, 3) and np.all(np.abs(down.astype(int) - 128) <= 1)
    assert np.array_equal(resize_frame(img, (60, 50)), cv2.resize(img, (60, 50), interpolation=cv2.INTER_LANCZOS4))


def test_target_height_and_outscale_on_a_video(tmp_path, ckpt, capsys, monkeypatch):
    src = tmp_path / "in.mp4"
    make_clip(src, clip_frames())
    status, out, _ = upscale_in_process(
        capsys,
        monkeypatch,
        src,
        tmp_path / "h.mp4",
        "--model",
        ckpt,
        "--device",
        "cpu",
        "--target_height",
        30,
        "--compare",
        tmp_path / "cmp.mp4",
    )
    assert status == 0 and "16x12 -> 40x30 (x4, then resized)" in out
    assert video_size(tmp_path / "h.mp4") == (40, 30, 4)
    assert video_size(tmp_path / "cmp.mp4") == (80, 30, 4)
    status, _, _ = upscale_in_process(
        capsys, monkeypatch, src, tmp_path / "s", "--model", ckpt, "--device", "cpu", "--outscale", 3.5
    )
    assert status == 0
    names = sorted(os.listdir(tmp_path / "s"))
    assert len(names) == 4 and cv2.imread(str(tmp_path / "s" / names[0])).shape == (42, 56, 3)
    status, _, err = upscale_in_process(
        capsys, monkeypatch, src, tmp_path / "x.mp4", "--model", ckpt, "--outscale", 2, "--target_width", 40
    )
    assert status == 2 and "give one of" in err and not (tmp_path / "x.mp4").exists()
    status, _, err = upscale_in_process(
        capsys, monkeypatch, src, tmp_path / "x.mp4", "--model", ckpt, "--target_height", 40, "--target_width", 40
    )  # every option named as the command's flag
    assert status == 2 and "error: --target_height and --target_width: give one of --outscale, --target_height" in err, err


def test_api_outscale_and_threads(tmp_path, ckpt):
    src = tmp_path / "in.mp4"
    make_clip(src, clip_frames())
    before = torch.get_num_threads()
    try:
        up = tecogan.Upscaler(tecogan.load_generator(ckpt), device="cpu", threads=1)
        assert torch.get_num_threads() == 1
        up.upscale_video(src, tmp_path / "o.mkv", outscale=3.5, quiet=True)
    finally:
        torch.set_num_threads(before)
    assert video_size(tmp_path / "o.mkv") == (56, 42, 4)
    with pytest.raises(OptionError, match="threads 0"):
        tecogan.Upscaler(tecogan.load_generator(ckpt), threads=0)


def test_quiet_keeps_only_the_final_line(tmp_path, ckpt, capsys, monkeypatch):
    src = tmp_path / "in.mp4"
    make_clip(src, clip_frames())
    status, out, err = upscale_in_process(
        capsys, monkeypatch, src, tmp_path / "q.mp4", "--model", ckpt, "--device", "cpu", "--quiet"
    )
    assert status == 0 and out.strip().splitlines() == [out.strip()] and out.startswith("4 frames in")


def test_progress_lines_for_logs():
    now = [0.0]
    stream = io.StringIO()  # not a terminal: lines
    progress = Progress(total=10, desc="upscale", stream=stream, every=5, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 2.0
        progress.update()
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "upscale: 3/10 frames, 0.50 frames/s, 14s left"
    assert len(lines) == 3 and lines[-1].startswith("upscale: 9/10 frames")
    quiet = io.StringIO()
    Progress(total=3, stream=quiet, quiet=True, every=0).update()
    assert quiet.getvalue() == ""
    assert format_seconds(3725) == "1h02m" and format_seconds(65) == "1m05s"
    assert (counted(1, "chunk"), counted(0, "chunk"), counted(4, "chunk")) == ("1 chunk", "0 chunks", "4 chunks")
    assert progress_line("test", 5, None, 10) == "test: 5 frames, 0.50 frames/s"
