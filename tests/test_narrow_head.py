"""scripts/narrow_head.py: fewer channels at the output resolution, conv_out refitted."""

import cv2
import numpy as np
import pytest
import torch
from helpers import load_script

from tecogan.networks import generator_from_checkpoint
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError

narrow = load_script("scripts/narrow_head.py")


def _clips(root, n=2, t=3, h=16, w=20):
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (h // 2, w // 2, 3), dtype=np.uint8), (w, h))  # smooth, as real frames
    for c in range(n):
        folder = root / f"clip{c}"
        folder.mkdir(parents=True)
        for i in range(t):
            cv2.imwrite(str(folder / f"{i:04d}.png"), np.roll(base, i + c, axis=1))
    return root


def _saved(tmp_path, nf=8):
    torch.manual_seed(0)
    net = FRNet(nf=nf, nb=1, degradation="BI", fnet_nf=4).eval()
    path = tmp_path / "G.pth"
    torch.save(net.state_dict(), path)
    return net, path


def test_all_channels_kept_is_the_same_network(tmp_path):
    net, path = _saved(tmp_path)
    lr_dir = _clips(tmp_path / "lr")
    out = tmp_path / "same.pth"
    assert narrow.main([str(path), str(out), "--hr_nf", "8", "--lr_dir", str(lr_dir), "--pixels", "300"]) == 0
    same = generator_from_checkpoint(str(out)).eval()
    assert same.arch() == net.arch()
    lr = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():  # the least-squares refit of all channels gives conv_out back
        diff = (same.forward_sequence(lr)["hr_data"] - net.forward_sequence(lr)["hr_data"]).abs().max()
    assert diff < 1e-4


def test_fewer_channels_load_strictly_and_the_refit_beats_plain_selection(tmp_path, capsys):
    net, path = _saved(tmp_path)
    lr_dir = _clips(tmp_path / "lr")
    out = tmp_path / "hr3.pth"
    assert narrow.main([str(path), str(out), "--hr_nf", "3", "--lr_dir", str(lr_dir), "--pixels", "300"]) == 0
    said = capsys.readouterr().out
    assert "8 -> 3 channels at the output resolution" in said and "dB against the original's output" in said
    small = generator_from_checkpoint(str(out)).eval()  # strict; hr_nf read from the tensors
    assert small.arch() == dict(net.arch(), hr_nf=3)
    clips = narrow.read_clips(str(lr_dir), 2, 3)
    patches, targets = narrow.head_samples(net, clips, 300)
    fitted, keep = narrow.narrowed(net, 3, patches, targets)
    assert len(keep) == 3
    # the same kept channels with conv_out's own weights, unfitted, stay further from the original
    plain = FRNet(**dict(net.arch(), hr_nf=3)).eval()
    state = dict(fitted.state_dict())
    state["srnet.conv_out.weight"] = net.state_dict()["srnet.conv_out.weight"][:, keep]
    state["srnet.conv_out.bias"] = net.state_dict()["srnet.conv_out.bias"]
    plain.load_state_dict(state, strict=True)
    lr = clips[0][None]
    with torch.no_grad():
        ref = net.forward_sequence(lr)["hr_data"]
        err_fit = (fitted.forward_sequence(lr)["hr_data"] - ref).square().mean()
        err_plain = (plain.forward_sequence(lr)["hr_data"] - ref).square().mean()
    assert err_fit < err_plain


def test_bad_arguments_are_one_line_and_nothing_is_written(tmp_path):
    _, path = _saved(tmp_path)
    lr_dir = _clips(tmp_path / "lr")
    with pytest.raises(UserError, match=r"--hr_nf 9: expected 1 to 8"):
        narrow.main([str(path), str(tmp_path / "o.pth"), "--hr_nf", "9", "--lr_dir", str(lr_dir)])
    with pytest.raises(UserError, match=r"--lr_dir .*nowhere: not a folder"):
        narrow.main([str(path), str(tmp_path / "o.pth"), "--hr_nf", "4", "--lr_dir", str(tmp_path / "nowhere")])
    with pytest.raises(UserError, match="--pixels 0: expected an integer >= 1"):
        narrow.main([str(path), str(tmp_path / "o.pth"), "--hr_nf", "4", "--lr_dir", str(lr_dir), "--pixels", "0"])
    assert not (tmp_path / "o.pth").exists()
    (tmp_path / "o.pth").write_bytes(b"old")
    with pytest.raises(UserError, match=r"o\.pth: already exists"):
        narrow.main([str(path), str(tmp_path / "o.pth"), "--hr_nf", "4", "--lr_dir", str(lr_dir)])
    assert (tmp_path / "o.pth").read_bytes() == b"old"
    before = path.read_bytes()
    with pytest.raises(UserError, match="is the input"):
        narrow.main([str(path), str(path), "--hr_nf", "4", "--lr_dir", str(lr_dir), "--overwrite"])
    assert path.read_bytes() == before
    # frames too small for the flow network, and frames of two sizes: the frame named
    small = _clips(tmp_path / "small", n=1, h=6, w=6)
    with pytest.raises(UserError, match=r"0000\.png: low-res frame is 6x6, smaller than the 8x8 minimum"):
        narrow.main([str(path), str(tmp_path / "n.pth"), "--hr_nf", "4", "--lr_dir", str(small)])
    mixed = _clips(tmp_path / "mixed", n=1)
    cv2.imwrite(str(mixed / "clip0" / "0001.png"), np.zeros((12, 20, 3), np.uint8))
    with pytest.raises(UserError, match=r"0001\.png: low-res frame is 20x12 but the sequence's first frame"):
        narrow.main([str(path), str(tmp_path / "n.pth"), "--hr_nf", "4", "--lr_dir", str(mixed)])
    # a file that is no generator is named by its path
    torch.save({"conv.weight": torch.zeros(1, 1, 3, 3)}, tmp_path / "D.pth")
    with pytest.raises(UserError, match=r"^\S*D\.pth: not an FRNet generator checkpoint"):
        narrow.main([str(tmp_path / "D.pth"), str(tmp_path / "n.pth"), "--hr_nf", "4", "--lr_dir", str(lr_dir)])
    assert not (tmp_path / "n.pth").exists()
