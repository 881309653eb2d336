# ruff: noqa: E501  (log lines as the trainer writes them)
"""scripts/monitor_training.py: parses the trainer's log and metrics JSON, writes PNG plots."""

import json
import os
import subprocess

import pytest
from helpers import CAPTURE, assert_one_line, load_script, run_inprocess, script_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOG = """2026-01-01 00:00:00 [INFO]: Start training TecoGAN (BD) on cpu x 1
2026-01-01 00:00:01 [INFO]: [epoch: 0 | iter: 10 | lr_G: 5.000e-05 | lr_D: 5.000e-05] l_gan_D: 1.300e+00, p_real_D: 1.000e-01, distance: 2.000e-01, l_pix_G: 5.000e-02, l_gan_G: 7.000e-03
2026-01-01 00:00:02 [INFO]: [TinyVal] G_iter10 average: PSNR: 20.000000, tOF: 1.000000
2026-01-01 00:00:03 [INFO]: [epoch: 1 | iter: 20 | lr_G: 5.000e-05 | lr_D: 5.000e-05] l_gan_D: 0.000e+00, p_real_D: 2.000e-01, distance: 5.000e-01, l_pix_G: 4.000e-02, l_gan_G: 8.000e-03
"""


def make_exp(root):
    exp = root / "experiments_BD" / "TecoGAN" / "001"
    (exp / "train").mkdir(parents=True)
    (exp / "test" / "metrics").mkdir(parents=True)
    (exp / "train" / "train.log").write_text(LOG)
    (exp / "test" / "metrics" / "Vid4_avg.json").write_text(
        json.dumps({"G_iter20": {"PSNR": 21.0, "tOF": 0.9}, "G_iter10": {"PSNR": 20.0, "tOF": 1.0}})
    )
    return exp


def test_parse_log_and_metrics(tmp_path):
    mt = load_script("scripts/monitor_training.py")
    exp = make_exp(tmp_path)
    curves = mt.parse_log(str(exp / "train" / "train.log"))
    assert set(curves) == {"l_gan_D", "p_real_D", "distance", "l_pix_G", "l_gan_G"}
    assert curves["l_pix_G"] == ([10, 20], [0.05, 0.04])
    metrics = mt.parse_metrics(str(exp / "test" / "metrics" / "Vid4_avg.json"))
    assert metrics["PSNR"] == ([10, 20], [20.0, 21.0])


def _png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _agg(in_process_capture, monkeypatch):
    """monitor() runs the script in this process (helpers.CAPTURE), plotting without a display."""
    monkeypatch.setenv("MPLBACKEND", "Agg")


def monitor(*args, cwd=None):
    """scripts/monitor_training.py ARGS through its cli() in this process (from ``cwd``): a CompletedProcess."""
    with CAPTURE["monkeypatch"].context() as m:
        if cwd is not None:
            m.chdir(cwd)
        status, out, err = run_inprocess(
            script_cli("scripts/monitor_training.py"), ["monitor_training.py", *map(str, args)], CAPTURE["capsys"], m
        )
    return subprocess.CompletedProcess(args, status, out, err)


def test_cli_by_model_and_by_exp_dir(tmp_path):
    exp = make_exp(tmp_path)
    r = monitor("--degradation", "BD", "--model", "TecoGAN", "--dataset", "Vid4", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _png(exp / "plots" / "losses.png") and _png(exp / "plots" / "metrics_Vid4.png")
    os.remove(exp / "plots" / "losses.png")
    r = monitor("--exp_dir", str(exp))
    assert r.returncode == 0, r.stderr
    assert _png(exp / "plots" / "losses.png")


def test_cli_errors_are_one_line(tmp_path):
    exp = make_exp(tmp_path)
    for args in (["--exp_dir", str(tmp_path / "nope")], ["--exp_dir", str(exp), "--dataset", "REDS"]):
        r = monitor(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip(), r.stderr


def test_baseline_option(tmp_path):
    mt = load_script("scripts/monitor_training.py")
    assert mt.parse_baseline("PSNR=24.13:bicubic") == ("PSNR", 24.13, "bicubic")
    assert mt.parse_baseline("tOF=0.5") == ("tOF", 0.5, "tOF = 0.5")
    exp = make_exp(tmp_path)
    r = monitor("--exp_dir", str(exp), "--baseline", "PSNR=19.5:bicubic")
    assert r.returncode == 0, r.stderr
    assert _png(exp / "plots" / "metrics_Vid4.png")
    for bad in ("PSNR", "PSNR=abc", "=3"):
        r = monitor("--exp_dir", str(exp), "--baseline", bad)
        assert r.returncode == 2 and "METRIC=VALUE" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = monitor("--exp_dir", str(exp), "--baseline", "NOPE=1")  # a metric no panel shows: said, not ignored
    assert r.returncode == 0 and "--baseline NOPE: no validation panel of that name (panels: PSNR, tOF)" in r.stderr, r.stderr


def test_a_resumed_run_s_log_replaces_the_stopped_run_s_later_points(tmp_path):
    """Killed at iteration 25 after a checkpoint at 20, resumed from 20: the log holds 10, 20, 25
    (the stopped run), then 25, 30 (the resumed one); the curve is 10, 20, 25, 30, never backwards."""
    mt = load_script("scripts/monitor_training.py")
    line = "2026-01-01 00:00:0{s} [INFO]: [epoch: 0 | iter: {it} | lr_G: 5.000e-05] l_pix_G: {v}"
    text = "\n".join(line.format(s=i, it=it, v=v) for i, (it, v) in enumerate([(10, 5), (20, 4), (25, 9), (25, 3), (30, 2)]))
    (tmp_path / "train.log").write_text(text + "\n")
    assert mt.parse_log(str(tmp_path / "train.log"))["l_pix_G"] == ([10, 20, 25, 30], [5.0, 4.0, 3.0, 2.0])


def test_compare_option(tmp_path):
    mt = load_script("scripts/monitor_training.py")
    exp = make_exp(tmp_path)
    other = tmp_path / "other"
    (other / "test" / "metrics").mkdir(parents=True)
    (other / "test" / "metrics" / "Vid4_avg.json").write_text(json.dumps({"G_iter10": {"PSNR": 20.5}}))
    assert mt.parse_compare(f"B={other}") == ("B", str(other))
    r = monitor("--exp_dir", str(exp), "--label", "A", "--compare", f"B={other}", "--baseline", "PSNR=19.5:bicubic")
    assert r.returncode == 0, r.stderr
    assert _png(exp / "plots" / "metrics_Vid4.png")
    (other / "test" / "metrics" / "Vid4_avg.json").rename(other / "test" / "metrics" / "REDS_avg.json")
    for bad, said in (
        (f"B={other}", "no validation metrics for dataset Vid4"),
        ("B", "LABEL=EXP_DIR"),
        (f"B={tmp_path / 'nope'}", "experiment folder not found"),
    ):
        r = monitor("--exp_dir", str(exp), "--compare", bad)
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def monitor_exp(tmp_path, log_bytes, metrics_text=None):
    exp = tmp_path / "exp"
    (exp / "train").mkdir(parents=True)
    (exp / "train" / "train.log").write_bytes(log_bytes)
    if metrics_text is not None:
        (exp / "test" / "metrics").mkdir(parents=True)
        (exp / "test" / "metrics" / "V_avg.json").write_text(metrics_text)
    return exp


LOG_BYTES = (
    b"2024-01-01 00:00:00 [INFO]: [epoch: 0 | iter: 1 | lr_G: 1e-4] l_pix_G: 1.0e-01\n"
    b"2024-01-01 00:00:01 [INFO]: caf\xe9 \xff\xfe damaged bytes\n"
    b"2024-01-01 00:00:02 [INFO]: [epoch: 0 | iter: 2 | lr_G: 1e-4] l_pix_G: 9.0e-02\n"
)


def test_monitor_reads_logs_with_invalid_utf8(tmp_path, capsys, monkeypatch):
    exp = monitor_exp(tmp_path, LOG_BYTES)
    status, _, err = run_inprocess(
        script_cli("scripts/monitor_training.py"), ["monitor_training.py", "--exp_dir", exp], capsys, monkeypatch
    )
    assert status == 0, err
    assert (exp / "plots" / "losses.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "text, needle",
    [
        ('{"G_iter2": {"PSNR": 2', "not readable JSON"),
        ("[1, 2, 3]", "holds a list"),
        ('{"G_iter2": "fast"}', "entry 'G_iter2'"),
        ('{"nothing": {"PSNR": 1}}', "entry 'nothing'"),
        ('{"G_iter2": {"PSNR": "x"}}', "entry 'G_iter2'"),
        ("{}", "no validation values of the generator G"),  # was a ZeroDivisionError
        ('{"G_iter150": {}}', "no validation values of the generator G"),
        ('{"G_ema_iter150": {"PSNR": 1}}', "no validation values of the generator G"),
    ],
)
def test_monitor_on_truncated_or_foreign_json(tmp_path, capsys, monkeypatch, text, needle):
    exp = monitor_exp(tmp_path, LOG_BYTES, text)
    status, _, err = run_inprocess(
        script_cli("scripts/monitor_training.py"), ["monitor_training.py", "--exp_dir", exp], capsys, monkeypatch
    )
    assert_one_line(status, err, "V_avg.json", needle)


def test_monitor_training_leaves_out_values_it_cannot_draw(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    (exp / "train").mkdir(parents=True)
    (exp / "train" / "train.log").write_text(
        "[epoch: 0 | iter: 1 | lr_G: 1e-4] l_pix_G: 1.0e-01\n[epoch: 0 | iter: 2 | lr_G: 1e-4] l_pix_G: 1e308\n"
        "[epoch: 0 | iter: 3 | lr_G: 1e-4] l_pix_G: inf\n"
    )
    (exp / "test" / "metrics").mkdir(parents=True)
    (exp / "test" / "metrics" / "V_avg.json").write_text(
        '{"G_iter1": {"PSNR": 1e308}, "G_iter2": {"PSNR": 24.0}, "G_iter3": {"PSNR": ' + "9" * 400 + "}}"
    )
    status, _, err = run_inprocess(
        script_cli("scripts/monitor_training.py"), ["monitor_training.py", "--exp_dir", exp], capsys, monkeypatch
    )
    assert status == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and all("left out" in w for w in warnings), err
    assert (exp / "plots" / "metrics_V.png").stat().st_size > 1000
