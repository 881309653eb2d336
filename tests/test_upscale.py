"""upscale.py: video/folder in and out, equality with test mode, tiling, arch inference,
bounded streaming, side-by-side output."""
import os
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
from avclips import make_clip, probe, video_times
from helpers import psnr, save_tiny_generator

from tecogan.inference.steppers import infer_sequence
from tecogan.networks.frnet import FRNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = os.path.join(REPO, "codes", "upscale.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def frames(n=6, h=20, w=28, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = 120 + 80 * np.sin((xx + 2 * i) / 4.0)[..., None] * np.cos(yy / 5.0)[..., None]
        out.append((base + rng.normal(0, 4, (h, w, 3))).clip(0, 255).astype(np.uint8))
    return out


def write_folder(folder, rgb_frames, names=None):
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(rgb_frames):
        cv2.imwrite(os.path.join(folder, names[i] if names else f"f{i:03d}.png"), f[..., ::-1])


def write_video(path, rgb_frames, fps=12):
    make_clip(path, rgb_frames, rate=fps, time_base=Fraction(1, fps))


def read_folder(folder):
    return [cv2.imread(os.path.join(folder, n))[..., ::-1] for n in sorted(os.listdir(folder))]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path, net = save_tiny_generator(tmp_path_factory.mktemp("ck"))
    return str(path), net


def upscale(*args, check=True):
    r = subprocess.run([sys.executable, UPSCALE, *map(str, args)], capture_output=True, text=True,
                       env=ENV, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_folder_to_folder_equals_test_mode(tmp_path, ckpt):
    path, net = ckpt
    lr = frames()
    names = [f"frame_{i}.png" for i in range(len(lr))]
    write_folder(tmp_path / "in", lr, names)
    upscale(tmp_path / "in", tmp_path / "out", "--model", path, "--device", "cpu")
    assert sorted(os.listdir(tmp_path / "out")) == sorted(names)
    expected = list(infer_sequence(net, np.stack(lr), 5, "reflect"))
    got = [cv2.imread(str(tmp_path / "out" / n))[..., ::-1] for n in names]
    for g, e in zip(got, expected, strict=False):
        assert np.array_equal(g, e)


def test_video_to_video_and_to_pngs(tmp_path, ckpt):
    path, _ = ckpt
    write_video(tmp_path / "in.mp4", frames(n=7), fps=12)
    upscale(tmp_path / "in.mp4", tmp_path / "out.mp4", "--model", path, "--device", "cpu",
            "--compare", tmp_path / "cmp.mp4")
    out = probe(tmp_path / "out.mp4")
    assert (out["codec"], out["frames"], out["width"], out["height"]) == ("h264", 7, 112, 80)
    assert video_times(tmp_path / "out.mp4") == [Fraction(i, 12) for i in range(7)]
    cmp = probe(tmp_path / "cmp.mp4")
    assert (cmp["width"], cmp["height"], cmp["frames"]) == (224, 80, 7)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    upscale(tmp_path / "in.mp4", tmp_path / "pngs", "--model", path, "--device", "cpu")
    assert sorted(os.listdir(tmp_path / "pngs")) == [f"{i:04d}.png" for i in range(1, 8)]


def test_tiles_blend_without_seams(tmp_path, ckpt):
    path, _ = ckpt
    lr = frames(n=3, h=36, w=44)
    write_folder(tmp_path / "in", lr)
    upscale(tmp_path / "in", tmp_path / "whole", "--model", path, "--device", "cpu")
    upscale(tmp_path / "in", tmp_path / "tiled", "--model", path, "--device", "cpu", "--tile", 20, "--tile_overlap", 8)
    for a, b in zip(read_folder(tmp_path / "whole"), read_folder(tmp_path / "tiled"), strict=False):
        assert a.shape == b.shape == (144, 176, 3)
        assert psnr(a, b) > 45, psnr(a, b)


@pytest.mark.slow
def test_architecture_read_from_checkpoint_and_overrides(tmp_path):
    torch.manual_seed(1)
    path = tmp_path / "bi.pth"
    torch.save(FRNet(nf=12, nb=2, degradation="BI").state_dict(), path)
    write_folder(tmp_path / "in", frames(n=2))
    r = upscale(tmp_path / "in", tmp_path / "out", "--model", path, "--device", "cpu")
    assert "BI generator nf 12 nb 2" in r.stdout
    r = upscale(tmp_path / "in", tmp_path / "out2", "--model", path, "--device", "cpu", "--degradation", "BD",
                check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "bi.pth" in r.stderr and "BI generator with nf 12, nb 2" in r.stderr
    r = upscale(tmp_path / "in", tmp_path / "out3", "--model", path, "--device", "cpu", "--nf", 16, check=False)
    assert r.returncode == 2 and "shape" in r.stderr
    assert not (tmp_path / "out3").exists() or not os.listdir(tmp_path / "out3")


def test_bad_inputs(tmp_path, ckpt):
    path, _ = ckpt
    r = upscale(tmp_path / "missing.mp4", tmp_path / "o.mp4", "--model", path, check=False)
    assert r.returncode == 2 and "missing.mp4" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    r = upscale(tmp_path / "junk.mp4", tmp_path / "o.mp4", "--model", path, check=False)
    assert r.returncode == 2 and "junk.mp4" in r.stderr
    assert not (tmp_path / "o.mp4").exists()
    write_folder(tmp_path / "tiny", [np.zeros((6, 6, 3), np.uint8)])
    r = upscale(tmp_path / "tiny", tmp_path / "o2", "--model", path, check=False)
    assert r.returncode == 2 and "smaller than the 8x8" in r.stderr


def test_streaming_holds_few_frames(monkeypatch, ckpt):
    """At most a handful of frames are decoded ahead of the network, whatever the length."""
    from tecogan import video
    produced, consumed, ahead = [0], [0], []

    def source():
        for i in range(300):
            produced[0] += 1
            ahead.append(produced[0] - consumed[0])
            yield i

    for _ in video.prefetch(source(), maxsize=4):
        consumed[0] += 1
    assert consumed[0] == 300 and max(ahead) <= 6


def test_tile_starts_cover():
    from tecogan.inference.steppers import tile_starts
    assert tile_starts(36, 20, 8) == [0, 12, 16]
    assert tile_starts(10, 20, 8) == [0]


def _peak_rss_kb(args):
    code = ("import resource, runpy, sys\n"
            f"sys.argv = {[UPSCALE] + [str(a) for a in args]!r}\n"
            "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split("PEAK")[-1])


@pytest.mark.slow
def test_memory_does_not_grow_with_length(tmp_path, ckpt):
    path, _ = ckpt
    lr = frames(n=300, h=24, w=32)
    write_video(tmp_path / "long.mp4", lr)
    write_video(tmp_path / "short.mp4", lr[:100])
    short = _peak_rss_kb([tmp_path / "short.mp4", tmp_path / "s.mp4", "--model", path, "--device", "cpu"])
    long = _peak_rss_kb([tmp_path / "long.mp4", tmp_path / "l.mp4", "--model", path, "--device", "cpu"])
    assert long <= 1.2 * short, (short, long)


def test_large_tiles_stay_within_one_grey_level_of_whole_frames():
    """The shipped model on the bundled demo clip (192x108 LR): with tiles of 96 overlapping by 32,
    99.9% of the output pixels are within 1 grey level of whole-frame upscaling (the rest sit on
    the seams, where a tile's border sees less context)."""
    import tecogan
    from tecogan.video import open_source
    lr = [image for _, image in open_source(os.path.join(REPO, "demo", "videos", "juggle_lr.mp4"))][:4]
    net = tecogan.load_generator(os.path.join(REPO, "pretrained_models", "FRVSR_BD_footage.pth"))
    whole = np.stack(list(tecogan.Upscaler(net).upscale_frames(lr))).astype(np.int16)
    tiled = np.stack(list(tecogan.Upscaler(net, tile=96, tile_overlap=32).upscale_frames(lr))).astype(np.int16)
    diff = np.abs(tiled - whole)
    assert np.percentile(diff, 99.9) <= 1
    assert diff.mean() < 0.1


@pytest.mark.parametrize("degradation,offset", [("BD", 0.0), ("BI", 1.5)])
def test_compare_bicubic_is_aligned_like_the_model(tmp_path, degradation, offset):
    """The left half of --compare: a BD model keeps LR pixel (i, j) on HR pixel (4i, 4j), so its
    bicubic half is sample-aligned; a BI model's is centre-aligned (1.5 px further down-right)."""
    path, _ = save_tiny_generator(tmp_path, f"tiny_{degradation}.pth", degradation)
    yy, xx = np.mgrid[0:20, 0:28]
    blob = 40 + 180 * np.exp(-((yy - 9) ** 2 + (xx - 13) ** 2) / 6.0)  # LR centre (9, 13)
    lr = np.repeat(blob[..., None], 3, axis=2).round().astype(np.uint8)
    write_video(tmp_path / "in.mkv", [lr] * 2)
    upscale(tmp_path / "in.mkv", tmp_path / "out.mkv", "--model", path, "--device", "cpu", "--codec", "ffv1",
            "--compare", tmp_path / "cmp.mkv")
    import av
    with av.open(str(tmp_path / "cmp.mkv")) as c:
        side = next(c.decode(video=0)).to_ndarray(format="rgb24")
    left = side[:, :112, 1].astype(np.float64) - 40.0
    weights = np.clip(left, 0, None) ** 2
    hy, hx = np.mgrid[0:80, 0:112]
    cy, cx = (weights * hy).sum() / weights.sum(), (weights * hx).sum() / weights.sum()
    assert abs(cy - (4 * 9 + offset)) < 0.25 and abs(cx - (4 * 13 + offset)) < 0.25, (cy, cx)


def test_default_model_is_the_shipped_bi_model_and_names_work(tmp_path, capsys, monkeypatch):
    from helpers import upscale_in_process
    write_folder(tmp_path / "in", frames(n=2))
    status, out, err = upscale_in_process(capsys, monkeypatch, tmp_path / "in", tmp_path / "out")
    assert status == 0, err
    assert "BI generator nf 64 nb 10" in out
    status, out, err = upscale_in_process(capsys, monkeypatch, tmp_path / "in", tmp_path / "out_bd", "--model",
                                          "frvsr-bd")
    assert status == 0, err
    assert "BD generator nf 64 nb 10" in out
    status, _, err = upscale_in_process(capsys, monkeypatch, tmp_path / "in", tmp_path / "out2", "--model", "frvsrr")
    assert status == 2 and "frvsrr" in err and "Traceback" not in err
