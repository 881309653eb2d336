"""Training with the Real degradation end to end: a BI generator, the degradation in a DataLoader
worker, and a resume that gives the same weights as an uninterrupted run."""

import pytest
from test_training_trainer import assert_same, tiny_data, train, weights, write_opt  # noqa: F401 (fixture)


def _real(workers):
    def extra(opt):
        opt["dataset"]["degradation"] = {"type": "Real", "real": {"noise": {"prob": 1.0}, "video": {"prob": 1.0}}}
        opt["dataset"]["train"] = {
            "name": "Tiny",
            "gt_seq_dir": opt["dataset"]["train"]["seq_dir"],
            "gt_crop_size": 32,
            "batch_size": 2,
            "num_workers": workers,
        }
        opt["train"]["precision"] = "bf16"

    return extra


@pytest.mark.slow
def test_real_training_and_resume_with_a_worker(tiny_data, tmp_path):  # noqa: F811
    straight = write_opt(tmp_path / "straight", tiny_data, total_iter=4, extra=_real(0))
    train(straight)
    log = (straight / "train" / "train.log").read_text()
    assert "(Real)" in log and "iter: 4 |" in log
    # the generator is the BI one: no fixed bicubic kernels in the checkpoint
    assert not any("upsample_func.kernels" in k for k in weights(straight / "train" / "ckpt" / "G_iter4.pth"))
    half = write_opt(tmp_path / "half", tiny_data, total_iter=2, extra=_real(1))
    train(half)
    write_opt(tmp_path / "half", tiny_data, total_iter=4, extra=_real(1))
    train(half, "FRVSR", "--resume", "auto")
    assert_same(weights(straight / "train" / "ckpt" / "G_iter4.pth"), weights(half / "train" / "ckpt" / "G_iter4.pth"))
