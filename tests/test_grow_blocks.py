"""scripts/grow_blocks.py: more residual blocks, the same output."""

import pytest
import torch
from helpers import load_script

from tecogan.networks import generator_from_checkpoint
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError

grow = load_script("scripts/grow_blocks.py")


def _small(tmp_path, degradation="BI"):
    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1, degradation=degradation, fnet_nf=4).eval()
    path = tmp_path / "G.pth"
    torch.save(net.state_dict(), path)
    return net, path


@pytest.mark.parametrize("degradation", ["BI", "BD"])
def test_grown_network_computes_the_same_and_loads_strictly(tmp_path, degradation):
    net, path = _small(tmp_path, degradation)
    out = tmp_path / "grown.pth"
    assert grow.main([str(path), str(out), "--nb", "3"]) == 0
    bigger = generator_from_checkpoint(str(out)).eval()  # strict, architecture read from the tensors
    assert bigger.arch() == dict(net.arch(), nb=3)
    for name, value in net.state_dict().items():  # the trained tensors are kept as they are
        assert torch.equal(bigger.state_dict()[name], value)
    new = bigger.srnet.resblocks[2].conv
    assert not new[2].weight.any() and not new[2].bias.any() and new[0].weight.abs().sum() > 0
    lr = torch.rand(1, 4, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(net.forward_sequence(lr)["hr_data"], bigger.forward_sequence(lr)["hr_data"])
    # the new blocks learn: their zero convolution gets a gradient
    bigger.train()
    bigger.forward_sequence(lr)["hr_data"].square().mean().backward()
    assert new[2].weight.grad.abs().sum() > 0


def test_grow_refuses_fewer_blocks_and_an_existing_output(tmp_path):
    _, path = _small(tmp_path)
    with pytest.raises(UserError, match="--nb 1: the checkpoint already has 1 residual blocks"):
        grow.main([str(path), str(tmp_path / "o.pth"), "--nb", "1"])
    (tmp_path / "o.pth").write_bytes(b"old")
    with pytest.raises(UserError, match=r"o\.pth: already exists; .*overwrite.* replace it"):
        grow.main([str(path), str(tmp_path / "o.pth"), "--nb", "2"])
    assert (tmp_path / "o.pth").read_bytes() == b"old"
    before = path.read_bytes()
    with pytest.raises(UserError, match="is the input"):  # never over its own checkpoint, --overwrite or not
        grow.main([str(path), str(path), "--nb", "2", "--overwrite"])
    assert path.read_bytes() == before
