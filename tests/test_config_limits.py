"""config/schema.py and config/limits.py: every number of an experiment YAML that sizes work is
bounded where it enters, NaN and infinities are refused by name, the checkpoint is compared with
nf/nb before anything is built, and a test series cannot list millions of checkpoints.  The fuzz
test puts hostile numbers into every numeric setting of the shipped YAMLs: each case loads (within
the limits) or is one UserError line.
"""

import os
import random

import pytest
import torch
import yaml
from helpers import assert_one_line, run_inprocess, tree_hash

from tecogan import defaults
from tecogan import main as main_cmd
from tecogan.experiment import load_config
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = [
    os.path.join(REPO, "experiments_BD", "TecoGAN", "001", "train.yml"),
    os.path.join(REPO, "experiments_BD", "FRVSR", "001", "test.yml"),
]
HOSTILE = [
    0,
    -1,
    1,
    2**31,
    2**63,
    10**30,
    10**400,
    100_000_000,
    100_000_000_000,
    1e308,
    -1e308,
    1e-320,
    float("nan"),
    float("inf"),
    -float("inf"),
    0.5,
    True,
    "12",
    None,
    [],
    {"a": 1},
    [10**400],
]


def numeric_leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numeric_leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from numeric_leaves(v, path + (i,))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path


def set_at(node, path, value):
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def walk_numbers(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from walk_numbers(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk_numbers(v)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield node


@pytest.mark.parametrize("shipped", SHIPPED)
def test_yaml_number_fuzz(tmp_path, shipped):
    with open(shipped) as f:
        base = yaml.safe_load(f)
    leaves = list(numeric_leaves(base))
    assert len(leaves) >= 5
    r = random.Random(0)
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(150):
        opt = yaml.safe_load(yaml.safe_dump(base))
        for _ in range(1 + case % 3):
            set_at(opt, r.choice(leaves), r.choice(HOSTILE))
        path = tmp_path / f"c{case}.yml"
        path.write_text(yaml.safe_dump(opt))
        try:
            loaded = load_config(str(path))
        except UserError as err:
            assert "\n" not in str(err) and str(err).startswith(f"c{case}.yml: "), str(err)
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        for v in walk_numbers(loaded):  # what loads is finite and of a plausible size
            assert abs(v) <= 1 << 53 and v == v and abs(v) != float("inf"), v
        test = loaded.get("test") or {}
        assert test.get("num_pad_front", 0) <= defaults.MAX_NUM_PAD_FRONT
        assert loaded["model"]["generator"]["nb"] <= defaults.MAX_NB
    assert outcomes["refused"] > 50 and outcomes["loaded"] > 5, outcomes


@pytest.mark.parametrize(
    "where, value, needle",
    [
        (("test", "num_pad_front"), 100_000_000, "test.num_pad_front: expected an integer in 0..1000"),
        (("model", "generator", "nb"), 200_000, "model.generator.nb: expected an integer >= 1 and <= 256"),
        (("model", "generator", "nf"), 5000, "model.generator.nf: expected an integer >= 1 and <= 1024"),
        (("test", "test_freq"), 0, "test.test_freq: expected an integer >= 1"),
        (("test", "end_iter"), 10**11, "test.end_iter: expected an integer >= 0 and <= 100000000"),
        (("dataset", "degradation", "sigma"), 1e6, "dataset.degradation.sigma: expected a number > 0 and <= 50"),
        (("model", "generator", "nf"), 10**400, "model.generator.nf"),
        (("manual_seed",), -1, "manual_seed: expected an integer >= 0 and <= 4294967295"),
        (("manual_seed",), 2**33, "manual_seed: expected an integer >= 0 and <= 4294967295"),
    ],
)
def test_yaml_numbers_are_bounded_where_they_enter(tmp_path, where, value, needle):
    with open(SHIPPED[1]) as f:
        opt = yaml.safe_load(f)
    node = opt
    for k in where[:-1]:
        node = node.setdefault(k, {})
    node[where[-1]] = value
    (tmp_path / "t.yml").write_text(yaml.safe_dump(opt))
    with pytest.raises(UserError, match=needle.replace(".", r"\.")):
        load_config(str(tmp_path / "t.yml"))


def test_test_series_of_millions_of_checkpoints_is_refused(tmp_path):
    with open(SHIPPED[1]) as f:
        opt = yaml.safe_load(f)
    opt["test"].update(start_iter=0, end_iter=100_000_000, test_freq=1)
    (tmp_path / "t.yml").write_text(yaml.safe_dump(opt))
    with pytest.raises(UserError, match="100000001 checkpoints, more than 10000"):
        load_config(str(tmp_path / "t.yml"))
    opt["test"].update(start_iter=50, end_iter=10)
    (tmp_path / "t.yml").write_text(yaml.safe_dump(opt))
    with pytest.raises(UserError, match="test.end_iter: 10 is smaller than test.start_iter 50"):
        load_config(str(tmp_path / "t.yml"))


def test_checkpoint_compared_before_the_generator_is_built(tmp_path, capsys, monkeypatch):
    """nb within the limits but not the checkpoint's: one line, and nothing is built first."""
    import tecogan.networks as networks

    torch.save(FRNet(nf=8, nb=1, degradation="BD").state_dict(), tmp_path / "ck.pth")
    (tmp_path / "LR" / "s1").mkdir(parents=True)
    import cv2
    import numpy as np

    for i in range(2):
        cv2.imwrite(str(tmp_path / "LR" / "s1" / f"{i:04d}.png"), np.zeros((12, 16, 3), np.uint8))
    (tmp_path / "exp").mkdir()
    opt = {
        "scale": 4,
        "dataset": {"degradation": {"type": "BD"}, "test1": {"name": "T", "lr_seq_dir": str(tmp_path / "LR")}},
        "model": {"name": "FRVSR", "generator": {"nf": 8, "nb": 200, "load_path": str(tmp_path / "ck.pth")}},
        "test": {"save_res": True, "res_dir": str(tmp_path / "results")},
    }
    (tmp_path / "exp" / "test.yml").write_text(yaml.safe_dump(opt))

    def never(*_a, **_k):
        raise AssertionError("a generator was built before the checkpoint was compared")

    monkeypatch.setattr(networks, "build_generator", never)
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(
        main_cmd.cli,
        ["main.py", "--exp_dir", tmp_path / "exp", "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "ck.pth", "does not fit", "nf 8, nb 1")
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_yaml_numbers_must_be_finite(tmp_path, value):
    """NaN passes every comparison check (nan > 0 is False, but so is nan <= 0): refused by name."""
    from tecogan.experiment import load_config

    text = (
        "scale: 4\ndataset: {degradation: {type: BD}}\nmodel: {name: FRVSR, generator: {}}\n"
        f"train: {{total_iter: 2, generator: {{lr: {value}}}}}\n"
    )
    (tmp_path / "t.yml").write_text(text)
    with pytest.raises(UserError, match=r"train.generator.lr: expected (a finite number|a learning rate > 0)"):
        load_config(str(tmp_path / "t.yml"))
