"""Validation metrics of the trainer (docs/metrics.md, "Validation metrics (training)")."""

import json
import math
import os

import cv2
import numpy as np
import pytest
import torch
from helpers import psnr

from tecogan.metrics import validation as V
from tecogan.metrics.functional import rgb_to_y, rgb_to_y_uint8
from tecogan.metrics.lpips_loader import load_lpips
from tecogan.utils.errors import UserError


def _seq(t=4, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur((rng.random((h + 3 * t, w + 3 * t, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
    return np.stack([tex[2 * i : 2 * i + h, 3 * i : 3 * i + w] for i in range(t)])


def test_y_uint8_is_rounded_float_y():
    img = _seq(1)[0]
    y = rgb_to_y(img)
    assert y.min() >= 16 and y.max() <= 235
    np.testing.assert_array_equal(rgb_to_y_uint8(img), np.round(y).astype(np.uint8))
    # white and black hit the BT.601 limits
    assert rgb_to_y_uint8(np.full((1, 1, 3), 255, np.uint8))[0, 0] == 235
    assert rgb_to_y_uint8(np.zeros((1, 1, 3), np.uint8))[0, 0] == 16


def test_psnr_y_uint8():
    gt, sr = _seq(3), _seq(3, seed=1)
    got = V.psnr_y_uint8(gt, sr)
    assert got.shape == (3,)
    for g, s, v in zip(gt, sr, got, strict=False):
        d = rgb_to_y_uint8(g).astype(float) - rgb_to_y_uint8(s).astype(float)
        assert v == pytest.approx(psnr(0, d), rel=1e-12)
    assert np.all(np.isinf(V.psnr_y_uint8(gt, gt.copy())))
    # a single (h, w, 3) frame is a 1-frame sequence
    assert V.psnr_y_uint8(gt[0], sr[0]).shape == (1,)
    assert V.psnr_rgb_uint8(gt, sr).shape == (3,)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="differ"):
        V.psnr_y_uint8(_seq(3), _seq(2))
    with pytest.raises(ValueError, match="uint8"):
        V.tof_sequence(_seq(2).astype(np.float32), _seq(2))


def test_tof_sequence():
    gt, sr = _seq(4), _seq(4, seed=2)
    tof = V.tof_sequence(gt, sr)
    assert tof.shape == (3,) and np.all(tof > 0)
    np.testing.assert_array_equal(V.tof_sequence(gt, gt.copy()), 0.0)
    assert V.tof_sequence(gt[:1], sr[:1]).shape == (0,)


def test_validation_metrics_without_lpips():
    gt1, sr1 = _seq(3), _seq(3, seed=1)
    gt2, sr2 = _seq(4, seed=2), _seq(4, seed=3)
    vm = V.ValidationMetrics({"PSNR": {"colorspace": "y"}, "tOF": {"mult": 2.0}})
    one = vm.evaluate_sequence(gt1, sr1)
    assert list(one) == ["PSNR", "tOF"]
    assert one["PSNR"] == pytest.approx(V.psnr_y_uint8(gt1, sr1).mean())
    assert one["tOF"] == pytest.approx(2.0 * V.tof_sequence(gt1, sr1).mean())
    avg = vm.evaluate({"a": (gt1, sr1), "b": (gt2, sr2)})
    assert set(vm.per_sequence) == {"a", "b"}
    assert avg["PSNR"] == pytest.approx((vm.per_sequence["a"]["PSNR"] + vm.per_sequence["b"]["PSNR"]) / 2)
    assert vm.evaluate([("a", gt1, sr1)])["tOF"] == pytest.approx(one["tOF"])
    # a single frame has no tOF
    assert math.isnan(vm.evaluate_sequence(gt1[:1], sr1[:1])["tOF"])
    rgb = V.ValidationMetrics({"PSNR": {"colorspace": "rgb"}})
    assert rgb.evaluate_sequence(gt1, sr1)["PSNR"] == pytest.approx(V.psnr_rgb_uint8(gt1, sr1).mean())


def test_a_one_frame_sequence_is_left_out_of_the_tof_average(capsys):
    """A validation set with a one-frame sequence: its tOF (none) is left out of the average,
    said once, instead of turning the average (and the JSON) into NaN; PSNR keeps it."""
    gt1, sr1 = _seq(3), _seq(3, seed=1)
    vm = V.ValidationMetrics({"PSNR": {"colorspace": "y"}, "tOF": {}})
    for _ in range(2):
        avg = vm.evaluate({"long": (gt1, sr1), "single": (gt1[:1], sr1[:1])})
    assert avg["tOF"] == pytest.approx(vm.per_sequence["long"]["tOF"])
    assert avg["PSNR"] == pytest.approx((vm.per_sequence["long"]["PSNR"] + vm.per_sequence["single"]["PSNR"]) / 2)
    assert capsys.readouterr().err.count("tOF: single left out of the average") == 1
    assert math.isnan(vm.evaluate({"single": (gt1[:1], sr1[:1])})["tOF"])  # nothing to average: still NaN


def test_validation_metrics_config_errors():
    with pytest.raises(UserError, match="unknown metric"):
        V.ValidationMetrics({"SSIM": {}})
    with pytest.raises(UserError, match="colorspace"):
        V.ValidationMetrics({"PSNR": {"colorspace": "lab"}})


def test_validation_lpips(alexnet_file):
    gt, sr = _seq(3, h=64, w=64), _seq(3, h=64, w=64, seed=4)
    vm = V.ValidationMetrics({"LPIPS": {"weights": alexnet_file}, "PSNR": None})
    model = load_lpips(alexnet_file)
    per_frame = V.lpips_sequence(model, gt, sr, batch_size=2)
    assert per_frame.shape == (3,) and np.all(per_frame > 0)
    x = torch.from_numpy(gt[1]).permute(2, 0, 1)[None].float() / 255 * 2 - 1
    y = torch.from_numpy(sr[1]).permute(2, 0, 1)[None].float() / 255 * 2 - 1
    with torch.no_grad():
        assert per_frame[1] == pytest.approx(model(x, y).item(), abs=1e-6)
    got = vm.evaluate_sequence(gt, sr)
    assert list(got) == ["PSNR", "LPIPS"]
    assert got["LPIPS"] == pytest.approx(per_frame.mean(), abs=1e-7)
    assert V.lpips_sequence(model, gt, gt.copy()).max() == pytest.approx(0.0, abs=1e-6)


def test_update_avg_json(tmp_path):
    path = os.path.join(tmp_path, "Vid4_avg.json")
    V.update_avg_json(path, "G_iter10000", {"PSNR": np.float64(25.0)})
    V.update_avg_json(path, "G_iter20000", {"PSNR": 26.0, "tOF": 0.2})
    with open(path) as f:
        assert json.load(f) == {"G_iter10000": {"PSNR": 25.0}, "G_iter20000": {"PSNR": 26.0, "tOF": 0.2}}
