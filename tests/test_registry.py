"""Parts by registry: a model, criterion, LR schedule, discriminator, training dataset or
validation metric added to its table alone is accepted by the config and used by the builders."""

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
from golden_steps import make_opt

from tecogan.config.schema import NUM, Key, Section
from tecogan.data import train_datasets
from tecogan.experiment import validate_config
from tecogan.metrics import validation
from tecogan.models import MODELS, build_model, losses, lr_schedules
from tecogan.models.frvsr_model import FRVSRModel
from tecogan.networks import discriminators
from tecogan.utils.errors import UserError


class HalfL1(nn.Module):
    def forward(self, a, b):
        return 0.5 * (a - b).abs().mean()


def test_a_criterion_through_the_table_alone(monkeypatch):
    opt = make_opt("frvsr")
    opt["train"]["pixel_crit"]["type"] = "HalfL1"
    with pytest.raises(UserError, match="'HalfL1' is not allowed"):
        validate_config(copy.deepcopy(opt), "t")
    monkeypatch.setitem(losses.CRITERIA, "HalfL1", (lambda _reduction: HalfL1(), "distance"))
    model = build_model(validate_config(opt, "t"), torch.device("cpu"))
    assert isinstance(model.pix_crit, HalfL1)
    # a distance is not accepted where logits are compared
    opt = make_opt("tecogan_default")
    opt["train"]["gan_crit"]["type"] = "HalfL1"
    with pytest.raises(UserError, match="gan_crit.type: 'HalfL1' is not allowed"):
        validate_config(opt, "t")


def test_a_schedule_through_the_table_alone(monkeypatch):
    opt = make_opt("frvsr")
    opt["train"]["generator"]["lr_schedule"] = {"type": "Halving"}
    monkeypatch.setitem(
        lr_schedules.SCHEDULES,
        "Halving",
        lambda optimizer, _cfg: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 0.5**it),
    )
    model = build_model(validate_config(opt, "t"), torch.device("cpu"))
    with warnings.catch_warnings():  # stepped without an optimiser step: only the LR is read
        warnings.simplefilter("ignore", UserWarning)
        model.sched_G.step()
    assert model.optim_G.param_groups[0]["lr"] == pytest.approx(0.5e-4)


def test_a_model_and_a_discriminator_through_the_tables_alone(monkeypatch):
    class QuietFRVSR(FRVSRModel):
        pass

    class TinyD(discriminators.SNet):
        @classmethod
        def from_options(cls, d, crop):
            return cls(d["in_nc"], crop, use_cond=False)

    monkeypatch.setitem(MODELS, "QuietFRVSR", QuietFRVSR)
    opt = make_opt("frvsr")
    opt["model"]["name"] = "QuietFRVSR"
    assert isinstance(build_model(validate_config(opt, "t"), torch.device("cpu")), QuietFRVSR)
    monkeypatch.setitem(discriminators.DISCRIMINATORS, "TinyD", TinyD)
    opt = make_opt("tecogan_default")
    opt["model"]["discriminator"]["name"] = "TinyD"
    model = build_model(validate_config(opt, "t"), torch.device("cpu"))
    assert isinstance(model.net_D, TinyD) and not model.net_D.use_cond
    lr, gt = torch.rand(1, 4, 3, 16, 16), torch.rand(1, 4, 3, 64, 64)
    log = model.optimize({"lr": lr, "gt": gt})  # the model builds TinyD's input from its table entry
    assert np.isfinite(float(log["l_gan_G"]))


def test_a_training_dataset_through_the_table_alone(monkeypatch):
    made = {}

    def toy(ds, deg, common):
        made.update(ds=ds["name"], extent=common["tempo_extent"])
        return "a toy dataset"

    monkeypatch.setitem(train_datasets.TRAIN_DATASETS, "Toy", toy)
    opt = make_opt("frvsr")
    opt["dataset"] = {
        "degradation": {"type": "Toy"},
        "train": {"name": "toy", "gt_seq_dir": "g", "lr_seq_dir": "l", "gt_crop_size": 64},
    }
    assert train_datasets.build_train_dataset(validate_config(opt, "t")) == "a toy dataset"
    assert made == {"ds": "toy", "extent": 4}


def test_a_validation_metric_through_the_table_alone(monkeypatch):
    def mean_abs(vm, gt, sr):
        return np.abs(gt.astype(float) - sr.astype(float)).mean(axis=(1, 2, 3)) * vm.config["MAE"]["scale"]

    monkeypatch.setitem(
        validation.METRICS, "MAE", (mean_abs, Section({"mult": Key(NUM, default=1.0), "scale": Key(NUM, default=2.0)}))
    )
    opt = make_opt("frvsr")
    opt["metric"] = {"MAE": {}}
    assert validate_config(opt, "t")["metric"]["MAE"] == {"mult": 1.0, "scale": 2.0}
    gt = np.zeros((2, 8, 8, 3), np.uint8)
    sr = np.full((2, 8, 8, 3), 3, np.uint8)
    assert validation.ValidationMetrics({"MAE": {}, "PSNR": {}}).evaluate_sequence(gt, sr)["MAE"] == 6.0
