"""The spectral grid score (codes/metrics/grid.py), its script and its validation metric."""

import json
import os

import cv2
import numpy as np
import pytest
from helpers import assert_one_line, run_inprocess, script_cli

from tecogan.metrics.grid import LATTICE, NEIGHBOURS, block_score, grid_score, grid_score_frame
from tecogan.metrics.validation import ValidationMetrics
from tecogan.utils.fileio import read_image_rgb, write_image_rgb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_GT = os.path.join(REPO, "demo", "val", "GT", "coffee")


def _smooth_noise(h=128, w=160, seed=0):
    n = cv2.GaussianBlur(np.random.default_rng(seed).standard_normal((h, w)), (0, 0), 2.0)
    grey = np.clip(128 + 40 * n / n.std(), 0, 255).astype(np.uint8)
    return np.dstack([grey] * 3)


def _demo_gt():
    return [read_image_rgb(os.path.join(DEMO_GT, f)) for f in sorted(os.listdir(DEMO_GT))]


def test_definition_constants():
    assert len(LATTICE) == 15 and (0, 0) not in LATTICE
    assert len(NEIGHBOURS) == 8 and all(max(abs(d) for d in n) == 2 for n in NEIGHBOURS)


def test_a_4x4_mesh_scores_high_and_smooth_content_about_zero():
    mesh = np.full((128, 160, 3), 128, np.uint8)
    mesh[::4] = 160
    mesh[:, ::4] = 160
    assert grid_score_frame(mesh) > 3
    smooth = _smooth_noise()
    assert -0.6 < grid_score_frame(smooth) < 0.2
    # the same smooth content with a faint 4x4 mesh added (2 grey levels): clearly positive
    faint = smooth.astype(np.int16)
    faint[::4, ::4] += 2
    assert grid_score_frame(np.clip(faint, 0, 255).astype(np.uint8)) > grid_score_frame(smooth) + 0.5


def test_ground_truth_frames_score_about_minus_a_tenth():
    frames = _demo_gt()
    score = grid_score(frames)
    assert -0.4 < score < 0.1
    assert score == pytest.approx(np.mean([grid_score_frame(f) for f in frames]))


def test_grey_input_crop_to_multiple_of_4_and_errors():
    smooth = _smooth_noise(130, 163)
    grey = cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY)
    assert grid_score_frame(smooth) == pytest.approx(grid_score_frame(grey))
    assert grid_score_frame(smooth) == pytest.approx(grid_score_frame(smooth[:128, :160]))
    # BGR2GRAY on a BGR frame is the score of its RGB twin
    assert grid_score_frame(cv2.cvtColor(smooth[..., ::-1].copy(), cv2.COLOR_BGR2GRAY)) == pytest.approx(grid_score_frame(smooth))
    with pytest.raises(ValueError, match="too small"):
        grid_score_frame(np.zeros((7, 40, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        grid_score([])


def test_validation_metric_grid(tmp_path):
    from tecogan.experiment import validate_config

    vm = ValidationMetrics({"PSNR": {}, "Grid": {}, "Block": {}})
    gt = np.stack(_demo_gt()[:3])
    res = vm.evaluate({"coffee": (gt, gt)})
    assert res["Grid"] == pytest.approx(grid_score(gt)) and res["PSNR"] == float("inf")
    assert res["Block"] == pytest.approx(block_score(gt)) and 0 <= res["Block"] < 0.1
    opt = {
        "scale": 4,
        "dataset": {"degradation": {"type": "BI"}},
        "model": {"name": "FRVSR", "generator": {}},
        "metric": {"Grid": {"mult": 1}},
    }
    assert validate_config(opt, "t.yml")["metric"]["Grid"]["mult"] == 1


def test_grid_score_script(tmp_path, capsys, monkeypatch):
    for i, f in enumerate(_demo_gt()[:2]):
        write_image_rgb(str(tmp_path / "sr" / "clipA" / f"{i:04d}.png"), f)
        write_image_rgb(str(tmp_path / "sr" / "clipB" / f"{i:04d}.png"), f)
    cli = script_cli("scripts/grid_score.py")
    status, out, err = run_inprocess(
        cli, ["grid_score.py", tmp_path / "sr", tmp_path / "sr" / "clipA", "--json", tmp_path / "g.json"], capsys, monkeypatch
    )
    assert status == 0, err
    assert "(2 sequence(s), 4 frames)" in out and "(1 sequence(s), 2 frames)" in out
    data = json.loads((tmp_path / "g.json").read_text())
    assert data[str(tmp_path / "sr")]["mean"] == pytest.approx(data[str(tmp_path / "sr" / "clipA")]["mean"])
    status, out, err = run_inprocess(cli, ["grid_score.py", tmp_path / "sr", "--block"], capsys, monkeypatch)
    assert status == 0, err
    block = [line for line in out.splitlines() if ": block " in line]
    assert len(block) == 1 and "(2 sequence(s), 4 frames)" in block[0]
    status, out, err = run_inprocess(cli, ["grid_score.py", tmp_path / "nope"], capsys, monkeypatch)
    assert_one_line(status, err, "nope: folder not found")
