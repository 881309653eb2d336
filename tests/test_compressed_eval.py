"""scripts/make_compressed_eval.py: the fixed compressed evaluation pipeline (not the sampler)."""

import os

import cv2
import numpy as np
from helpers import assert_one_line, load_script, panning_texture, psnr, run_inprocess, script_cli, tree_hash

from tecogan.utils.fileio import list_images, read_image_rgb, write_image_rgb

mce = load_script("scripts/make_compressed_eval.py")


def _clip(t=8, h=75, w=102):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = [
        np.stack(
            [
                128 + 90 * np.sin((xx + 3 * i) / 6.0),
                128 + 90 * np.cos((yy - 2 * i) / 5.0),
                np.where((xx + yy + i) % 24 < 12, 210.0, 40.0),
            ],
            -1,
        )
        for i in range(t)
    ]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def test_pipeline_cuts_shrinks_and_compresses():
    clip = _clip()
    gt, clean = mce.degrade_clip_for_eval(clip, 0)
    assert gt.shape == (8, 72, 96, 3) and np.array_equal(gt, clip[:, :72, :96])  # top-left, multiple of 8
    assert clean.shape == (8, 18, 24, 3)
    assert np.array_equal(clean[2], cv2.resize(gt[2], (24, 18), interpolation=cv2.INTER_AREA))
    _, c23 = mce.degrade_clip_for_eval(clip, 23)
    _, c30 = mce.degrade_clip_for_eval(clip, 30)
    _, again = mce.degrade_clip_for_eval(clip, 30)
    assert np.array_equal(c30, again)  # fixed: the same input gives the same set
    assert psnr(c23, clean) > psnr(c30, clean) > 15


def test_h264_roundtrip_is_reproducible():
    """The fixed evaluation codec gives the same frames every time (x264 with cpu-independent;
    without it the held-out sets of real footage differed from run to run on an AVX-512 Xeon)."""
    clip = panning_texture()
    outs = {mce.h264_roundtrip(clip, 30).tobytes() for _ in range(24)}
    assert len(outs) == 1


def test_cli_writes_the_sets(tmp_path, capsys, monkeypatch):
    for clip_name in ("a", "b"):
        for i, f in enumerate(_clip(9)):
            write_image_rgb(str(tmp_path / "gt" / clip_name / f"{i + 1:04d}.png"), f)
    cli = script_cli("scripts/make_compressed_eval.py")
    status, out, err = run_inprocess(
        cli,
        [
            "make_compressed_eval.py",
            "--gt_dir",
            tmp_path / "gt",
            "--out_root",
            tmp_path / "out",
            "--prefix",
            "X",
            "--crf",
            "30,0",
            "--start",
            "2",
            "--max_frames",
            "6",
        ],
        capsys,
        monkeypatch,
    )
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == ["XArea", "XCRF30"]
    names = list_images(str(tmp_path / "out" / "XCRF30" / "LR" / "a"))
    assert names == [f"{i:04d}.png" for i in range(3, 9)]
    lr = read_image_rgb(str(tmp_path / "out" / "XCRF30" / "LR" / "b" / "0003.png"))
    gt = read_image_rgb(str(tmp_path / "out" / "XArea" / "GT" / "b" / "0003.png"))
    assert lr.shape == (18, 24, 3) and gt.shape == (72, 96, 3)
    # --overwrite replaces the sets (GT/ and LR/ of sequence folders); a file of the user's inside is kept
    before = read_image_rgb(str(tmp_path / "out" / "XCRF30" / "LR" / "b" / "0003.png"))
    status, out, err = run_inprocess(
        cli,
        [
            "make_compressed_eval.py",
            "--gt_dir",
            tmp_path / "gt",
            "--out_root",
            tmp_path / "out",
            "--prefix",
            "X",
            "--crf",
            "30,0",
            "--start",
            "2",
            "--max_frames",
            "6",
            "--overwrite",
        ],
        capsys,
        monkeypatch,
    )
    assert status == 0, err
    assert np.array_equal(read_image_rgb(str(tmp_path / "out" / "XCRF30" / "LR" / "b" / "0003.png")), before)
    (tmp_path / "out" / "XArea" / "GT" / "notes.txt").write_text("mine")
    hashes = tree_hash(tmp_path / "out"), tree_hash(tmp_path / "gt")
    status, out, err = run_inprocess(
        cli,
        [
            "make_compressed_eval.py",
            "--gt_dir",
            tmp_path / "gt",
            "--out_root",
            tmp_path / "out",
            "--prefix",
            "X",
            "--crf",
            "0",
            "--start",
            "2",
            "--overwrite",
        ],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "notes.txt, which is not one of the folders of sequence folders")
    # --clips: a misspelt clip is one line, before anything is written
    status, out, err = run_inprocess(
        cli,
        [
            "make_compressed_eval.py",
            "--gt_dir",
            tmp_path / "gt",
            "--out_root",
            tmp_path / "out",
            "--prefix",
            "X",
            "--clips",
            "b,c",
            "--overwrite",
        ],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "--clips 'b,c': c: not a clip folder")
    assert (tree_hash(tmp_path / "out"), tree_hash(tmp_path / "gt")) == hashes
    # too few frames for the official metrics, and a bad CRF: one line, status 2
    status, out, err = run_inprocess(
        cli,
        ["make_compressed_eval.py", "--gt_dir", tmp_path / "gt", "--out_root", tmp_path / "o2", "--start", "6"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "3 frame(s) from --start 6")
    status, out, err = run_inprocess(
        cli, ["make_compressed_eval.py", "--gt_dir", tmp_path / "gt", "--crf", "60"], capsys, monkeypatch
    )
    assert_one_line(status, err, "--crf 60: expected")
    # --clips: a subset of the clip folders, a misspelt one named
    status, out, err = run_inprocess(
        cli,
        [
            "make_compressed_eval.py",
            "--gt_dir",
            tmp_path / "gt",
            "--out_root",
            tmp_path / "o3",
            "--prefix",
            "X",
            "--crf",
            "0",
            "--start",
            "0",
            "--clips",
            "b",
        ],
        capsys,
        monkeypatch,
    )
    assert status == 0, err
    assert os.listdir(tmp_path / "o3" / "XArea" / "LR") == ["b"]


def test_sr_eval_sets_super_resolves_a_set(tmp_path, capsys, monkeypatch):
    """scripts/sr_eval_sets.py: the model's frames and bicubic's, laid out for the official metrics."""
    for i, f in enumerate(_clip(6, 72, 96)):
        write_image_rgb(str(tmp_path / "gt" / "a" / f"{i + 1:04d}.png"), f)
    cli = script_cli("scripts/make_compressed_eval.py")
    status, out, err = run_inprocess(
        cli,
        [
            "make_compressed_eval.py",
            "--gt_dir",
            tmp_path / "gt",
            "--out_root",
            tmp_path / "data",
            "--prefix",
            "X",
            "--crf",
            "30",
            "--start",
            "0",
            "--max_frames",
            "6",
        ],
        capsys,
        monkeypatch,
    )
    assert status == 0, err
    sr = script_cli("scripts/sr_eval_sets.py")
    for model, label in (("frvsr", "F"), ("bicubic", "B")):
        status, out, err = run_inprocess(
            sr,
            [
                "sr_eval_sets.py",
                "--model",
                model,
                "--label",
                label,
                "--datasets",
                "XCRF30",
                "--data_root",
                tmp_path / "data",
                "--results_root",
                tmp_path / "res",
            ],
            capsys,
            monkeypatch,
        )
        assert status == 0, err
        names = list_images(str(tmp_path / "res" / "XCRF30" / label / "a"))
        assert len(names) == 6
        assert names == list_images(str(tmp_path / "data" / "XCRF30" / "GT" / "a"))
    gt = read_image_rgb(str(tmp_path / "data" / "XCRF30" / "GT" / "a" / names[2]))
    frvsr, bicubic = (read_image_rgb(str(tmp_path / "res" / "XCRF30" / label / "a" / names[2])) for label in "FB")
    assert frvsr.shape == bicubic.shape == gt.shape
    # the same frame, aligned: both close to each other, the network not worse than bicubic
    assert psnr(frvsr, bicubic) > 20 and psnr(frvsr, gt) > psnr(bicubic, gt) - 1
