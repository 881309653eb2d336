"""logger.tensorboard: the event files of a tiny training hold the losses, learning rates, gradient
norms, validation metrics and images and the config, at the expected steps; an exact resume
continues the same stream without duplicated steps (purge_step)."""

import os

import pytest
from test_training_trainer import tiny_data, train, write_opt  # noqa: F401 - tiny_data is a fixture

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def events(exp):
    acc = EventAccumulator(str(exp / "train" / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def steps(acc, tag):
    return [e.step for e in acc.Scalars(tag)]


def with_ema(opt):
    opt["train"]["ema_decay"] = 0.9


def test_tags_and_steps(tiny_data, tmp_path):  # noqa: F811
    exp = write_opt(tmp_path / "exp", tiny_data, total_iter=4, extra=with_ema)
    train(exp)
    acc = events(exp)
    tags = set(acc.Tags()["scalars"])
    assert {
        "train/l_pix_G",
        "train/l_warp_G",
        "lr/lr_G",
        "grad_norm/G",
        "val/TinyVal/PSNR",
        "val/TinyVal/tOF",
        "val_ema/TinyVal/PSNR",
        "val_ema/TinyVal/tOF",
    } <= tags, tags
    assert steps(acc, "train/l_pix_G") == [1, 2, 3, 4]
    assert [e.value for e in acc.Scalars("lr/lr_G")] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4])  # milestone 3
    assert all(e.value > 0 for e in acc.Scalars("grad_norm/G"))
    assert steps(acc, "val/TinyVal/PSNR") == [2, 4] == steps(acc, "val_ema/TinyVal/PSNR")
    # the validation average logged is the one in the metrics JSON
    import json

    avg = json.loads((exp / "test" / "metrics" / "TinyVal_avg.json").read_text())
    assert acc.Scalars("val/TinyVal/PSNR")[-1].value == pytest.approx(avg["G_iter4"]["PSNR"], rel=1e-6)
    assert acc.Scalars("val_ema/TinyVal/PSNR")[-1].value == pytest.approx(avg["G_ema_iter4"]["PSNR"], rel=1e-6)
    images = acc.Images("images/TinyVal")
    assert [e.step for e in images] == [2, 4] and images[0].width == 3 * 32 + 4 and images[0].height == 32
    assert [e.step for e in acc.Images("images_ema/TinyVal")] == [2, 4]
    text = acc.Tensors("config/text_summary")
    assert text[0].step == 0 and b"total_iter: 4" in text[0].tensor_proto.string_val[0]


@pytest.mark.slow  # two trainings; fast: test_tags_and_steps (the stream's tags and steps), test_off
def test_resume_continues_the_stream_without_duplicate_steps(tiny_data, tmp_path):  # noqa: F811
    exp = write_opt(tmp_path / "exp", tiny_data, total_iter=3)
    train(exp)
    # as if the process had been killed after logging iteration 3 but before saving its state
    for name in ("state_iter3.pth", "G_iter3.pth"):
        os.remove(exp / "train" / "ckpt" / name)
    write_opt(tmp_path / "exp", tiny_data, total_iter=5)
    train(exp, "FRVSR", "--resume", "auto")
    assert len(os.listdir(exp / "train" / "tensorboard")) == 2  # one event file per process
    acc = events(exp)
    assert steps(acc, "train/l_pix_G") == [1, 2, 3, 4, 5]
    assert steps(acc, "grad_norm/G") == [1, 2, 3, 4, 5]
    assert steps(acc, "val/TinyVal/PSNR") == [2, 4]
    assert [e.step for e in acc.Tensors("config/text_summary")] == [0, 2]


def test_off(tiny_data, tmp_path):  # noqa: F811
    def off(opt):
        opt["logger"]["tensorboard"] = False

    exp = write_opt(tmp_path / "exp", tiny_data, total_iter=1, extra=off)
    train(exp)
    assert not (exp / "train" / "tensorboard").exists()


def test_default_follows_the_package_and_true_without_it_is_one_line(monkeypatch):
    from tecogan.training import tensorboard_log
    from tecogan.utils.errors import UserError

    assert tensorboard_log.enabled({"logger": {}}) is True  # installed here: on by default
    monkeypatch.setattr(tensorboard_log, "available", lambda: False)
    assert tensorboard_log.enabled({"logger": {}}) is False
    assert tensorboard_log.enabled({"logger": {"tensorboard": False}}) is False
    with pytest.raises(UserError, match=r"^logger.tensorboard: true, but the tensorboard package is not installed"):
        tensorboard_log.enabled({"logger": {"tensorboard": True}})
