"""Official TecoGAN metrics: the metrics_case0 fixture, frame-level edge cases, LPIPS loading.

Tolerances of metrics_case0 (tests/README.md): PSNR and SSIM are float64 NumPy/scikit-image
computations (rtol 1e-4 is only their printing precision); tOF is OpenCV's float32 Farneback,
whose SIMD and scalar paths differ by ~1e-7 on this fixture (rtol 1e-4); LPIPS and tLP100 run
in float32 PyTorch and get GOLDEN.md's atol plus the float32 error measured against the same
LPIPS network in float64 (tests/golden_check.py).
"""

import copy
import json
import math
import os
import shutil
import subprocess
import sys
import urllib.error
import warnings

import numpy as np
import pytest
import torch
from golden_check import float32_allowance, golden_close
from helpers import assert_one_line, psnr, run_inprocess, tree_hash, write_frames

from tecogan.metrics import lpips_loader
from tecogan.metrics.lpips_loader import load_lpips, lpips_features, lpips_from_features
from tecogan.official_metrics import cli
from tecogan.official_metrics import evaluate as evaluate_cmd
from tecogan.official_metrics import metrics as metrics_cmd
from tecogan.official_metrics import procedure as P
from tecogan.official_metrics import report as R
from tecogan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASE = os.path.join(REPO, "tests", "data", "metrics_case0")
with open(os.path.join(CASE, "expected.json")) as _f:
    EXPECTED = json.load(_f)
RTOL_METRICS = ("PSNR", "SSIM", "tOF")  # 1e-4 relative
ATOL = {"LPIPS": 1e-5, "tLP100": 1e-3}  # absolute, with the shared AlexNet file


@pytest.fixture(scope="module")
def lpips_model(alexnet_file):
    return load_lpips(alexnet_file)


@pytest.fixture(scope="module")
def random_lpips():
    """LPIPS with a random (untrained) backbone: enough for identities, needs no file."""
    torch.manual_seed(0)
    return lpips_loader._build_lpips().eval().requires_grad_(False)


def _seq_paths(seq):
    return (P.sorted_frames(os.path.join(CASE, "GT", seq)), P.sorted_frames(os.path.join(CASE, "SR", seq)))


def _close(name, got, want, allowance=0.0):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, name
    if name in ATOL:
        ok = golden_close(got, want, ATOL[name], 0.0, allowance)
    else:
        ok = golden_close(got, want, 0.0, 1e-4, allowance)
    assert ok, f"{name}: {got} vs expected {want} (allowance {allowance:.2g})"


def _frames(n=6, h=120, w=168, seed=0, shift=2):
    """A small moving texture sequence of uint8 RGB frames."""
    rng = np.random.default_rng(seed)
    import cv2

    tex = cv2.GaussianBlur((rng.random((h + 4 * n, w + 4 * n, 3)) * 255).astype(np.uint8), (0, 0), 2)
    return [np.ascontiguousarray(tex[shift * i : shift * i + h, i : i + w]) for i in range(n)]


# ----------------------------------------------------------------------------- metrics_case0
def test_case0_psnr_ssim_tof_without_lpips():
    per_sequence = {}
    for seq in EXPECTED["sequences"]:
        gt, sr = _seq_paths(seq)
        per_sequence[seq] = P.evaluate_sequence(gt, sr, None, name=seq)
        assert set(per_sequence[seq]) == set(RTOL_METRICS)
        for m in RTOL_METRICS:
            _close(m, per_sequence[seq][m], EXPECTED["per_sequence"][seq][m])
    summary = R.summarize(per_sequence)
    for m in RTOL_METRICS:
        assert summary[m]["n_frames"] == EXPECTED["summary"][m]["n_frames"]
        for key in ("frame_avg", "folder_avg"):
            _close(m, summary[m][key], EXPECTED["summary"][m][key])


def _case0_report(lpips_model, frames=slice(None)):
    per_sequence = {}
    for seq in EXPECTED["sequences"]:
        gt, sr = _seq_paths(seq)
        # batch_size 2 also exercises tLP across LPIPS batch boundaries
        per_sequence[seq] = P.evaluate_sequence(gt[frames], sr[frames], lpips_model, name=seq, batch_size=2)
    return R.build_report(per_sequence)


def test_case0_all_metrics_with_lpips(lpips_model):
    report = _case0_report(lpips_model)
    exact = _case0_report(copy.deepcopy(lpips_model).double())
    assert report["sequences"] == EXPECTED["sequences"]
    for seq in EXPECTED["sequences"]:
        for m, want in EXPECTED["per_sequence"][seq].items():
            got = report["per_sequence"][seq][m]
            _close(m, got, want, float32_allowance(got, exact["per_sequence"][seq][m]))
    for m, want in EXPECTED["summary"].items():
        assert report["summary"][m]["n_frames"] == want["n_frames"]
        for key in ("frame_avg", "folder_avg"):
            got = report["summary"][m][key]
            _close(m, got, want[key], float32_allowance(got, exact["summary"][m][key]))


def test_case0_wrong_procedures_fail(lpips_model):
    """Negative: frames shifted by one, or no crop_8x8, miss the fixture."""
    shifted = _case0_report(lpips_model, slice(1, None))
    seq = EXPECTED["sequences"][0]
    want = EXPECTED["per_sequence"][seq]
    assert not golden_close(
        shifted["per_sequence"][seq]["PSNR"][: len(want["PSNR"]) - 1], want["PSNR"][: len(want["PSNR"]) - 1], 0.0, 1e-4, 0.0
    )
    gt, sr = _seq_paths(seq)
    uncropped = [
        P.psnr(P.rgb_to_y(P.read_image_rgb(g)), P.rgb_to_y(P.read_image_rgb(s))) for g, s in zip(gt[2:-2], sr[2:-2], strict=False)
    ]
    assert not golden_close(uncropped, want["PSNR"], 0.0, 1e-4, 0.0)


@pytest.mark.slow
def test_metrics_cli_writes_expected_structure(alexnet_file, tmp_path):
    out = tmp_path / "out"
    seqs = EXPECTED["sequences"]
    cmd = [
        sys.executable,
        os.path.join(REPO, "codes", "official_metrics", "metrics.py"),
        "--output",
        str(out),
        "--workers",
        "2",
        "--device",
        "cpu",
        "--results",
        ",".join(os.path.join(CASE, "SR", s) for s in seqs),
        "--targets",
        ",".join(os.path.join(CASE, "GT", s) for s in seqs),
        "--lpips_weights",
        alexnet_file,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "frame_avg" in proc.stdout and "tLP100" in proc.stdout
    got = json.loads((out / "metrics.json").read_text())
    assert list(got) == list(EXPECTED)
    assert list(got["summary"]) == list(EXPECTED["summary"])
    for m, want in EXPECTED["summary"].items():
        assert list(got["summary"][m]) == list(want)
        _close(m, got["summary"][m]["frame_avg"], want["frame_avg"])
    for seq in seqs:
        assert list(got["per_sequence"][seq]) == list(EXPECTED["per_sequence"][seq])
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0] == "sequence,frame,PSNR,SSIM,LPIPS,tOF,tLP100"
    assert rows[1].startswith("calendar,0003.png,") and rows[1].endswith(",,")
    assert rows[-1].startswith("ALL,folder_avg,")
    assert len(rows) == 1 + 11 + 2 + 2
    assert "folder_avg" in (out / "metricsfile.txt").read_text()


# ----------------------------------------------------------------------------- frame level
@pytest.mark.parametrize(
    "h,w,box",
    [
        (576, 720, (16, 8, 544, 704)),
        (480, 720, (16, 8, 448, 704)),
        (576, 704, (16, 16, 544, 672)),
        (120, 168, (12, 20, 96, 128)),
        (48, 48, (8, 8, 32, 32)),
    ],
)
def test_crop_8x8_box(h, w, box):
    assert P.crop_8x8_box(h, w) == box
    y, x, ch, cw = box
    assert ch % 32 == 0 and cw % 32 == 0 and y >= 8 and x >= 8
    assert h - y - ch >= 8 and w - x - cw >= 8


def test_crop_8x8_too_small():
    with pytest.raises(UserError, match="too small"):
        P.crop_8x8(np.zeros((40, 100, 3), np.uint8))


def test_identical_frames_psnr_inf():
    frames = _frames(6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero RuntimeWarning
        assert P.psnr_y(frames[0], frames[0]) == math.inf
        out = P.evaluate_sequence(frames, [f.copy() for f in frames], None)
    assert all(v == math.inf for v in out["PSNR"]) and len(out["PSNR"]) == 2
    np.testing.assert_allclose(out["SSIM"], 1.0)
    assert out["tOF"] == [0.0]
    summary = R.summarize({"s": out})
    assert summary["PSNR"]["frame_avg"] == math.inf and summary["PSNR"]["folder_avg"] == math.inf
    # inf survives the JSON round trip (written as Infinity) and the CSV
    text = json.dumps(R.build_report({"s": out}))
    assert json.loads(text)["summary"]["PSNR"]["frame_avg"] == math.inf
    assert ",inf," in R.format_csv(R.build_report({"s": out}))


def test_psnr_y_matches_float_luma():
    a, b = _frames(2, seed=1)
    ya = 16 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255.0
    yb = 16 + (65.481 * b[..., 0] + 128.553 * b[..., 1] + 24.966 * b[..., 2]) / 255.0
    want = psnr(ya, yb)
    assert P.psnr_y(a, b) == pytest.approx(want, rel=1e-12)


def test_sr_and_gt_of_different_sizes(capsys):
    gt = _frames(6, h=120, w=168)
    # SR larger by a few pixels (e.g. a GT size not divisible by the scale): common top-left area
    rng = np.random.default_rng(3)
    sr_big = [np.pad(f, ((0, 3), (0, 5), (0, 0)), mode="reflect") for f in gt]
    sr_big = [np.clip(f.astype(int) + rng.integers(-9, 10, f.shape), 0, 255).astype(np.uint8) for f in sr_big]
    got = P.evaluate_sequence(gt, sr_big, None, name="bigger")
    want = P.evaluate_sequence(gt, [f[:120, :168] for f in sr_big], None)
    assert got == want
    assert "common top-left area" in capsys.readouterr().err
    # GT larger than SR
    got2 = P.evaluate_sequence(sr_big, gt, None, name="smaller")
    want2 = P.evaluate_sequence([f[:120, :168] for f in sr_big], gt, None)
    assert got2 == want2


def test_frame_size_change_inside_a_sequence_is_an_error():
    frames = _frames(6)
    bad = list(frames)
    bad[3] = frames[3][:100]
    with pytest.raises(UserError, match="differs"):
        P.evaluate_sequence(frames, bad, None)


@pytest.mark.parametrize("n", [0, 1, 4])
def test_fewer_than_5_frames(n):
    frames = _frames(max(n, 1))[:n]
    with pytest.raises(UserError, match="nothing to evaluate") as err:
        P.evaluate_sequence(frames, frames, None, name="short")
    assert "at least 5 frames" in str(err.value) and str(err.value).startswith("short:")


def test_five_frames_has_no_temporal_value():
    frames = _frames(5)
    out = P.evaluate_sequence(frames, frames[::-1], None)
    assert len(out["PSNR"]) == 1 and out["tOF"] == []
    summary = R.summarize({"a": out})
    assert summary["tOF"] == {"frame_avg": None, "folder_avg": None, "n_frames": 0}


def test_frame_count_mismatch():
    frames = _frames(6)
    with pytest.raises(UserError, match="5 SR frames but 6 GT frames"):
        P.evaluate_sequence(frames, frames[:5], None)


def test_folders_skip_short_sequences(tmp_path, capsys):
    import cv2

    frames = _frames(6)
    for seq, n in (("long", 6), ("short", 3)):
        for kind in ("GT", "SR"):
            d = tmp_path / kind / seq
            d.mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(d / f"{i:03d}.png"), frames[i][..., ::-1])
    pairs = [(s, str(tmp_path / "SR" / s), str(tmp_path / "GT" / s)) for s in ("long", "short")]
    report, names, skipped = P.evaluate_folders(pairs, None, log=lambda m: None)
    assert report["sequences"] == ["long"] and names["long"] == ["002.png", "003.png"]
    assert skipped[0][0] == "short" and "skipped" in capsys.readouterr().err
    with pytest.raises(UserError, match="no sequence could be evaluated"):
        P.evaluate_folders(pairs[1:], None, log=lambda m: None)


def test_natural_frame_order(tmp_path, capsys):
    for name in ("f1.png", "f10.png", "f2.png"):
        (tmp_path / name).write_bytes(b"")
    assert [os.path.basename(p) for p in P.sorted_frames(str(tmp_path))] == ["f1.png", "f2.png", "f10.png"]
    assert "not zero-padded" in capsys.readouterr().err


def test_thread_pool_gives_the_same_values():
    frames = _frames(9)
    sr = _frames(9, seed=5)
    pool = cli.make_pool(2)
    try:
        assert P.evaluate_sequence(frames, sr, None, pool=pool, batch_size=2) == P.evaluate_sequence(frames, sr, None)
    finally:
        pool.shutdown()


# ----------------------------------------------------------------------------- LPIPS
def test_lpips_from_features_equals_forward(random_lpips):
    x = torch.rand(3, 3, 64, 80) * 2 - 1
    y = torch.rand(3, 3, 64, 80) * 2 - 1
    with torch.inference_mode():
        want = random_lpips(x, y).reshape(-1)
        got = lpips_from_features(random_lpips, lpips_features(random_lpips, x), lpips_features(random_lpips, y))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_load_lpips_from_file_is_strict(alexnet_file, lpips_model):
    state = torch.load(alexnet_file, map_location="cpu")
    net = lpips_model.net.state_dict()
    for key, value in state.items():
        index = int(key.split(".")[1])
        mapped = [k for k in net if k.endswith(f".{index}.{key.split('.')[2]}")]
        assert len(mapped) == 1 and torch.equal(net[mapped[0]], value)


def _features_file(tmp_path, model, drop=None, reshape=None, extra=None):
    """A features.* file from ``model``'s own backbone, optionally damaged."""
    state = {}
    for key, value in model.net.state_dict().items():
        _, index, kind = key.split(".")
        state[f"features.{index}.{kind}"] = value.clone()
    if drop:
        del state[drop]
    if reshape:
        state[reshape] = state[reshape][:1]
    state.update(extra or {})
    path = tmp_path / "feat.pth"
    torch.save(state, path)
    return str(path)


def test_load_lpips_file_errors(tmp_path, random_lpips):
    ok = _features_file(tmp_path, random_lpips, extra={"classifier.1.weight": torch.zeros(2, 2)})  # ignored
    model = load_lpips(ok)
    assert torch.equal(model.net.slice1[0].weight, random_lpips.net.slice1[0].weight)
    with pytest.raises(UserError, match="not found"):
        load_lpips(str(tmp_path / "nope.pth"))
    with pytest.raises(UserError, match="missing AlexNet tensors features.6.bias"):
        load_lpips(_features_file(tmp_path, random_lpips, drop="features.6.bias"))
    with pytest.raises(UserError, match="features.3.weight has shape"):
        load_lpips(_features_file(tmp_path, random_lpips, reshape="features.3.weight"))
    with pytest.raises(UserError, match="unexpected AlexNet entry 'features.12.weight'"):
        load_lpips(_features_file(tmp_path, random_lpips, extra={"features.12.weight": torch.zeros(1)}))
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(UserError, match="cannot be read"):
        load_lpips(str(junk))


def test_load_lpips_env_var(tmp_path, random_lpips, monkeypatch):
    monkeypatch.setenv(lpips_loader.ENV_VAR, _features_file(tmp_path, random_lpips))
    model = load_lpips()
    assert torch.equal(model.net.slice5[0].bias, random_lpips.net.slice5[0].bias)


def test_load_lpips_defaults_to_the_bundled_file(monkeypatch, alexnet_file):
    """No path, no environment variable: the AlexNet file in pretrained_models/ is used, never
    torchvision's download; an explicit path or the environment variable still overrides it."""
    from tecogan.pretrained import MODELS_DIR

    monkeypatch.delenv(lpips_loader.ENV_VAR, raising=False)

    def no_download():
        raise AssertionError("torchvision's weights were asked for although the bundled file is there")

    monkeypatch.setattr(lpips_loader, "_torchvision_alexnet_state", no_download)
    bundled = os.path.join(MODELS_DIR, "alexnet_imagenet_features.pth")
    assert lpips_loader.resolve_weights_path() == bundled
    assert lpips_loader.resolve_weights_path("mine.pth") == "mine.pth"
    monkeypatch.setenv(lpips_loader.ENV_VAR, "from_env.pth")
    assert lpips_loader.resolve_weights_path() == "from_env.pth"
    monkeypatch.delenv(lpips_loader.ENV_VAR)
    model = load_lpips()
    state = torch.load(alexnet_file, map_location="cpu", weights_only=True)  # the same tensors
    own = model.net.state_dict()
    assert torch.equal(own["slice1.0.weight"], state["features.0.weight"])
    assert torch.equal(own["slice5.10.bias"], state["features.10.bias"])


def test_load_lpips_without_any_weights_says_how(monkeypatch, tmp_path):
    """Bundled file gone (e.g. deleted), nothing cached, offline: one line naming the bundled
    file and every way to give one, for the command lines, the API and training configs."""
    monkeypatch.delenv(lpips_loader.ENV_VAR, raising=False)
    monkeypatch.setattr(lpips_loader, "bundled_weights_path", lambda: str(tmp_path / "gone.pth"))

    def offline():
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(lpips_loader, "_torchvision_alexnet_state", offline)
    with pytest.raises(UserError) as err:
        load_lpips()
    msg = str(err.value)
    assert "\n" not in msg and "gone.pth" in msg and "alexnet_imagenet_features.pth" in msg
    for way in ("--lpips_weights PATH", "lpips_weights=PATH", "metric.LPIPS.weights", lpips_loader.ENV_VAR):
        assert way in msg, way


# ----------------------------------------------------------------------------- evaluate.py
def test_evaluate_reports_missing_datasets(tmp_path):
    script = os.path.join(REPO, "codes", "official_metrics", "evaluate.py")
    cmd = [
        sys.executable,
        script,
        "--model",
        "TecoGAN_BD_iter500000",
        "--data_root",
        str(tmp_path / "data"),
        "--results_root",
        str(tmp_path / "results"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Vid4: skipped" in proc.stdout and "ToS3: skipped" in proc.stdout
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: nothing to evaluate")


def test_evaluate_one_dataset_present(tmp_path, capsys, monkeypatch):
    """Vid4 present (two of its sequences, from the fixture), ToS3 absent: Vid4 done, ToS3 skipped.
    No weights option: LPIPS and tLP100 come from the bundled AlexNet file (the fixture's values)."""
    monkeypatch.delenv(lpips_loader.ENV_VAR, raising=False)
    import shutil

    from tecogan.official_metrics import evaluate

    for seq in EXPECTED["sequences"]:
        shutil.copytree(os.path.join(CASE, "GT", seq), tmp_path / "data" / "Vid4" / "GT" / seq)
        shutil.copytree(os.path.join(CASE, "SR", seq), tmp_path / "results" / "Vid4" / "M" / seq)
    code = evaluate.main(
        [
            "--model",
            "M",
            "--data_root",
            str(tmp_path / "data"),  # LPIPS: bundled weights
            "--results_root",
            str(tmp_path / "results"),
            "--workers",
            "1",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "ToS3: skipped" in captured.out
    assert "city, foliage missing" in captured.err
    log_dir = tmp_path / "results" / "Vid4" / "M" / "metric_log"
    got = json.loads((log_dir / "metrics.json").read_text())
    for m, want in EXPECTED["summary"].items():
        _close(m, got["summary"][m]["folder_avg"], want["folder_avg"])
    assert (log_dir / "metrics.csv").is_file() and (log_dir / "metricsfile.txt").is_file()


def test_metrics_subset_needs_no_lpips_weights(tmp_path, monkeypatch):
    """--metrics PSNR,SSIM,tOF computes the subset without looking for AlexNet weights."""
    monkeypatch.delenv("TECOGAN_LPIPS_WEIGHTS", raising=False)
    seq = EXPECTED["sequences"][0]
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "codes", "official_metrics", "metrics.py"),
            "--output",
            str(tmp_path / "out"),
            "--results",
            os.path.join(CASE, "SR", seq),
            "--targets",
            os.path.join(CASE, "GT", seq),
            "--metrics",
            "PSNR,tOF",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TORCH_HOME=str(tmp_path / "no_hub")),
    )
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(report["summary"]) == {"PSNR", "tOF"}
    _close("PSNR", report["per_sequence"][seq]["PSNR"], EXPECTED["per_sequence"][seq]["PSNR"])
    _close("tOF", report["per_sequence"][seq]["tOF"], EXPECTED["per_sequence"][seq]["tOF"])
    bad = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "codes", "official_metrics", "metrics.py"),
            "--output",
            str(tmp_path / "o2"),
            "--results",
            os.path.join(CASE, "SR", seq),
            "--targets",
            os.path.join(CASE, "GT", seq),
            "--metrics",
            "PSNR,VMAF",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--metrics PSNR,VMAF" in bad.stderr and "Traceback" not in bad.stderr


def test_metrics_output_checked_before_the_long_work(tmp_path, capsys, monkeypatch):
    for kind in ("SR", "GT"):
        write_frames(tmp_path / kind / "seq", n=5, h=16, w=16)
    argv = [
        "metrics.py",
        "--results",
        tmp_path / "SR" / "seq",
        "--targets",
        tmp_path / "GT" / "seq",
        "--device",
        "cpu",
        "--lpips_weights",
        tmp_path / "never_read.pth",
    ]
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--output", tmp_path / "GT" / "seq"], capsys, monkeypatch)
    assert_one_line(status, err, "--output", "is the input --targets")
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--output", tmp_path], capsys, monkeypatch)
    assert_one_line(status, err, "contains the input")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "metrics.json").write_text('{"earlier": 1}')
    (tmp_path / "file_out").write_text("a file")
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--output", tmp_path / "out"], capsys, monkeypatch)
    assert_one_line(status, err, "metrics.json", "already exists", "--overwrite")
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--output", tmp_path / "file_out"], capsys, monkeypatch)
    assert_one_line(status, err, "file_out", "is a file")
    assert tree_hash(tmp_path) == before  # and the missing LPIPS weights were never needed


def test_evaluate_never_writes_into_a_gt_folder(tmp_path, capsys, monkeypatch):
    """GT scored against itself (--results_root = --data_root, --model GT): its metric_log/ would
    sit among the GT sequences and be taken for one by every later evaluation: refused."""
    write_frames(tmp_path / "data" / "D" / "GT" / "s", n=5, h=16, w=16)
    before = tree_hash(tmp_path)
    argv = ["evaluate.py", "--model", "GT", "--datasets", "D", "--data_root", tmp_path / "data"]
    argv += ["--results_root", tmp_path / "data", "--metrics", "PSNR", "--device", "cpu"]
    status, _, err = run_inprocess(evaluate_cmd.cli, argv, capsys, monkeypatch)
    assert_one_line(status, err, "GT/metric_log", "lies inside the input --targets")
    assert tree_hash(tmp_path) == before


def test_evaluate_keeps_existing_metric_log(tmp_path, capsys, monkeypatch):
    write_frames(tmp_path / "data" / "D" / "GT" / "s", n=5, h=16, w=16)
    write_frames(tmp_path / "results" / "D" / "M" / "s", n=5, h=16, w=16)
    log = tmp_path / "results" / "D" / "M" / "metric_log"
    log.mkdir()
    (log / "metrics.csv").write_text("earlier")
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(
        evaluate_cmd.cli,
        [
            "evaluate.py",
            "--model",
            "M",
            "--datasets",
            "D",
            "--data_root",
            tmp_path / "data",
            "--results_root",
            tmp_path / "results",
        ],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "metrics.csv", "--overwrite")
    assert tree_hash(tmp_path) == before


def _metric_folders(root, sr_names):
    write_frames(root / "GT" / "s1", n=5, h=64, w=64, names=[f"{i:04d}.png" for i in range(5)])
    write_frames(root / "SR" / "s1", n=5, h=64, w=64, seed=1, names=sr_names)


@pytest.mark.parametrize(
    "sr_names, ok",
    [
        ([f"{i:04d}.png" for i in range(5)], True),
        ([f"output_{i:04d}.png" for i in range(5)], True),  # the official results' names
        ([f"{i:04d}.png" for i in range(1, 6)], False),  # offset by one frame
    ],
)
def test_evaluation_pairs_frames_by_name(tmp_path, capsys, monkeypatch, sr_names, ok):
    from tecogan.official_metrics import metrics as metrics_cmd

    _metric_folders(tmp_path, sr_names)
    before = tree_hash(tmp_path / "GT"), tree_hash(tmp_path / "SR")
    argv = [
        "metrics.py",
        "--output",
        tmp_path / "m",
        "--results",
        tmp_path / "SR" / "s1",
        "--targets",
        tmp_path / "GT" / "s1",
        "--metrics",
        "PSNR,SSIM",
        "--workers",
        "1",
    ]
    status, _, err = run_inprocess(metrics_cmd.cli, argv, capsys, monkeypatch)
    if ok:
        assert status == 0, err
    else:
        assert_one_line(status, err, "0001.png", "names differ", "--pair_by position")
        status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--pair_by", "position"], capsys, monkeypatch)
        assert status == 0, err
    assert (tree_hash(tmp_path / "GT"), tree_hash(tmp_path / "SR")) == before


@pytest.mark.parametrize("gone", ["0002.png", "0004.png"])
def test_a_missing_sr_frame_is_named_as_missing(tmp_path, capsys, monkeypatch, gone):
    """One SR frame deleted from the middle or the end: the line names the GT frame that has none
    (pairing by position, the old hint, would pair every later frame wrongly)."""
    from tecogan.official_metrics import metrics as metrics_cmd

    _metric_folders(tmp_path, [f"{i:04d}.png" for i in range(5)])
    os.remove(tmp_path / "SR" / "s1" / gone)
    argv = ["metrics.py", "--output", tmp_path / "m", "--results", tmp_path / "SR" / "s1", "--targets", tmp_path / "GT" / "s1"]
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--metrics", "PSNR", "--workers", "1"], capsys, monkeypatch)
    assert_one_line(status, err, "no SR frame for the GT frame", gone, "a frame is missing: 4 SR frames, 5 GT frames")
    assert "--pair_by" not in err


def test_an_extra_sr_frame_at_the_end_is_named(tmp_path, capsys, monkeypatch):
    from tecogan.official_metrics import metrics as metrics_cmd

    _metric_folders(tmp_path, [f"{i:04d}.png" for i in range(5)])
    shutil.copy(tmp_path / "SR" / "s1" / "0004.png", tmp_path / "SR" / "s1" / "0005.png")
    argv = ["metrics.py", "--output", tmp_path / "m", "--results", tmp_path / "SR" / "s1", "--targets", tmp_path / "GT" / "s1"]
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--metrics", "PSNR", "--workers", "1"], capsys, monkeypatch)
    assert_one_line(status, err, "0005.png", "no GT frame of that name or number", "an extra frame: 6 SR frames, 5 GT frames")


def test_a_sequence_name_that_is_not_utf8_is_written_as_its_bytes(tmp_path, capsys, monkeypatch):
    """A folder named with other bytes (an old Latin-1 disk) crashed the CSV writer after
    metrics.json was written, leaving a set that a rerun refused and benchmark_table took for whole."""
    from tecogan.official_metrics import metrics as metrics_cmd

    seq = os.fsdecode(bytes(tmp_path) + b"/seq\xff")
    write_frames(seq, n=5, h=64, w=64, names=[f"{i:04d}.png" for i in range(5)])
    argv = ["metrics.py", "--output", tmp_path / "m", "--results", seq, "--targets", seq, "--metrics", "PSNR", "--workers", "1"]
    status, _, err = run_inprocess(metrics_cmd.cli, argv, capsys, monkeypatch)
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / "m")) == ["metrics.csv", "metrics.json", "metricsfile.txt"]
    assert b"seq\xff,0002.png," in (tmp_path / "m" / "metrics.csv").read_bytes()


def test_frames_too_small_for_the_crop_name_the_sequence(tmp_path, capsys, monkeypatch):
    from tecogan.official_metrics import metrics as metrics_cmd

    write_frames(tmp_path / "GT" / "tiny", n=5, h=40, w=64, names=[f"{i:04d}.png" for i in range(5)])
    seq = tmp_path / "GT" / "tiny"
    argv = ["metrics.py", "--output", tmp_path / "m", "--results", seq, "--targets", seq]
    status, _, err = run_inprocess(metrics_cmd.cli, argv + ["--metrics", "PSNR", "--workers", "1"], capsys, monkeypatch)
    assert_one_line(status, err, "tiny", "frames of 64x40 are too small for the official crop_8x8")
    assert not (tmp_path / "m").exists()
