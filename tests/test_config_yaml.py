"""Recipes that inherit: ``base: PATH`` merged under a YAML's own keys before the schema check
(codes/experiment.py load_recipe): overrides, nested keys, lists replaced, errors naming the file and
line that set the bad value, cycles and missing bases in one line, and the shipped variants equal
to the full files they replaced."""

import hashlib
import json
import os

import pytest
import yaml
from helpers import REPO, assert_one_line, deadline, run_inprocess, tree_hash

from tecogan import main as main_cmd
from tecogan.experiment import load_config, load_recipe
from tecogan.utils.errors import UserError

# sha256 of json.dumps(yaml.safe_load(<the full file before it used base:>), sort_keys=True):
# checked once against the old files (dict equality), kept so that the merge stays stable
CONVERTED = {
    "experiments_BD/FRVSR_footage2/001/train.yml": "10ccf6e14b73a3a0f24d685ac54e6fdc45e94d61eea87f4d1c1ea2f46fadcb38",
    "experiments_BD/FRVSR_footage3/001/train.yml": "df605872992d11593ee93db5417fc12108fb56e0c9e0847c78503fe333338b6d",
    "experiments_BD/FRVSR_footage3/001/test.yml": "953b413703b6f86b42d23cac7ba7ce751579456f4809fdaa1a0083000be574b4",
    "experiments_BD/TecoGAN_footage2/001/train.yml": "4dd2550a5f8fed81e3350ca205846a921d0116b111232a04d3263483d4c276a5",
    "experiments_BD/TecoGAN_footage3/001/train.yml": "a0e0ce47e5a731fe8e0d663d59432366e1a6168e68e90eff3d47e1dd9dadbd55",
    "experiments_BD/TecoGAN_footage3/001/test.yml": "a1be2a124e610cabe71d368f52b49676ffa24382fafe2a33d4115b32e7179af1",
    "experiments_BI/FRVSR_real2/001/train.yml": "0fa3f168e658bd60826ea367e1e45bd4d171a966abde3edd5717bdcca906cbe4",
    "experiments_BI/FRVSR_real3/001/train.yml": "fb08ebfe2f8fa48d286777d4ccb8fdbf6a7d50f79237edce26060319c80cccc0",
    "experiments_BI/FRVSR_real_h264/001/train.yml": "7217c9ba3adf2c703a9f952a12ac7d29299633b060cd9504b9262cad905e3686",
}


@pytest.mark.parametrize("rel", sorted(CONVERTED))
def test_converted_recipe_equals_the_full_file_it_replaced(rel):
    path = os.path.join(REPO, rel)
    with open(path) as f:
        assert "base" in yaml.safe_load(f), f"{rel} no longer inherits"
    merged = load_recipe(path)
    assert hashlib.sha256(json.dumps(merged, sort_keys=True).encode()).hexdigest() == CONVERTED[rel]
    load_config(path)  # and passes the schema


BASE = """\
scale: 4
dataset:
  degradation:
    type: BD
    sigma: 1.5
  train:
    name: Tiny
    seq_dir: data/tiny.lmdb
    crop_size: 64
    batch_size: 4
model:
  name: FRVSR
  generator:
    nf: 8
    nb: 1
train:
  total_iter: 100
  generator:
    lr: 0.001
    lr_schedule:
      type: MultiStepLR
      milestones: [50, 80]
      gamma: 0.5
  pixel_crit:
    type: CB
metric:
  PSNR:
    colorspace: y
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_override_nested_keys_and_lists(tmp_path):
    write(tmp_path / "base" / "train.yml", BASE)
    child = write(
        tmp_path / "variant" / "train.yml",
        """\
# a variant
base: ../base/train.yml
dataset:
  train:
    batch_size: 8
train:
  generator:
    lr_schedule:
      milestones: [70]
  ema_decay: 0.99
""",
    )
    opt = load_config(child)
    assert "base" not in opt
    assert opt["dataset"]["train"]["batch_size"] == 8
    assert opt["dataset"]["train"]["crop_size"] == 64  # kept from the base, beside the override
    assert opt["train"]["generator"]["lr_schedule"] == {
        "type": "MultiStepLR",
        "milestones": [70],
        "gamma": 0.5,
        "eta_min": 0.0,
    }  # the list replaced, not appended
    assert opt["train"]["generator"]["lr"] == 0.001 and opt["train"]["ema_decay"] == 0.99
    assert opt["metric"]["PSNR"]["colorspace"] == "y"


def test_a_chain_of_bases_and_null_removes_a_section(tmp_path):
    write(tmp_path / "a" / "train.yml", BASE)
    write(tmp_path / "b" / "train.yml", "base: ../a/train.yml\ntrain:\n  total_iter: 200\n")
    c = write(tmp_path / "c" / "train.yml", "base: ../b/train.yml\nmetric: ~\ntrain:\n  generator:\n    lr: 0.002\n")
    raw = load_recipe(c)
    assert raw["train"]["total_iter"] == 200 and raw["train"]["generator"]["lr"] == 0.002
    assert raw["metric"] is None
    assert load_config(c)["train"]["generator"]["lr_schedule"]["milestones"] == [50, 80]


def test_null_gives_a_default_back_and_is_refused_where_a_number_is_required(tmp_path):
    write(tmp_path / "base" / "train.yml", BASE)
    child = write(
        tmp_path / "v" / "train.yml",
        "base: ../base/train.yml\nmodel:\n  generator:\n    nf: ~\n"
        "dataset:\n  train:\n    batch_size: ~\nlogger:\n  log_freq: ~\n",
    )
    opt = load_config(child)
    assert (opt["model"]["generator"]["nf"], opt["dataset"]["train"]["batch_size"], opt["logger"]["log_freq"]) == (64, 4, 100)
    write(tmp_path / "v" / "train.yml", "base: ../base/train.yml\ntrain:\n  total_iter: ~\n")
    with pytest.raises(UserError) as err:
        load_config(child)
    assert str(err.value).startswith(f"{child}: line 3: train.total_iter: expected an integer >= 1"), str(err.value)
    assert str(err.value).endswith("got null")


def test_error_names_the_file_and_line_that_set_the_value(tmp_path):
    base = write(tmp_path / "base" / "train.yml", BASE)
    child = write(tmp_path / "variant" / "train.yml", "base: ../base/train.yml\n\ntrain:\n  total_iter: -5\n")
    with pytest.raises(UserError) as err:
        load_config(child)
    assert str(err.value).startswith(f"{child}: line 4: train.total_iter: expected an integer >= 1"), str(err.value)
    write(tmp_path / "base" / "train.yml", BASE.replace("    nb: 1", "    nb: 0"))
    write(tmp_path / "variant" / "train.yml", "base: ../base/train.yml\n")
    with pytest.raises(UserError) as err:
        load_config(child)
    line = BASE.splitlines().index("    nb: 1") + 1
    assert str(err.value).startswith(f"{base}: line {line}: model.generator.nb: expected an integer >= 1"), str(err.value)
    assert "\n" not in str(err.value)


def test_a_new_section_in_the_variant_names_the_line_of_its_key(tmp_path):
    write(tmp_path / "base" / "train.yml", BASE)
    child = write(
        tmp_path / "variant" / "train.yml",
        "base: ../base/train.yml\ntrain:\n  lattice_crit:\n    type: Lattice\n    weight: -1\n",
    )
    with pytest.raises(UserError, match=r"variant/train.yml: line 5: train.lattice_crit.weight: expected a number >= 0"):
        load_config(child)


def test_unknown_key_in_the_variant_names_its_line(tmp_path):
    write(tmp_path / "base" / "train.yml", BASE)
    child = write(tmp_path / "variant" / "train.yml", "base: ../base/train.yml\ntrain:\n  generator:\n    lrr: 1\n")
    with pytest.raises(UserError, match=r"variant/train.yml: line 4: train.generator.lrr: unknown key \(did you mean lr\?\)"):
        load_config(child)


def test_missing_base_is_one_line(tmp_path):
    child = write(tmp_path / "variant" / "train.yml", "# comment\nbase: ../nowhere/train.yml\n")
    with pytest.raises(UserError) as err:
        load_config(child)
    msg = str(err.value)
    assert msg.startswith(f"{child}: line 2: base: ../nowhere/train.yml: not found") and "\n" not in msg, msg


@pytest.mark.parametrize("base, kind", [("../base", "a folder"), ("/dev/zero", "not a regular file")])
def test_a_base_that_is_no_file_names_the_line_that_chose_it(tmp_path, base, kind):
    write(tmp_path / "base" / "train.yml", BASE)
    child = write(tmp_path / "variant" / "train.yml", f"base: {base}\n")
    with pytest.raises(UserError) as err:
        load_config(child)
    assert str(err.value).startswith(f"{child}: line 1: base: {base}: {kind}"), str(err.value)


@pytest.mark.parametrize("value", ["[a.yml]", "''", "3"])
def test_base_must_be_a_path(tmp_path, value):
    child = write(tmp_path / "train.yml", f"base: {value}\n")
    with pytest.raises(UserError, match=r"line 1: base: expected the path of the YAML this one overrides"):
        load_config(child)


def test_cycle_is_one_line(tmp_path):
    a = write(tmp_path / "a.yml", "base: b.yml\nscale: 4\n")
    write(tmp_path / "b.yml", "base: a.yml\nscale: 4\n")
    with pytest.raises(UserError) as err:
        load_config(a)
    msg = str(err.value)
    assert "a cycle of bases" in msg and "a.yml -> " in msg and "b.yml -> " in msg and "\n" not in msg, msg
    selfref = write(tmp_path / "self.yml", "base: ./self.yml\n")
    with pytest.raises(UserError, match="a cycle of bases"):
        load_config(selfref)


def test_a_damaged_base_names_the_base(tmp_path):
    write(tmp_path / "base.yml", "scale: [4\n")
    child = write(tmp_path / "child.yml", "base: base.yml\n")
    with pytest.raises(UserError, match=r"base.yml: line \d+: invalid YAML"):
        load_config(child)
    write(tmp_path / "base.yml", "- 1\n- 2\n")
    with pytest.raises(UserError, match=r"base.yml: top level: expected a mapping"):
        load_config(child)


def test_files_without_base_keep_their_messages(tmp_path):
    path = write(tmp_path / "train.yml", BASE.replace("total_iter: 100", "total_iter: 0"))
    with pytest.raises(UserError, match=r"^train.yml: train.total_iter: expected an integer >= 1"):
        load_config(path)


def billion_laughs(levels=9, width=9, key="scale"):
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + f"\n{key}: *a{levels - 1}\n"


@pytest.mark.parametrize(
    "text, needle",
    [
        (billion_laughs(), "aliases expand to more than"),
        (billion_laughs(key="model"), "aliases expand to more than"),
        (
            "a0: &a {x: 1, y: 2}\n"
            + "".join(f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 9)}]}}\n" for i in range(1, 9))
            + "scale: *a8\n",
            "aliases expand to more than",
        ),
        ("scale: &r [*r]\n", "refers to its own anchor"),
        ("scale: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than"),
        ("scale: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nested more than"),
    ],
)
def test_yaml_bombs_and_nesting_are_one_line(tmp_path, capsys, monkeypatch, text, needle):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "test.yml").write_text(text)
    before = tree_hash(tmp_path)
    with deadline(20):
        status, _, err = run_inprocess(
            main_cmd.cli,
            ["main.py", "--exp_dir", exp, "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"],
            capsys,
            monkeypatch,
        )
    assert_one_line(status, err, "test.yml", needle)
    assert tree_hash(tmp_path) == before


def test_invalid_utf8_yaml_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "test.yml").write_bytes(b"scale: 4\nmodel: {name: FRVSR\xe9}\n")
    status, _, err = run_inprocess(
        main_cmd.cli,
        ["main.py", "--exp_dir", tmp_path / "exp", "--mode", "test", "--model", "FRVSR", "--opt", "test.yml", "--gpu_id", "-1"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "test.yml", "not valid UTF-8", "0xe9")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("scale: 4\nscale: 2\n", "line 2: key 'scale' given twice in one mapping (first on line 1)"),
        ("scale: 4\nmodel:\n  name: FRVSR\n  generator: {nb: 1, nb: 2}\n", "key 'nb' given twice"),
    ],
)
def test_duplicate_yaml_keys_are_refused(tmp_path, text, needle):
    (tmp_path / "t.yml").write_text(text)
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_config(str(tmp_path / "t.yml"))


def test_merge_keys_may_override(tmp_path):
    text = (
        "scale: 4\ndataset:\n  degradation:\n    <<: {type: BD, sigma: 1.5}\n    sigma: 1.0\n"
        "model: {name: FRVSR, generator: {}}\n"
    )
    (tmp_path / "t.yml").write_text(text)
    assert load_config(str(tmp_path / "t.yml"))["dataset"]["degradation"] == {"type": "BD", "sigma": 1.0}


def test_one_inherited_metric_is_dropped_with_false(tmp_path):
    base = BASE + "  tOF: ~\n  LPIPS: ~\n"  # under BASE's metric: PSNR
    write(tmp_path / "base" / "train.yml", base)
    child = write(tmp_path / "variant" / "train.yml", "base: ../base/train.yml\nmetric:\n  LPIPS: false\n  tOF: ~\n")
    assert sorted(load_config(child)["metric"]) == ["PSNR", "tOF"]  # tOF: ~ keeps it, with its defaults


def test_a_key_of_the_other_degradation_is_one_line(tmp_path):
    write(tmp_path / "base" / "train.yml", BASE)
    child = write(tmp_path / "v" / "train.yml", "base: ../base/train.yml\ndataset:\n  train:\n    gt_crop_size: 48\n")
    with pytest.raises(UserError) as err:
        load_config(child)
    assert "dataset.train.gt_crop_size: read by BI/Real training only (dataset.degradation.type is BD)" in str(err.value)


def test_missing_files_of_a_training_name_their_keys(tmp_path):
    from tecogan.experiment_checks import check_training_paths

    write(tmp_path / "base" / "train.yml", BASE)
    opt = load_config(str(tmp_path / "base" / "train.yml"))
    lmdb = tmp_path / "GT.lmdb"
    lmdb.mkdir()
    opt["dataset"]["train"]["seq_dir"] = str(lmdb)
    check_training_paths(opt, "train.yml")
    for section, key, value, needle in [
        ("model", "load_path", "pretrained_models/FRVSR_BD_iter400000.pth", "download_models.sh BD FRVSR"),
        ("metric", "weights", str(tmp_path / "alex.pth"), "file not found"),
    ]:
        bad = yaml.safe_load(yaml.safe_dump(opt))
        target = bad["model"]["generator"] if section == "model" else bad["metric"].setdefault("LPIPS", {})
        target[key] = value
        with pytest.raises(UserError) as err:
            check_training_paths(bad, "train.yml")
        name = "model.generator.load_path" if section == "model" else "metric.LPIPS.weights"
        assert str(err.value).startswith(f"train.yml: {name}: {value}: file not found") and needle in str(err.value)
    opt["dataset"]["train"]["seq_dir"] = str(tmp_path / "nope.lmdb")
    with pytest.raises(UserError, match=r"^train.yml: dataset.train.seq_dir: .*nope.lmdb: LMDB folder not found"):
        check_training_paths(opt, "train.yml")
