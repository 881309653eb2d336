"""Video files through FFmpeg (PyAV): codecs and containers, exact per-frame timing (variable
frame rate), audio and subtitles kept, trimming, rotation, colour, bit depths, failures that
leave the old output alone, and file names that are not UTF-8.

Inputs are tiny clips made here with PyAV (tests/avclips.py); outputs are probed with PyAV.
"""

import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from avclips import audio_duration, audio_packets, decode_rgb, make_clip, pattern, probe, video_times
from helpers import panning_texture, save_tiny_generator

from tecogan.inference.steppers import infer_sequence
from tecogan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = os.path.join(REPO, "codes", "upscale.py")
VFR_MS = [0, 40, 80, 200, 240, 400]  # a variable frame rate: gaps of 40, 120 and 160 ms
AAC_FRAME = 1024 / 48000


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The network is tiny: one thread avoids OpenMP workers waiting on a busy machine (10x faster)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path, net = save_tiny_generator(tmp_path_factory.mktemp("ck"))
    return str(path), net


def upscale(*args):
    """upscale.py in this process (the network is tiny; starting Python would dominate)."""
    from tecogan.upscale import build_parser, run

    return run(build_parser().parse_args([str(a) for a in args]))


def temp_files(folder):
    return [f for f in os.listdir(folder) if f.startswith((".tmp", ".tecogan-tmp"))]


def canonical(codec_name):
    return av.codec.Codec(codec_name, "r").canonical_name


def need_encoder(name):
    if name not in av.codecs_available:
        pytest.skip(f"the installed PyAV has no {name} encoder")


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv"])
def test_h264_keeps_every_timestamp_the_audio_and_bt709_tags(tmp_path, ckpt, ext):
    path, _ = ckpt
    src = make_clip(tmp_path / "in.mp4", pattern(6), pts=VFR_MS, audio=dict(seconds=0.5))
    out, cmp = tmp_path / f"out.{ext}", tmp_path / f"cmp.{ext}"
    upscale(src, out, "--model", path, "--device", "cpu", "--compare", cmp)
    p = probe(out)
    assert ext in p["format"].split(",") or (ext == "mkv" and p["format"].startswith("matroska"))
    assert (p["codec"], p["frames"], p["width"], p["height"], p["pix_fmt"]) == ("h264", 6, 128, 96, "yuv420p")
    assert (p["colorspace"], p["primaries"], p["trc"], p["color_range"]) == (1, 1, 1, 1)  # BT.709, limited
    # every frame at its input frame's time (variable frame rate kept)
    assert video_times(out) == video_times(src) == [Fraction(t, 1000) for t in VFR_MS]
    assert p["audio"] == ["aac"]
    d_in, start_in = audio_duration(src)
    d_out, start_out = audio_duration(out)
    assert abs(d_out - d_in) <= AAC_FRAME and abs(start_out - start_in) <= AAC_FRAME
    if ext != "mkv":  # copied as it is (Matroska cannot place the encoder-priming packet before 0)
        assert audio_packets(out) == audio_packets(src)
    c = probe(cmp)  # the side-by-side goes through the same writer, audio included
    assert (c["width"], c["height"], c["frames"], c["audio"]) == (256, 96, 6, ["aac"])
    assert video_times(cmp) == video_times(src)
    assert not temp_files(tmp_path)


@pytest.mark.parametrize("case", ["pcm_in_mkv_to_mp4", "aac_in_mp4_to_webm"])
def test_audio_reencoded_where_the_container_cannot_copy_it(tmp_path, ckpt, case):
    path, _ = ckpt
    if case == "pcm_in_mkv_to_mp4":
        src = make_clip(tmp_path / "in.mkv", pattern(4), audio=dict(codec="pcm_s16le", rate=44100, seconds=0.4))
        out, extra, codec, frame = tmp_path / "out.mp4", [], "aac", 1024 / 44100
    else:
        need_encoder("libvpx-vp9")
        src = make_clip(tmp_path / "in.mp4", pattern(4), audio=dict(seconds=0.4))
        out, extra, codec, frame = tmp_path / "out.webm", ["--codec", "vp9"], "opus", 0.02
    upscale(src, out, "--model", path, "--device", "cpu", *extra)
    p = probe(out)
    assert canonical(p["audio"][0]) == codec and p["frames"] == 4
    assert abs(audio_duration(out)[0] - 0.4) <= frame + 1e-6
    assert video_times(out) == video_times(src)


def test_no_audio_and_fps_retime(tmp_path, ckpt, capsys):
    path, _ = ckpt
    src = make_clip(tmp_path / "in.mp4", pattern(4), pts=VFR_MS[:4], audio=dict(seconds=0.3))
    upscale(src, tmp_path / "silent.mp4", "--model", path, "--device", "cpu", "--no_audio")
    assert probe(tmp_path / "silent.mp4")["audio"] == []
    assert video_times(tmp_path / "silent.mp4") == video_times(src)
    upscale(src, tmp_path / "retimed.mkv", "--model", path, "--device", "cpu", "--fps", 10)
    assert video_times(tmp_path / "retimed.mkv") == [Fraction(i, 10) for i in range(4)]
    assert probe(tmp_path / "retimed.mkv")["audio"] == []
    assert "audio is dropped" in capsys.readouterr().err


def test_start_and_duration_trim_video_and_audio(tmp_path, ckpt, capsys):
    path, _ = ckpt
    ms = [i * 100 for i in range(20)]  # 2 s at 10 frame/s
    src = make_clip(tmp_path / "in.mp4", pattern(20), pts=ms, audio=dict(seconds=2.0))
    from tecogan.video import open_source  # frame count and duration known before decoding

    whole, part = open_source(str(src)), open_source(str(src), start=0.5, duration=1.0)
    assert whole.count == 20 and abs(whole.duration - 2.0) <= 0.1 and (part.count, part.duration) == (10, 1.0)
    assert open_source(str(make_clip(tmp_path / "in.mkv", pattern(5)))).count == 5  # Matroska: no count stored
    out = tmp_path / "part.mp4"
    upscale(src, out, "--model", path, "--device", "cpu", "--start", 0.5, "--duration", 1.0)
    assert probe(out)["frames"] == 10
    assert video_times(out) == [Fraction(t - 500, 1000) for t in ms if 500 <= t < 1500]
    duration, start = audio_duration(out)
    assert abs(duration - 1.0) <= AAC_FRAME and abs(start) <= AAC_FRAME
    upscale(src, tmp_path / "pngs", "--model", path, "--device", "cpu", "--start", 1.5, "--crf", 20)
    assert sorted(os.listdir(tmp_path / "pngs")) == [f"{i:04d}.png" for i in range(1, 6)]
    assert "--crf, --preset and --pix_fmt apply to video files" in capsys.readouterr().err


def test_rotation_is_applied_so_the_output_is_upright(tmp_path, ckpt):
    path, net = ckpt
    lr = pattern(3)
    # lossless frames with a display matrix: a player turns them 90 degrees counter-clockwise
    src = make_clip(tmp_path / "rot.mp4", lr, codec="ffv1", pix_fmt="bgr0", rotation=90)
    upscale(src, tmp_path / "pngs", "--model", path, "--device", "cpu")
    upright = [np.ascontiguousarray(np.rot90(f, 1)) for f in lr]
    expected = list(infer_sequence(net, upright, 5, "reflect"))
    got = [decode_rgb_png(tmp_path / "pngs" / f"{i:04d}.png") for i in range(1, 4)]
    for g, e in zip(got, expected, strict=False):
        assert g.shape == (128, 96, 3) and np.array_equal(g, e)
    upscale(src, tmp_path / "up.mp4", "--model", path, "--device", "cpu")
    p = probe(tmp_path / "up.mp4")
    assert (p["width"], p["height"], p["rotation"]) == (96, 128, 0)
    # a phone's "rotate 90" (clockwise) tag: the marker of the top-left corner ends top-right
    from tecogan.video import open_source

    phone = make_clip(tmp_path / "phone.mkv", lr[:1], codec="ffv1", pix_fmt="bgr0", rotation=-90)
    ((_, frame),) = list(open_source(str(phone)))
    assert np.array_equal(frame, np.rot90(lr[0], -1)) and frame[:6, -4:].mean(axis=(0, 1))[0] > 240


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_anamorphic_input_keeps_its_displayed_shape(tmp_path, ckpt, ext):
    path, _ = ckpt
    sar = Fraction(32, 27)
    src = make_clip(tmp_path / "in.mp4", pattern(3), sar=sar)
    out, cmp, wide = tmp_path / f"out.{ext}", tmp_path / f"cmp.{ext}", tmp_path / f"wide.{ext}"
    upscale(src, out, "--model", path, "--device", "cpu", "--compare", cmp)
    upscale(src, wide, "--model", path, "--device", "cpu", "--target_width", 100)  # 100x76: not quite 32:24
    for video, size in ((out, (128, 96)), (cmp, (256, 96)), (wide, (100, 76))):
        with av.open(str(video)) as c:
            v = c.streams.video[0]
            assert (v.codec_context.width, v.codec_context.height) == size
            shown = Fraction(size[0] // (2 if video == cmp else 1), size[1]) * v.sample_aspect_ratio
            assert abs(shown - Fraction(32, 24) * sar) < Fraction(1, 1000), video
    with av.open(str(out)) as c:
        assert c.streams.video[0].sample_aspect_ratio == sar
    if ext == "mp4":  # vp9 has no pixel aspect of its own: MP4's container records it
        upscale(src, tmp_path / "vp9.mp4", "--model", path, "--device", "cpu", "--codec", "vp9")
        with av.open(str(tmp_path / "vp9.mp4")) as c:
            assert c.streams.video[0].sample_aspect_ratio == sar
    square = make_clip(tmp_path / "square.mp4", pattern(2))
    upscale(square, tmp_path / f"sq.{ext}", "--model", path, "--device", "cpu")
    with av.open(str(tmp_path / f"sq.{ext}")) as c:
        assert c.streams.video[0].codec_context.sample_aspect_ratio in (None, 0)  # untagged, as before


def decode_rgb_png(path):
    import cv2

    return cv2.imread(str(path))[..., ::-1]


BLOCKS = [(230, 40, 40), (40, 200, 60), (30, 60, 220), (240, 240, 240), (20, 20, 20), (200, 150, 40)]


def blocks_image(side=16):
    img = np.zeros((2 * side, 3 * side, 3), np.uint8)
    for k, c in enumerate(BLOCKS):
        y, x = divmod(k, 3)
        img[y * side : (y + 1) * side, x * side : (x + 1) * side] = c
    return img


def block_error(img, ref):
    """Largest error inside the colour blocks (away from their edges, where 4:2:0 chroma blurs)."""
    side, worst = ref.shape[0] // 2, 0
    for k in range(len(BLOCKS)):
        y, x = divmod(k, 3)
        sl = np.s_[y * side + 5 : (y + 1) * side - 5, x * side + 5 : (x + 1) * side - 5]
        worst = max(worst, int(np.abs(img[sl].astype(int) - ref[sl]).max()))
    return worst


@pytest.mark.parametrize(
    "codec,pix_fmt,colorspace,color_range,tol",
    [
        ("ffv1", "yuv420p", 1, 1, 3),  # 8-bit 4:2:0, BT.709, limited range
        ("ffv1", "yuv420p", 5, 2, 3),  # BT.601, full range
        ("ffv1", "yuv422p", 1, 2, 3),  # 4:2:2, full range
        ("ffv1", "yuv444p", 6, 1, 2),  # 4:4:4, SMPTE 170M
        ("ffv1", "yuv420p10le", 1, 1, 3),  # 10-bit
        ("ffv1", "yuv444p10le", 9, 2, 2),  # 10-bit BT.2020 matrix, full range
        ("libx265", "yuv420p10le", 1, 1, 8),  # a real 10-bit HEVC clip (lossy)
    ],
)
def test_decoding_to_rgb_follows_bit_depth_chroma_matrix_and_range(tmp_path, codec, pix_fmt, colorspace, color_range, tol):
    from tecogan.video import open_source

    need_encoder(codec)
    img = blocks_image(32 if codec == "libx265" else 16)  # x265 needs frames of 64x64 or more
    options = {"x265-params": "log-level=error", "crf": "4"} if codec == "libx265" else None
    src = make_clip(
        tmp_path / "c.mkv",
        [img] * 3,
        codec=codec,
        pix_fmt=pix_fmt,
        colorspace=colorspace,
        color_range=color_range,
        options=options,
    )
    frames = [f for _, f in open_source(str(src))]
    assert len(frames) == 3 and frames[0].dtype == np.uint8 and frames[0].shape == img.shape
    assert block_error(frames[0], img) <= tol
    if codec == "ffv1" and color_range == 2:  # the range matters: read as limited range it is far off
        with av.open(str(src)) as c:
            wrong = next(c.decode(video=0)).to_ndarray(format="rgb24", src_colorspace=colorspace, src_color_range=1)
        assert block_error(wrong, img) > 10


def test_crf_sets_quality_and_size(tmp_path, ckpt):
    path, _ = ckpt
    src = make_clip(tmp_path / "in.mp4", pattern(6, seed=3))
    upscale(src, tmp_path / "hq.mp4", "--model", path, "--device", "cpu", "--crf", 10, "--preset", "fast")
    upscale(src, tmp_path / "lq.mp4", "--model", path, "--device", "cpu", "--crf", 40, "--preset", "fast")
    hq, lq = os.path.getsize(tmp_path / "hq.mp4"), os.path.getsize(tmp_path / "lq.mp4")
    assert hq > 2 * lq, (hq, lq)


@pytest.mark.parametrize(
    "codec,name,decoded,pix_fmt,audio",
    [
        ("h265", "out.mp4", "hevc", "yuv420p", "aac"),
        ("av1", "out.webm", "av1", "yuv420p", "opus"),
        ("vp9", "out.mkv", "vp9", "yuv420p", "aac"),
        ("ffv1", "out.mkv", "ffv1", "bgr0", "aac"),
        ("prores", "out.mov", "prores", "yuv422p10le", "aac"),
        ("mp4v", "out.avi", "mpeg4", "yuv420p", "pcm_s16le"),
    ],
)
def test_codecs_and_containers(tmp_path, ckpt, codec, name, decoded, pix_fmt, audio):
    from tecogan.video import CODEC_ALIASES, CODECS

    path, net = ckpt
    need_encoder(CODECS[CODEC_ALIASES.get(codec, codec)].encoder)
    lr = pattern(3)
    src = make_clip(tmp_path / "in.mp4", lr, audio=dict(seconds=0.2))
    upscale(src, tmp_path / name, "--model", path, "--device", "cpu", "--codec", codec)
    p = probe(tmp_path / name)
    assert (canonical(p["codec"]), p["frames"], p["width"], p["height"], p["pix_fmt"]) == (decoded, 3, 128, 96, pix_fmt)
    assert [canonical(a) for a in p["audio"]] == [audio]
    if codec == "ffv1":  # lossless RGB: the decoded frames are the network's output, bit for bit
        expected = list(infer_sequence(net, [f for f in decode_rgb(src)], 5, "reflect"))
        for g, e in zip(decode_rgb(tmp_path / name), expected, strict=False):
            assert np.array_equal(g, e)


def test_webm_without_codec_is_vp9_and_the_others_h264(tmp_path, ckpt):
    path, _ = ckpt
    src = make_clip(tmp_path / "in.mp4", pattern(2))
    upscale(src, tmp_path / "out.webm", "--model", path, "--device", "cpu", "--compare", tmp_path / "cmp.mkv")
    assert (probe(tmp_path / "out.webm")["codec"], probe(tmp_path / "cmp.mkv")["codec"]) == ("vp9", "h264")


def test_impossible_decoding_timestamps_are_repaired():
    from tecogan.video import sane_dts

    assert sane_dts(42, 0, None, 10000) == 0  # B-frame reordering: kept
    assert sane_dts(0, -84, None, 10000) == -84
    # libx265 on a 1- or 2-frame clip: an uninitialised dts, after the pts or absurdly before it
    assert sane_dts(0, 7581765344609921336, None, 10000) == 0
    assert sane_dts(42, -94155306737174, 0, 10000) == 1
    assert sane_dts(42, 10**12, 41, 10000) == 42


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["out.mp4", "--codec", "prores"],
            "a .mp4 file cannot hold prores video (--codec prores fits .mov, .mkv; .mp4 takes --codec h264, h265, av1",
        ),
        (["out.webm", "--codec", "ffv1"], "a .webm file cannot hold ffv1 video"),
        (["out.webm", "--codec", "h264"], "a .webm file cannot hold h264 video"),  # asked for: not replaced
        (["out.mp4", "--codec", "xvid"], "--codec xvid: unknown codec (expected h264, h265, av1, vp9, ffv1, prores, mpeg4)"),
        (["out.mp4", "--crf", "60"], "--crf 60: expected 0..51 for h264"),
        (["out.mkv", "--codec", "ffv1", "--crf", "5"], "--crf 5: ffv1 has no quality setting (it is lossless)"),
        (["out.mp4", "--preset", "turbo"], "--preset turbo: expected one of ultrafast"),
        (["out.mkv", "--codec", "av1", "--pix_fmt", "yuv444p"], "--pix_fmt yuv444p: av1 (libsvtav1) takes yuv420p, yuv420p10le"),
        (["out.wmv"], "cannot write .wmv videos (expected .avi, .mkv, .mov, .mp4, .webm"),
        (["pngs", "--compare", "side.avi", "--codec", "prores"], "--compare side.avi: a .avi file cannot hold prores"),
    ],
)
def test_bad_output_settings_are_one_line_before_any_work(tmp_path, args, message):
    # neither the input nor the model exists: the settings are checked before either is opened
    with pytest.raises(UserError) as err:
        upscale(
            tmp_path / "missing.mp4",
            *[str(tmp_path / a) if a.startswith(("out", "side")) or a == "pngs" else a for a in args],
            "--model",
            tmp_path / "none.pth",
        )
    assert message in err.value.for_command().replace(str(tmp_path) + os.sep, "")  # upscale.py's run(): its flags


def test_bad_codec_is_one_line_and_exit_2_from_the_command(tmp_path):
    r = subprocess.run(
        [sys.executable, UPSCALE, "in.mp4", "out.mp4", "--codec", "prores", "--model", "x.pth"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "out.mp4: a .mp4 file cannot hold prores video" in r.stderr


def _resolution_change_clip(path):
    """An MPEG-TS clip whose frames change from 32x24 to 40x24 at frame 4."""
    a, b = path.with_suffix(".a.ts"), path.with_suffix(".b.ts")
    make_clip(a, pattern(3), fmt="mpegts", time_base=Fraction(1, 90000), options={"bf": "0"})
    make_clip(
        b,
        pattern(3, w=40),
        fmt="mpegts",
        time_base=Fraction(1, 90000),
        options={"bf": "0"},
        pts=[(3 + i) * 3750 for i in range(3)],
    )
    path.write_bytes(a.read_bytes() + b.read_bytes())
    return path


def test_failures_keep_the_old_output_and_leave_no_temporary_file(tmp_path, ckpt, monkeypatch):
    path, _ = ckpt
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the previous result")
    # a frame size that changes mid-stream: an error naming the frame
    src = _resolution_change_clip(tmp_path / "changing.ts")
    with pytest.raises(UserError, match=r"changing\.ts frame 4: frame is 40x24 but earlier frames are 32x24"):
        upscale(src, out, "--model", path, "--device", "cpu", "--overwrite")
    assert out.read_bytes() == b"the previous result" and not temp_files(tmp_path)
    # a file cut short: fewer frames decode than the container counts
    whole = make_clip(
        tmp_path / "whole.mp4",
        pattern(12, seed=1),
        codec="ffv1",
        pix_fmt="bgr0",
        options={"level": "3", "slicecrc": "1"},
        container_options={"movflags": "+faststart"},
    )
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"cut\.mp4 frame 7: cannot be read: the container lists 12 frames but only 6"):
        upscale(cut, out, "--model", path, "--device", "cpu", "--overwrite")
    assert out.read_bytes() == b"the previous result" and not temp_files(tmp_path)
    # damaged bytes in the middle: the frame that cannot be decoded is named
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(
        data[: len(data) // 2]
        + bytes(b ^ 0x5A for b in data[len(data) // 2 : len(data) // 2 + 400])
        + data[len(data) // 2 + 400 :]
    )
    with pytest.raises(UserError, match=r"damaged\.mp4 frame \d+: FFmpeg cannot decode it"):
        upscale(damaged, out, "--model", path, "--device", "cpu", "--overwrite")
    assert out.read_bytes() == b"the previous result" and not temp_files(tmp_path)
    # Ctrl-C in the middle of the run
    import tecogan.inference.upscaler

    def interrupted(*args, **kwargs):
        for i, hr in enumerate(real(*args, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield hr

    real = tecogan.inference.upscaler.ClipRun.run
    monkeypatch.setattr(tecogan.inference.upscaler.ClipRun, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        upscale(whole, out, "--model", path, "--device", "cpu", "--compare", tmp_path / "cmp.mkv", "--overwrite")
    assert out.read_bytes() == b"the previous result" and not (tmp_path / "cmp.mkv").exists()
    assert not temp_files(tmp_path)


def test_subtitles_are_copied_where_the_container_takes_them(tmp_path, ckpt, capsys):
    path, _ = ckpt
    subs = [(0, 150, b"Hello"), (200, 330, b"World")]
    src = make_clip(
        tmp_path / "in.mkv", pattern(4), audio=dict(codec="pcm_s16le", rate=16000, layout="mono", seconds=0.3), subtitles=subs
    )
    upscale(src, tmp_path / "out.mkv", "--model", path, "--device", "cpu")
    p = probe(tmp_path / "out.mkv")
    assert p["subtitles"] == ["subrip"] and p["audio"] == ["pcm_s16le"]
    with av.open(str(tmp_path / "out.mkv")) as c:
        s = c.streams.subtitles[0]
        got = [(int(p.pts * s.time_base * 1000), bytes(p)) for p in c.demux(s) if p.size]
    assert got == [(0, b"Hello"), (200, b"World")]
    upscale(src, tmp_path / "out.mp4", "--model", path, "--device", "cpu")
    assert probe(tmp_path / "out.mp4")["subtitles"] == []
    assert "subtitle stream 2 (subrip) dropped: a .mp4 file cannot hold it" in capsys.readouterr().err


def test_frame_folder_in_with_fps(tmp_path, ckpt):
    import cv2

    path, _ = ckpt
    os.makedirs(tmp_path / "frames")
    for i, f in enumerate(pattern(4)):
        cv2.imwrite(str(tmp_path / "frames" / f"{i:03d}.png"), f[..., ::-1])
    upscale(tmp_path / "frames", tmp_path / "out.mp4", "--model", path, "--device", "cpu", "--fps", 12)
    assert video_times(tmp_path / "out.mp4") == [Fraction(i, 12) for i in range(4)]
    assert probe(tmp_path / "out.mp4")["audio"] == []


def test_file_names_that_are_not_utf8(tmp_path, ckpt):
    path, _ = ckpt
    src = os.path.join(os.fsencode(tmp_path), b"clip\xff.mp4")
    try:
        make_clip(os.fsdecode(src), pattern(3), audio=dict(seconds=0.2))
    except (OSError, UnicodeError) as err:
        pytest.skip(f"this file system refuses a non-UTF-8 name: {err}")
    out = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"out\xfe.mkv"))
    r = subprocess.run(
        [
            sys.executable,
            UPSCALE,
            os.fsdecode(src),
            out,
            "--model",
            path,
            "--device",
            "cpu",
            "--compare",
            os.fsdecode(os.path.join(os.fsencode(tmp_path), b"cmp\xfd.mp4")),
        ],
        capture_output=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert b"clip\\xff.mp4 -> " in r.stdout
    p = probe(out)
    assert (p["frames"], p["width"], p["audio"]) == (3, 128, ["aac"])
    assert probe(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"cmp\xfd.mp4")))["width"] == 256
    # frame folders too: PNGs written to and read from folders (and files) with such names
    pngs = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"pngs\xfc"))
    upscale(os.fsdecode(src), pngs, "--model", path, "--device", "cpu")
    assert sorted(os.listdir(pngs)) == ["0001.png", "0002.png", "0003.png"]
    os.rename(os.path.join(pngs, "0001.png"), os.path.join(pngs, os.fsdecode(b"0000\xfb.png")))
    upscale(pngs, os.fsdecode(os.path.join(os.fsencode(tmp_path), b"again\xf9.mp4")), "--model", path, "--device", "cpu")
    assert probe(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"again\xf9.mp4")))["frames"] == 3
    missing = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"gone\xfa.mp4"))
    fresh = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"fresh\xf8.mkv"))
    r = subprocess.run([sys.executable, UPSCALE, missing, fresh, "--model", path], capture_output=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count(b"\n") == 1 and b"gone\\xfa.mp4: input" in r.stderr


def test_probe_accepts_what_the_encoder_takes(tmp_path):
    from tecogan.video import check_output
    from tecogan.video.writing import VideoSink

    class Source:
        rate, time_base, passthrough, path = Fraction(25), Fraction(1, 25), None, "x"

    sink = VideoSink(check_output(str(tmp_path / "o.mp4")), Source(), audio=False)
    sink.probe(64, 16384)
    with pytest.raises(Exception, match="cannot take 16386x64"):
        sink.probe(64, 16386)


def test_h264_writes_the_same_stream_every_time(tmp_path):
    """The chunks of one video (issue 35) are encoded by separate processes and must decode to the
    frames of a single run: without x264's cpu-independent its macroblock-tree rate control gave
    different streams for the same frames now and then on an AVX-512 Xeon."""
    from tecogan.video import check_output
    from tecogan.video.writing import VideoSink

    class Source:
        rate, time_base, passthrough, path = Fraction(12), Fraction(1, 12), None, "x"

    clip = panning_texture(t=16)
    streams = set()
    for i in range(32):
        path = tmp_path / f"{i}.avi"
        sink = VideoSink(check_output(str(path), codec="h264"), Source(), audio=False)
        for k, frame in enumerate(clip):
            sink.write(str(k), frame)
        sink.close(True)
        with av.open(str(path)) as f:
            streams.add(b"".join(bytes(p) for p in f.demux(video=0)))
    assert len(streams) == 1


# ------------------------------------------------------- reading: windows and timestamps ----
def _times(path, **window):
    from tecogan.video.reading import open_source

    return [f.time for f in open_source(str(path), **window).frames()]


def test_deinterlace_keeps_each_frame_s_time(tmp_path):
    """bwdif counts in half the stream's time base: its times are put back, not doubled."""
    src = tmp_path / "tv.mkv"
    make_clip(src, pattern(6, h=32, w=48), rate=25, options={"flags": "+ilme+ildct", "x264-params": "interlaced=1:tff=1"})
    plain = _times(src)
    assert _times(src, deinterlace=True) == plain == [Fraction(i, 25) for i in range(6)]
    assert _times(src, deinterlace=True, start=0.12) == [Fraction(i, 25) for i in range(3)]


@pytest.mark.parametrize("start", [0.05, 0.5, 0.7, 1.0])
def test_start_inside_a_group_of_pictures_of_an_mpeg_ts(tmp_path, start):
    """MPEG-TS has no index: a seek can land between key frames.  Every frame of the window
    comes out all the same, as from a Matroska copy of the same stream (key frames every 12)."""
    frames = pattern(48, h=32, w=48)
    ts, mkv = tmp_path / "gop.ts", tmp_path / "gop.mkv"
    for path, fmt in ((ts, "mpegts"), (mkv, None)):
        make_clip(path, frames, rate=25, time_base=Fraction(1, 90000), fmt=fmt, options={"g": "12", "keyint_min": "12"})
    want = _times(mkv, start=start)
    assert len(want) == sum(1 for i in range(48) if Fraction(i, 25) >= Fraction(str(start)))
    assert _times(ts, start=start) == want


def test_decimal_start_and_duration_are_taken_as_written(tmp_path):
    """0.2 as a float is a hair over 1/5: the frame at exactly 0.2 s is in the window."""
    src = tmp_path / "c.mp4"
    make_clip(src, pattern(12, h=32, w=48), rate=25)
    assert len(_times(src, start=0.2)) == 7  # frames 5 ... 11
    assert len(_times(src, start=0.44)) == 1  # the last frame, at 0.44 s
    assert len(_times(src, duration=0.08)) == 2 and len(_times(src, duration=0.12)) == 3


def test_fps_retiming_reports_the_retimed_length(tmp_path):
    from tecogan.video.reading import open_source

    make_clip(tmp_path / "c.mp4", pattern(12, h=32, w=48), rate=25)
    source = open_source(str(tmp_path / "c.mp4"), fps=30)
    assert source.duration == pytest.approx(12 / 30) and "0.40 s, 30 frame/s (re-timed)" in source.describe()


def test_avi_with_b_frames_keeps_its_frame_times(tmp_path, capsys):
    """AVI stores no presentation times: FFmpeg gives the frames those of the packets in
    decoding order (0.04, 0.12, 0.08 ...); the frames come out one period apart, as shown."""
    src = tmp_path / "b.avi"
    make_clip(src, pattern(12, h=32, w=48), rate=25, time_base=Fraction(1, 25), options={"preset": "medium"})
    times = _times(src)
    assert [b - a for a, b in zip(times[:-1], times[1:], strict=True)] == [Fraction(1, 25)] * 11, times


def test_truncated_files_are_not_taken_for_short_ones(tmp_path, capsys):
    """A Matroska file cut short warns (its header's duration against its last frame); an MP4
    cut short is one line with or without a window (before: accepted with --duration)."""
    from tecogan.video.reading import open_source

    mkv = tmp_path / "cut.mkv"
    make_clip(tmp_path / "whole.mkv", pattern(12, h=91, w=161), codec="ffv1", pix_fmt="bgr0", rate=25)
    data = (tmp_path / "whole.mkv").read_bytes()
    mkv.write_bytes(data[: len(data) // 2])
    frames = list(open_source(str(mkv)).frames())
    err = capsys.readouterr().err
    assert 0 < len(frames) < 12 and "cut.mkv: its header says 0.48 s" in err and "truncated" in err, err
    list(open_source(str(tmp_path / "whole.mkv")).frames())
    assert "truncated" not in capsys.readouterr().err
    mp4 = tmp_path / "cut.mp4"
    make_clip(tmp_path / "whole.mp4", pattern(24, h=32, w=48), rate=25, container_options={"movflags": "faststart"})
    data = (tmp_path / "whole.mp4").read_bytes()
    mp4.write_bytes(data[: int(len(data) * 0.8)])
    with av.open(str(mp4)) as container:
        present = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    assert 2 < present < 24
    for window in ({}, {"duration": 0.9}, {"start": 0.04}):
        with pytest.raises(UserError, match="cut.mp4.*truncated or damaged"):
            open_source(str(mp4), **window)


def test_a_matroska_file_starting_late_is_not_taken_for_a_truncated_one(tmp_path, capsys):
    """Matroska's duration counts from 0: a clip whose timestamps start at 10 s lasts its frames'
    span, not 10 s more (before: "its header says 10.48 s ... may be truncated"); cut short, it warns."""
    from tecogan.video.reading import open_source

    late = make_clip(
        tmp_path / "late.mkv", pattern(12, h=91, w=161), pts=[10000 + 40 * i for i in range(12)], codec="ffv1", pix_fmt="bgr0"
    )
    source = open_source(str(late))
    assert len(list(source.frames())) == 12 and source.describe().startswith("12 frames, 0.48 s")
    assert "truncated" not in capsys.readouterr().err
    data = late.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    list(open_source(str(tmp_path / "cut.mkv")).frames())
    err = capsys.readouterr().err
    assert "cut.mkv: its header says 0.48 s" in err and "truncated" in err, err


def test_ctrl_c_while_the_command_starts_is_one_line(tmp_path):
    """Before run_cli takes the signals over (torch loading), SIGINT is one line and status 130;
    each command installs that first, before its heavy imports."""
    code = (
        "import os, signal, time\n"
        "from tecogan.utils.errors import exit_on_early_interrupt\n"
        "exit_on_early_interrupt()\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(30)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.path.join(REPO, "codes"), os.environ.get("PYTHONPATH")])))
    boot = f"import runpy; runpy.run_path({os.path.join(REPO, 'codes', '_clone.py')!r})\n"
    done = subprocess.run([sys.executable, "-c", boot + code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 130 and done.stderr == "error: interrupted by SIGINT\n", done
    for command in ("upscale.py", "main.py", "app.py", os.path.join("official_metrics", "evaluate.py")):
        with open(os.path.join(REPO, "codes", command), encoding="utf-8") as f:
            source = f.read()
        lines = source.splitlines()
        call = next(i for i, line in enumerate(lines) if line.strip() == "exit_on_early_interrupt()")
        heavy = [i for i, line in enumerate(lines) if line.startswith(("import torch", "from tecogan.", "import tecogan"))]
        assert all(i < call for i in heavy if "exit_on_early_interrupt" in lines[i]), command
        assert [i for i in heavy if i < call and "exit_on_early_interrupt" not in lines[i]] == [], command
