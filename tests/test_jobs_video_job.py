"""jobs/video_job.py: upscaling a video file.  A late-starting input gives an output that starts at
0 with every relative timestamp kept; an output frame size the encoder refuses (an 8x20000 input
upscaled x4) is one line before any frame is upscaled; interlaced input warns and --deinterlace
filters it; an input that is not a regular file and a huge or infinite --start are one line; a bad
encoder setting is said before an existing output.
"""

import os
from fractions import Fraction

import cv2
import numpy as np
import pytest
from avclips import make_clip, pattern, video_times
from helpers import assert_one_line, tree_hash, upscale_in_process

up = upscale_in_process


@pytest.mark.parametrize("ext, out_ext", [(".mkv", ".mp4"), (".ts", ".mkv")])
def test_late_start_gives_an_output_that_starts_at_zero(tmp_path, ckpt, capsys, monkeypatch, ext, out_ext):
    src = tmp_path / f"late{ext}"
    rel = [0, 40, 80, 160, 200]  # variable timing (ms), kept as it is
    make_clip(
        src,
        pattern(len(rel)),
        pts=[600_000 + t for t in rel],
        time_base=Fraction(1, 1000),
        fmt="mpegts" if ext == ".ts" else None,
    )
    assert video_times(src)[0] >= 599  # the input really starts late
    before = tree_hash(src)
    out = tmp_path / f"out{out_ext}"
    status, _, err = up(capsys, monkeypatch, src, out, "--model", ckpt, "--device", "cpu")
    assert status == 0, err
    times = video_times(out)
    assert times[0] == 0
    assert [round(float(t - times[0]) * 1000) for t in times] == rel
    assert tree_hash(src) == before


def test_frame_size_the_encoder_refuses_is_one_line_up_front(tmp_path, ckpt, capsys, monkeypatch):
    """8x20000 LR frames x4 are 32x80000: more than x264 takes (16384 per side)."""
    os.makedirs(tmp_path / "in")
    for i in range(2):
        cv2.imwrite(str(tmp_path / "in" / f"{i:04d}.png"), np.full((20000, 8, 3), 40 * i, np.uint8))
    before = tree_hash(tmp_path)
    import tecogan.inference.upscaler as pipeline

    def never(*_a, **_k):
        raise AssertionError("a frame was upscaled before the encoder's size check")

    monkeypatch.setattr(pipeline.Upscaler, "upscale_clip", never)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out.mp4", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "out.mp4", "cannot take 32x80000 frames", "folder of PNG frames")
    assert tree_hash(tmp_path) == before


def _interlaced_clip(path, n=6):
    make_clip(path, pattern(n, h=32, w=48), options={"flags": "+ilme+ildct", "x264-params": "interlaced=1:tff=1"})


def test_interlaced_input_warns_and_deinterlace_filters_it(tmp_path, ckpt, capsys, monkeypatch):
    src = tmp_path / "tv.mkv"
    _interlaced_clip(src)
    before = tree_hash(src)
    status, _, err = up(capsys, monkeypatch, src, tmp_path / "plain", "--model", ckpt, "--device", "cpu")
    assert status == 0, err
    warnings = [line for line in err.splitlines() if "interlaced video" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning:") and "--deinterlace" in warnings[0], err
    status, _, err = up(capsys, monkeypatch, src, tmp_path / "deint", "--model", ckpt, "--device", "cpu", "--deinterlace")
    assert status == 0, err
    assert "interlaced video" not in err
    plain, deint = sorted(os.listdir(tmp_path / "plain")), sorted(os.listdir(tmp_path / "deint"))
    assert plain == deint and len(plain) == 6  # one output frame per input frame
    differ = [
        f for f in plain if not np.array_equal(cv2.imread(str(tmp_path / "plain" / f)), cv2.imread(str(tmp_path / "deint" / f)))
    ]
    assert differ  # the fields were interpolated, not passed through
    assert tree_hash(src) == before


def test_video_input_that_is_not_a_regular_file(tmp_path, ckpt, capsys, monkeypatch):
    os.mkfifo(tmp_path / "in.mp4")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in.mp4", tmp_path / "out.mp4", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "in.mp4", "not a regular file (a FIFO")
    status, _, err = up(capsys, monkeypatch, "/dev/zero", tmp_path / "out.mp4", "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "/dev/zero", "not a regular file (a character device)")


@pytest.mark.parametrize("value", ["1e30", "inf", "nan"])
def test_huge_or_infinite_start_is_one_line(tmp_path, ckpt, capsys, monkeypatch, value):
    make_clip(tmp_path / "in.mkv", pattern(3))
    status, _, err = up(
        capsys, monkeypatch, tmp_path / "in.mkv", tmp_path / "out.mp4", "--model", ckpt, "--device", "cpu", "--start", value
    )
    assert_one_line(status, err, "start")
    assert "OverflowError" not in err and not (tmp_path / "out.mp4").exists()


def test_bad_encoder_setting_is_said_before_an_existing_output(tmp_path, ckpt, capsys, monkeypatch):
    """Fixing a typo in --pix_fmt must not take two runs: the setting is checked before the output."""
    src = make_clip(tmp_path / "in.mkv", pattern(2, h=16, w=16), codec="ffv1", pix_fmt="bgr0")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, src, out, "--model", ckpt, "--device", "cpu", "--pix_fmt", "yuv421p")
    assert_one_line(status, err, "--pix_fmt yuv421p", "takes")
    assert "already exists" not in err
    assert tree_hash(tmp_path) == before
