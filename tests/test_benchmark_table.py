"""scripts/benchmark_table.py on a tiny dataset: test-mode inference, the official metrics, the
Markdown table (best in bold) and CSV; what is already there is skipped unless --rerun; bad
arguments are one line."""

import csv
import json
import os

import cv2
import numpy as np
import pytest
from helpers import assert_one_line, load_script, run_inprocess, save_tiny_generator, script_cli

CLI = script_cli("scripts/benchmark_table.py")


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """data/Tiny/{GT,LR}/clip: 6 frames of 64x64 GT, LR 16x16 (every 4th pixel of a blurred GT)."""
    root = tmp_path_factory.mktemp("bench")
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(6):
        gt = (
            (127 + 90 * np.sin((xx + 2 * i) / 4.0)[..., None] * np.cos(yy / 5.0)[..., None] + np.zeros((64, 64, 3)))
            .clip(0, 255)
            .astype(np.uint8)
        )
        lr = cv2.GaussianBlur(gt, (9, 9), 1.5)[::4, ::4]
        for kind, img in (("GT", gt), ("LR", lr)):
            os.makedirs(root / "data" / "Tiny" / kind / "clip", exist_ok=True)
            cv2.imwrite(str(root / "data" / "Tiny" / kind / "clip" / f"{i:04d}.png"), img)
    ckpt, _ = save_tiny_generator(root)
    return root, ckpt


def argv(root, ckpt, *extra):
    return [
        "benchmark_table.py",
        "--models",
        f"tiny={ckpt},bicubic",
        "--datasets",
        "Tiny",
        "--data_root",
        root / "data",
        "--results_root",
        root / "results",
        "--workers",
        "1",
        *extra,
    ]


def mtimes(folder):
    return {os.path.join(r, f): os.path.getmtime(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs}


def test_table_csv_skip_and_rerun(tiny_set, capsys, monkeypatch):
    root, ckpt = tiny_set
    status, out, err = run_inprocess(CLI, argv(root, ckpt), capsys, monkeypatch)
    assert status == 0, err
    table = (root / "results" / "benchmark.md").read_text()
    lines = table.strip().splitlines()
    assert lines[0] == "| dataset | model | PSNR ↑ | SSIM ↑ | LPIPS ↓ | tOF ↓ | tLP100 ↓ |"
    assert [line.split(" | ")[1] for line in lines[2:]] == ["tiny", "bicubic"]
    assert table in out
    for col in range(2, 7):  # every metric has its best value in bold, in one of the two rows
        assert any(line.split(" | ")[col].strip(" |").startswith("**") for line in lines[2:]), (col, table)
    with open(root / "results" / "benchmark.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["tiny", "bicubic"] and rows[0]["source"] == str(ckpt)
    for r in rows:  # the CSV holds evaluate.py's frame averages
        report = json.loads((root / "results" / "Tiny" / r["model"] / "metric_log" / "metrics.json").read_text())
        for m in ("PSNR", "SSIM", "LPIPS", "tOF", "tLP100"):
            assert float(r[m]) == report["summary"][m]["frame_avg"]
    assert len(os.listdir(root / "results" / "Tiny" / "tiny" / "clip")) == 6

    before = mtimes(root / "results" / "Tiny")
    status, out, err = run_inprocess(CLI, argv(root, ckpt), capsys, monkeypatch)
    assert status == 0, err
    assert out.count("already there") == 2 and "super-resolving" not in out
    assert mtimes(root / "results" / "Tiny") == before  # neither the frames nor the metrics were made again
    assert (root / "results" / "benchmark.md").read_text() == table

    status, out, err = run_inprocess(CLI, argv(root, ckpt, "--rerun", "--out", root / "again.md"), capsys, monkeypatch)
    assert status == 0, err
    assert out.count("super-resolving") == 2
    assert (root / "again.md").read_text() == table and (root / "again.csv").is_file()


@pytest.mark.parametrize(
    "change, needles",
    [
        (("--datasets", "Nope"), ["Nope/GT: not found"]),
        (("--models", "nothing.pth"), ["--models nothing.pth", "neither a shipped model"]),
        (("--models", "bicubic,bicubic"), ["the label bicubic names two models"]),
        (("--lr_subdir", "Gaussian4xLR"), ["Tiny/Gaussian4xLR: not found"]),
    ],
)
def test_bad_arguments_are_one_line(tiny_set, capsys, monkeypatch, change, needles):
    root, ckpt = tiny_set
    args = argv(root, ckpt)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += list(change)
    status, _, err = run_inprocess(CLI, args, capsys, monkeypatch)
    assert_one_line(status, err, *needles)


def test_the_bicubic_baseline_follows_the_degradation(tiny_set, capsys, monkeypatch, tmp_path):
    """The tiny set's low-res frames are BD (blurred, every 4th pixel): the BI (centre-aligned)
    bicubic sits 1.5 px off and scores far lower; --degradation BD gives the right baseline,
    and a Gaussian* --lr_subdir picks it by itself."""
    root, _ = tiny_set
    psnr = {}
    for name, extra in (("BI", ["--degradation", "BI"]), ("BD", ["--degradation", "BD"])):
        args = ["benchmark_table.py", "--models", "bicubic", "--datasets", "Tiny", "--data_root", root / "data"]
        args += ["--results_root", tmp_path / name, "--workers", "1", *extra]
        status, _, err = run_inprocess(CLI, args, capsys, monkeypatch)
        assert status == 0, err
        with open(tmp_path / name / "benchmark.csv") as f:
            psnr[name] = float(next(csv.DictReader(f))["PSNR"])
    assert psnr["BD"] > psnr["BI"] + 1.0, psnr
    degradation_of = load_script("scripts/sr_eval_sets.py").degradation_of
    assert [degradation_of(d) for d in ("Gaussian4xLR", "data/X/Gaussian4xLR/", "Bicubic4xLR", "LR")] == [
        "BD",
        "BD",
        "BI",
        "BI",
    ]


def test_results_of_another_model_under_a_label_are_not_credited(tiny_set, capsys, monkeypatch, tmp_path):
    """A label's results record the checkpoint's SHA-256: the same label given another checkpoint
    (or one retrained in place) is one line, not the old model's numbers in the new one's row;
    --out replaces a table this script wrote, and another file only with --overwrite."""
    root, ckpt = tiny_set
    other, _ = save_tiny_generator(tmp_path, name="other.pth", degradation="BI")  # other weights
    results = tmp_path / "results"

    def run(model, *extra):
        args = ["benchmark_table.py", "--models", f"tiny={model}", "--datasets", "Tiny", "--data_root", root / "data"]
        return run_inprocess(CLI, args + ["--results_root", results, "--workers", "1", *extra], capsys, monkeypatch)

    status, _, err = run(ckpt)
    assert status == 0, err
    record = json.loads((results / "Tiny" / "tiny" / ".made_by.json").read_text())
    assert record["model"] == str(ckpt) and len(record["sha256"]) == 64
    table = (results / "benchmark.md").read_text()
    before = mtimes(results / "Tiny")
    status, _, err = run(other)
    assert_one_line(status, err, "Tiny/tiny: made by", f"not by {other}", "another label", "--rerun")
    assert mtimes(results / "Tiny") == before and (results / "benchmark.md").read_text() == table
    status, _, err = run(ckpt)  # the table this script wrote is replaced without a word
    assert status == 0, err
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    status, _, err = run(ckpt, "--out", notes)
    assert_one_line(status, err, "--out", "notes.md: already exists", "--overwrite")
    assert notes.read_text() == "my notes\n"
    status, _, err = run(ckpt, "--out", notes, "--overwrite")
    assert status == 0 and notes.read_text() == table
    status, out, err = run(other, "--rerun")  # made again by the model given
    assert status == 0 and "super-resolving" in out
    assert json.loads((results / "Tiny" / "tiny" / ".made_by.json").read_text())["model"] == str(other)
