"""Colour kept: 10-bit input gives 10-bit output (h265, ffv1 ...) with no 8-bit rounding between
the network and the encoder, colour tags copied from the input, h264 stays 8-bit, HDR refused."""

from fractions import Fraction

import av
import numpy as np
import pytest
from avclips import make_clip, pattern, probe
from helpers import save_tiny_generator, tree_hash, upscale_in_process

from tecogan.inference.steppers import infer_sequence
from tecogan.video import open_source

BT2020 = dict(colorspace=9, color_range=1, primaries=9, trc=14)  # BT.2020 matrix/primaries, 10-bit transfer


def deep_frames(n=3, side=64, seed=0):
    """uint16 RGB frames with detail below one 8-bit step."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    out = []
    for i in range(n):
        base = 30000 + 18000 * np.sin((xx + 3 * i) / 7.0)[..., None] * np.cos(yy / 9.0)[..., None]
        out.append((base + rng.normal(0, 300, (side, side, 3))).clip(0, 65535).astype(np.uint16))
    return out


@pytest.fixture(scope="module")
def ckpt_net(tmp_path_factory):
    path, net = save_tiny_generator(tmp_path_factory.mktemp("ck"))
    return str(path), net


@pytest.fixture(scope="module")
def hevc10(tmp_path_factory):
    if "libx265" not in av.codecs_available:
        pytest.skip("the installed PyAV has no libx265 encoder")
    path = tmp_path_factory.mktemp("in") / "in10.mkv"
    return make_clip(
        path,
        deep_frames(),
        codec="libx265",
        pix_fmt="yuv420p10le",
        rate=12,
        options={"x265-params": "log-level=error", "crf": "8"},
        **BT2020,
    )


def test_10bit_hevc_comes_out_10bit_with_its_colour_tags(tmp_path, ckpt_net, hevc10, capsys, monkeypatch):
    path, _ = ckpt_net
    assert probe(hevc10)["pix_fmt"] == "yuv420p10le"
    out = tmp_path / "out.mkv"
    status, _, err = upscale_in_process(
        capsys, monkeypatch, hevc10, out, "--model", path, "--device", "cpu", "--codec", "h265", "--quiet"
    )
    assert status == 0, err
    p = probe(out)
    assert (p["codec"], p["frames"], p["width"], p["height"], p["pix_fmt"]) == ("hevc", 3, 256, 256, "yuv420p10le")
    assert (p["colorspace"], p["color_range"], p["primaries"], p["trc"]) == (9, 1, 9, 14)


def test_10bit_lossless_output_is_the_network_output_to_10_bits(tmp_path, ckpt_net, hevc10, capsys, monkeypatch):
    path, net = ckpt_net
    out = tmp_path / "out.mkv"
    status, _, err = upscale_in_process(
        capsys, monkeypatch, hevc10, out, "--model", path, "--device", "cpu", "--codec", "ffv1", "--quiet"
    )
    assert status == 0, err
    p = probe(out)
    assert p["pix_fmt"] == "gbrp10le" and (p["colorspace"], p["color_range"], p["primaries"], p["trc"]) == (0, 2, 9, 14)
    source = open_source(str(hevc10))
    source.deep = True
    lr = [f.image for f in source.frames()]
    assert lr[0].dtype == np.uint16
    expected = [e.astype(np.int64) for e in infer_sequence(net, np.stack(lr), 5, "reflect")]
    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="rgb48le").astype(np.int64) for f in c.decode(video=0)]
    for g, e in zip(got, expected, strict=True):
        error = np.abs(g - e)
        rounded8 = np.abs(np.round(e / 257) * 257 - e)  # what an 8-bit stage would cost
        assert error.max() <= 64  # one 10-bit step (swscale truncates, then widens 10 -> 16 bits)
        assert error.mean() < 0.5 * rounded8.mean()


def test_h264_stays_8bit_and_keeps_the_tags(tmp_path, ckpt_net, hevc10, capsys, monkeypatch):
    path, _ = ckpt_net
    out = tmp_path / "out.mp4"
    status, _, err = upscale_in_process(capsys, monkeypatch, hevc10, out, "--model", path, "--device", "cpu", "--quiet")
    assert status == 0, err
    p = probe(out)
    assert (p["codec"], p["pix_fmt"]) == ("h264", "yuv420p")
    assert (p["colorspace"], p["color_range"], p["primaries"], p["trc"]) == (9, 1, 9, 14)
    status, _, err = upscale_in_process(
        capsys,
        monkeypatch,
        hevc10,
        tmp_path / "o10.mkv",
        "--model",
        path,
        "--device",
        "cpu",
        "--pix_fmt",
        "yuv420p10le",
        "--quiet",
    )
    assert status == 0, err
    assert probe(tmp_path / "o10.mkv")["pix_fmt"] == "yuv420p10le"


def test_8bit_tagged_input_keeps_its_tags_in_8_bits(tmp_path, ckpt_net, capsys, monkeypatch):
    path, _ = ckpt_net
    src = make_clip(
        tmp_path / "in.mkv",
        [(f >> 8).astype(np.uint8) for f in deep_frames(side=32)],
        codec="ffv1",
        pix_fmt="yuv420p",
        colorspace=5,
        color_range=2,
        primaries=5,
        trc=6,
    )
    out = tmp_path / "out.mkv"
    status, _, err = upscale_in_process(
        capsys, monkeypatch, src, out, "--model", path, "--device", "cpu", "--codec", "h265", "--quiet"
    )
    assert status == 0, err
    p = probe(out)
    assert p["pix_fmt"] in ("yuv420p", "yuvj420p")  # FFmpeg names full-range 4:2:0 yuvj420p
    assert (p["colorspace"], p["color_range"], p["primaries"], p["trc"]) == (5, 2, 5, 6)
    # prores_ks writes the frames' primaries and transfer, not the stream's: they are on the frames too
    prores = tmp_path / "out.mov"
    status, _, err = upscale_in_process(
        capsys, monkeypatch, src, prores, "--model", path, "--device", "cpu", "--codec", "prores", "--quiet"
    )
    assert status == 0, err
    with av.open(str(prores)) as c:
        frame = next(c.decode(video=0))
        assert (frame.colorspace in (5, 6), frame.color_primaries, frame.color_trc) == (True, 5, 6)  # 5, 6: BT.601


@pytest.mark.parametrize("trc,name,white", [(16, "PQ", 0.58), (18, "HLG", 0.75)])
def test_hdr_is_tone_mapped_to_sdr_bt709(tmp_path, ckpt_net, capsys, monkeypatch, trc, name, white):
    """A phone's HDR clip (BT.2020, PQ or HLG, 10 bits) is read as SDR BT.709: HDR's reference
    white (203 cd/m2: PQ signal 0.58, HLG 0.75) near SDR white, black black, one warning line, an
    output tagged BT.709."""
    from tecogan.video.hdr import hdr_to_sdr

    path, _ = ckpt_net
    frames = [np.full((32, 32, 3), round(v * 65535), np.uint16) for v in (white, 0.0)]
    src = make_clip(
        tmp_path / "hdr.mkv", frames, codec="ffv1", pix_fmt="yuv420p10le", colorspace=9, color_range=1, primaries=9, trc=trc
    )
    out = tmp_path / "out.mkv"
    status, _, err = upscale_in_process(capsys, monkeypatch, src, out, "--model", path, "--device", "cpu", "--codec", "h265")
    assert status == 0, err
    assert f"HDR video ({name}): tone-mapped to SDR BT.709" in err
    p = probe(out)
    assert (p["frames"], p["primaries"], p["trc"], p["colorspace"]) == (2, 1, 1, 1)
    ref_white, black = (frame.image for frame in open_source(str(src)).frames())
    assert ref_white.dtype == np.uint8 and 238 <= ref_white.min() <= ref_white.max() <= 248, ref_white[0, 0]
    assert black.max() <= 1
    ramp = hdr_to_sdr(np.linspace(0, 1, 101, dtype=np.float32)[None, :, None].repeat(3, axis=2), name)[0, :, 0]
    assert (np.diff(ramp) > -1e-6).all() and ramp[0] == 0 and ramp[-1] == 1  # monotonic (float32), black to white


def test_vp9_without_10bit_formats_warns_and_writes_8_bits(tmp_path, ckpt_net, hevc10, capsys, monkeypatch):
    from tecogan.video import CODECS

    path, _ = ckpt_net
    formats = [f.name for f in av.codec.Codec(CODECS["vp9"].encoder, "w").video_formats or ()]
    status, _, err = upscale_in_process(
        capsys, monkeypatch, hevc10, tmp_path / "out.webm", "--model", path, "--device", "cpu", "--codec", "vp9", "--quiet"
    )
    assert status == 0, err
    p = probe(tmp_path / "out.webm")
    if "yuv420p10le" in formats:  # an FFmpeg whose libvpx is built for 10 bits
        assert p["pix_fmt"] == "yuv420p10le" and "warning" not in err
    else:
        assert p["pix_fmt"] == "yuv420p" and "has no 10-bit format" in err
    assert (p["colorspace"], p["primaries"], p["trc"]) == (9, 9, 14)


@pytest.fixture(scope="module")
def deep_clip(tmp_path_factory):
    frames = [(f.astype(np.uint16) * 257) for f in pattern(3, 24, 32)]
    return make_clip(
        tmp_path_factory.mktemp("deep") / "in10.mkv",
        frames,
        codec="ffv1",
        pix_fmt="yuv420p10le",
        rate=12,
        time_base=Fraction(1, 12),
    )


def test_10bit_into_h264_says_it_drops_to_8_bits(tmp_path, ckpt, deep_clip, capsys, monkeypatch):
    before = tree_hash(deep_clip)
    status, _, err = upscale_in_process(
        capsys, monkeypatch, deep_clip, tmp_path / "out.mp4", "--model", ckpt, "--device", "cpu", "--quiet"
    )
    assert status == 0, err
    drops = [line for line in err.splitlines() if "10-bit samples" in line]
    assert len(drops) == 1, err
    assert drops[0].startswith(
        f"warning: {tmp_path / 'out.mp4'}: the input has 10-bit samples; h264 writes yuv420p (8 bits): --codec h265"
    ), drops
    assert "--pix_fmt yuv420p10le" in drops[0]
    assert probe(tmp_path / "out.mp4")["pix_fmt"] == "yuv420p"
    for keep in (["--codec", "h265"], ["--pix_fmt", "yuv420p"]):  # kept, or 8 bits asked for: no word
        status, _, err = upscale_in_process(
            capsys, monkeypatch, deep_clip, tmp_path / f"o{keep[1]}.mkv", "--model", ckpt, "--device", "cpu", "--quiet", *keep
        )
        assert status == 0 and "10-bit samples" not in err, err
    assert tree_hash(deep_clip) == before


def _yuv_planes(path):
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        return [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].astype(float) for p in frame.planes]


def test_8bit_colour_conversions_round_instead_of_truncating(tmp_path):
    """A flat grey Y=100 (BT.601, limited range) is RGB 97.8: read as 98 (swscale's default path
    gave 97, a grey level darker per pass); a lossless read-then-write keeps the planes unbiased."""
    from tecogan.video import check_output, open_sink

    grey = av.VideoFrame(64, 48, "yuv420p")
    for i, plane in enumerate(grey.planes):
        np.frombuffer(plane, np.uint8)[:] = 100 if i == 0 else 128
    flat = tmp_path / "flat.mkv"
    with av.open(str(flat), "w") as out:
        stream = out.add_stream("ffv1", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for packet in [*stream.encode(grey), *stream.encode()]:
            out.mux(packet)
    (frame,) = list(open_source(str(flat)).frames())
    assert frame.image.dtype == np.uint8 and (frame.image == 98).all()

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:64]
    smooth = 128 + 40 * np.sin(xx / 9.0)[..., None] * np.cos(yy[..., None] / 7.0 + np.arange(3))
    clip = make_clip(tmp_path / "in.mkv", [(smooth + rng.normal(0, 2, smooth.shape)).clip(0, 255).astype(np.uint8)], codec="ffv1")
    source = open_source(str(clip))
    out = tmp_path / "out.mkv"
    sink = open_sink(str(out), source, check_output(str(out), codec="ffv1", pix_fmt="yuv420p"), audio=False)
    for frame in source.frames():
        sink.write(frame.name, frame.image, frame.time)
    sink.close()
    for before, after in zip(_yuv_planes(clip), _yuv_planes(out), strict=True):
        assert abs((after - before).mean()) < 0.05 and np.abs(after - before).mean() < 1.0  # old Y bias: -1.09


def test_10bit_colours_read_alike_in_16_and_8_bits(tmp_path):
    """Colourful 10-bit video read as 16-bit RGB (the output keeps 10 bits) and as 8-bit RGB agree
    to a grey level (swscale's bilinear full-chroma path once gave 16-bit RGB with green near 0)."""
    yy, xx = np.mgrid[0:48, 0:64]
    rgb = 0.5 + 0.35 * np.sin(xx / 9.0)[..., None] * np.cos(yy[..., None] / 7.0 + np.arange(3))
    src = make_clip(tmp_path / "in10.mkv", [(rgb * 65535).astype(np.uint16)], codec="ffv1", pix_fmt="yuv420p10le")
    (eight,) = [f.image for f in open_source(str(src)).frames()]
    source = open_source(str(src))
    source.deep = True
    (sixteen,) = [f.image for f in source.frames()]
    assert sixteen.dtype == np.uint16 and eight.dtype == np.uint8
    diff = sixteen / 257.0 - eight
    assert np.abs(diff.reshape(-1, 3).mean(0)).max() < 0.6 and np.abs(diff).mean() < 0.8, diff.reshape(-1, 3).mean(0)
    assert np.abs(eight / 255.0 - rgb).mean() < 0.01


def test_hdr_with_bt709_primaries_keeps_its_hues():
    """HLG on BT.709 primaries (some cameras record it): no BT.2020 -> BT.709 matrix, so a red whose
    green and blue are equal keeps them equal; on BT.2020 primaries the matrix does mix them."""
    from tecogan.video.hdr import hdr_to_sdr

    red = np.array([[[0.75, 0.3, 0.3]]], np.float32)
    r, g, b = hdr_to_sdr(red, "HLG", bt2020=False)[0, 0]
    assert r > 0.9 and abs(g - b) < 1e-6
    r, g, b = hdr_to_sdr(red, "HLG")[0, 0]
    assert abs(g - b) > 0.05
