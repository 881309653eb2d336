"""--scene_cuts: the recurrence restarts at a hard cut (frames after it equal the second shot
upscaled alone), nowhere else; off (and test mode) equals the plain recurrence."""

import os
from fractions import Fraction

import cv2
import numpy as np
import pytest
from avclips import make_clip, pattern
from helpers import save_tiny_generator, upscale_in_process

from tecogan.inference.options import InferenceOptions
from tecogan.inference.steppers import infer_sequence
from tecogan.inference.upscaler import Upscaler
from tecogan.jobs.scene_cuts import CutDetector, upscale_with_cuts
from tecogan.video.common import Frame


def shot(n, kind, h=24, w=32):
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        if kind == "waves":
            base = 120 + 80 * np.sin((xx + 2 * i) / 4.0)[..., None] * np.cos(yy / 5.0)[..., None] * [1, 0.8, 0.6]
        else:  # a different scene: green-blue stripes drifting the other way
            base = 90 + 70 * np.sign(np.sin((yy - i) / 2.5))[..., None] * [0.2, 1, 0.7] + [0, 40, 80]
        out.append(np.clip(base, 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    return save_tiny_generator(tmp_path_factory.mktemp("ck"))


def run(upscaler, lr, detector=None, found=None):
    frames = [Frame(f"{i:04d}.png", f, None) for i, f in enumerate(lr)]
    return [
        o.image
        for o in upscale_with_cuts(upscaler, frames, detector, (lambda f: found.append(f.name)) if found is not None else None)
    ]


def test_restart_at_the_cut_equals_the_second_shot_alone(net):
    _, model = net
    a, b = shot(10, "waves"), shot(9, "stripes")
    up = Upscaler(model, InferenceOptions(device="cpu"))
    found = []
    on = run(up, a + b, CutDetector(), found)
    off = run(up, a + b)
    assert found == ["0010.png"]
    assert all(np.array_equal(x, y) for x, y in zip(on[10:], run(up, b), strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(on[:10], off[:10], strict=True))
    assert not np.array_equal(on[10], off[10])  # without the restart shot A leaks into B
    expected = list(infer_sequence(model, np.stack(a + b), 5, "reflect"))  # test mode: no cuts
    assert all(np.array_equal(x, y) for x, y in zip(off, expected, strict=True))


def test_no_cut_within_a_moving_shot():
    detector = CutDetector()
    assert not any(detector.is_cut(f) for f in shot(20, "waves"))
    detector = CutDetector()
    deep = [(f.astype(np.uint16) * 257) for f in shot(12, "waves") + shot(12, "stripes")]
    assert [i for i, f in enumerate(deep) if detector.is_cut(f)] == [12]


def test_upscale_py_scene_cuts_on_and_off(tmp_path, net, capsys, monkeypatch):
    path, model = net
    a, b = shot(10, "waves"), shot(9, "stripes")
    os.makedirs(tmp_path / "in")
    for i, f in enumerate(a + b):
        cv2.imwrite(str(tmp_path / "in" / f"{i:03d}.png"), f[..., ::-1])
    for mode in ("on", "off"):
        status, _, err = upscale_in_process(
            capsys,
            monkeypatch,
            tmp_path / "in",
            tmp_path / mode,
            "--model",
            path,
            "--device",
            "cpu",
            "--scene_cuts",
            mode,
            "--quiet",
        )
        assert status == 0, err
    read = [[cv2.imread(str(tmp_path / m / f"{i:03d}.png"))[..., ::-1] for i in range(19)] for m in ("on", "off")]
    up = Upscaler(model, InferenceOptions(device="cpu"))
    assert all(np.array_equal(x, y) for x, y in zip(read[0][10:], run(up, b), strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(read[1], run(up, a + b), strict=True))
    status, _, err = upscale_in_process(capsys, monkeypatch, tmp_path / "in", tmp_path / "x", "--scene_cuts", "yes")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "--scene_cuts" in err


def _two_shots(path):
    yy, xx = np.mgrid[0:24, 0:32]
    waves = [
        np.clip(120 + 80 * np.sin((xx + 2 * i) / 4.0)[..., None] * np.cos(yy / 5.0)[..., None] * [1, 0.8, 0.6], 0, 255).astype(
            np.uint8
        )
        for i in range(10)
    ]
    stripes = [
        np.clip(90 + 70 * np.sign(np.sin((yy - i) / 2.5))[..., None] * [0.2, 1, 0.7] + [0, 40, 80], 0, 255).astype(np.uint8)
        for i in range(9)
    ]
    return make_clip(path, waves + stripes, codec="ffv1", pix_fmt="yuv444p", rate=4, time_base=Fraction(1, 4))


def test_scene_cuts_on_says_how_many_and_when(tmp_path, ckpt, capsys, monkeypatch):
    src = _two_shots(tmp_path / "cut.mkv")
    status, out, err = upscale_in_process(
        capsys,
        monkeypatch,
        src,
        tmp_path / "o.mp4",
        "--model",
        ckpt,
        "--device",
        "cpu",
        "--scene_cuts",
        "on",
        "--segment_frames",
        "4",
    )
    assert status == 0, err
    assert "scene cuts: 1 at 0:02.50" in out.splitlines(), out  # frame 10 at 4 frames/s
    status, out, err = upscale_in_process(
        capsys, monkeypatch, src, tmp_path / "q.mkv", "--model", ckpt, "--device", "cpu", "--scene_cuts", "on", "--quiet"
    )
    assert status == 0 and "scene cuts" not in out, out
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, img in enumerate(pattern(4)):
        cv2.imwrite(str(frames / f"{i:04d}.png"), img[..., ::-1])
    status, out, err = upscale_in_process(
        capsys, monkeypatch, frames, tmp_path / "of", "--model", ckpt, "--device", "cpu", "--scene_cuts", "on"
    )
    assert status == 0 and "scene cuts: none found" in out.splitlines(), out


def test_describe_cuts_formats_and_caps_the_list():
    from tecogan.jobs.scene_cuts import SHOWN_CUTS, describe_cuts

    assert describe_cuts([]) == "scene cuts: none found"
    assert describe_cuts([Fraction(6, 5), 4, 7.52]) == "scene cuts: 3 at 0:01.20, 0:04.00, 0:07.52"
    assert describe_cuts([3723]) == "scene cuts: 1 at 1:02:03.00"
    many = describe_cuts(list(range(SHOWN_CUTS + 7)))
    assert many.startswith(f"scene cuts: {SHOWN_CUTS + 7} at 0:00.00, 0:01.00") and many.endswith(" and 7 more")
