"""utils/checkpoint.py: what is not a sound checkpoint is refused with one line naming the file.

Checkpoints and training states with NaN/Inf, zip entries that fail their CRC, crafted tensor
shapes, files that are no checkpoint at all (text, random bytes, a stray pickle), and state
dicts with NaN given to the API.
"""

import zipfile

import pytest
import torch
from helpers import assert_one_line, run_inprocess, tree_hash, write_frames

from tecogan import upscale
from tecogan.networks.frnet import FRNet
from tecogan.training.state import load_training_state
from tecogan.utils.checkpoint import load_state_dict_file
from tecogan.utils.errors import UserError


def tiny_state():
    torch.manual_seed(0)
    return FRNet(nf=8, nb=1, degradation="BD").state_dict()


def up(capsys, monkeypatch, *args):
    return run_inprocess(upscale.cli, ["upscale.py", *map(str, args)], capsys, monkeypatch)


# -------------------------------------------------------------- checkpoints ---
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_checkpoint_with_nan_or_inf_is_refused(tmp_path, capsys, monkeypatch, bad):
    sd = tiny_state()
    sd["srnet.conv_out.weight"][0, 0, 0, 0] = bad
    torch.save(sd, tmp_path / "diverged.pth")
    write_frames(tmp_path / "in")
    before = tree_hash(tmp_path)
    status, _, err = up(
        capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", tmp_path / "diverged.pth", "--device", "cpu"
    )
    assert_one_line(status, err, "diverged.pth", "srnet.conv_out.weight", "NaN/Inf")
    assert tree_hash(tmp_path) == before


def corrupt_tensor_bytes(path):
    """Flip one byte inside the largest tensor entry of a torch zip, keeping its length."""
    with zipfile.ZipFile(path) as zf:
        entry = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        offset = entry.header_offset + 30 + len(entry.filename.encode()) + len(entry.extra)
    data = bytearray(path.read_bytes())
    data[offset + entry.file_size // 2] ^= 0x40
    path.write_bytes(bytes(data))
    return entry.filename


def test_checkpoint_failing_crc_is_refused(tmp_path, ckpt, capsys, monkeypatch):
    bad = tmp_path / "flipped.pth"
    bad.write_bytes(ckpt.read_bytes())
    name = corrupt_tensor_bytes(bad)
    with pytest.raises(UserError) as err:
        load_state_dict_file(str(bad))
    assert name in str(err.value) and "CRC" in str(err.value)
    write_frames(tmp_path / "in")
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", bad, "--device", "cpu")
    assert_one_line(status, err, "flipped.pth", "fails its CRC check")
    assert tree_hash(tmp_path) == before


def test_training_state_nan_or_bad_crc_is_refused(tmp_path):
    state = {"iter": 2, "model": {"G": tiny_state()}, "running_log": {"l_pix_G": torch.tensor(float("nan"))}}
    torch.save(state, tmp_path / "state_iter2.pth")
    with pytest.raises(UserError, match=r"running_log.l_pix_G holds 1 NaN/Inf"):
        load_training_state(str(tmp_path / "state_iter2.pth"))
    state["running_log"] = {}
    torch.save(state, tmp_path / "state_iter4.pth")
    corrupt_tensor_bytes(tmp_path / "state_iter4.pth")
    with pytest.raises(UserError, match="fails its CRC check"):
        load_training_state(str(tmp_path / "state_iter4.pth"))


@pytest.mark.parametrize(
    "content",
    [b"root:x:0:0:root:/root:/bin/bash\n" * 20, bytes(range(256)) * 8, b"\x80\x02}q\x00."],
    ids=["text", "bytes", "pickle_fragment"],
)
def test_a_file_that_is_no_checkpoint_is_one_line(tmp_path, capsys, monkeypatch, content):
    """Text, random bytes or a stray pickle given as --model: one line naming the file, inputs kept."""
    bad = tmp_path / "notes.pth"
    bad.write_bytes(content)
    with pytest.raises(UserError, match="notes.pth"):
        load_state_dict_file(str(bad))
    write_frames(tmp_path / "in")
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", bad, "--device", "cpu")
    assert_one_line(status, err, "notes.pth")
    assert tree_hash(tmp_path) == before


def crafted(kind):
    sd = FRNet(nf=8, nb=1, degradation="BD").state_dict()
    if kind == "1-D":
        sd["srnet.conv_in.0.weight"] = torch.zeros(10)
    elif kind == "expanded":  # a 1-value storage viewed as 10^10 values
        sd["srnet.conv_in.0.weight"] = torch.zeros(1).expand(100000, 51, 3, 3)
    elif kind == "no_scale":
        sd["srnet.conv_in.0.weight"] = torch.zeros(8, 50, 3, 3)
    elif kind == "huge_nf":
        sd["srnet.conv_in.0.weight"] = torch.zeros(5000, 51, 1, 1)
    return sd


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("1-D", "expected a 4-D convolution weight"),
        ("expanded", "crafted or damaged"),
        ("no_scale", "not an FRNet of scale 2 or 4"),
        ("huge_nf", "implausibly large"),
    ],
)
def test_crafted_checkpoint_shapes(tmp_path, capsys, monkeypatch, kind, needle):
    torch.save(crafted(kind), tmp_path / "crafted.pth")
    write_frames(tmp_path / "in")
    before = tree_hash(tmp_path)
    status, _, err = up(
        capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", tmp_path / "crafted.pth", "--device", "cpu"
    )
    assert_one_line(status, err, "crafted.pth", needle)
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_load_generator_state_dict_with_nan_is_refused(bad):
    from tecogan.api import load_generator
    from tecogan.networks.frnet import FRNet

    sd = FRNet(nf=8, nb=1, degradation="BD").state_dict()
    sd["srnet.conv_out.weight"][0, 0, 0, 0] = bad
    with pytest.raises(UserError, match="srnet.conv_out.weight holds 1 NaN/Inf"):
        load_generator(sd)
    with pytest.raises(UserError, match="expected a state dict of tensors"):
        load_generator({"srnet.conv_out.weight": [1.0]})
