"""utils/hub.py and the weight loaders: no weight file runs code, whether it is the project's own or
a library's cache (torchvision's hub cache under $TORCH_HOME, the lpips package's files).

A pickle planted in a temporary TORCH_HOME would create a marker file when unpickled by an
unpickler that can run code; every loader must refuse it with one line and the marker must
never appear.
"""

import os

import pytest
import torch
from helpers import tree_hash

from tecogan.utils.errors import UserError


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def plant(torch_home, url, marker, legacy=False):
    """A malicious pickle under the hub cache name torchvision would open for ``url``."""
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / os.path.basename(url)
    torch.save({"features.0.weight": _Payload(str(marker))}, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.mark.parametrize("legacy", [False, True])
def test_lpips_hub_fallback_never_unpickles_code(tmp_path, torch_home, legacy):
    from torchvision.models import AlexNet_Weights

    from tecogan.metrics import lpips_loader

    marker = tmp_path / "ran.txt"
    planted = plant(torch_home, AlexNet_Weights.IMAGENET1K_V1.url, marker, legacy)
    before = tree_hash(planted)
    with pytest.raises(UserError) as err:
        lpips_loader._torchvision_alexnet_state()
    assert str(planted) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    assert tree_hash(planted) == before


@pytest.mark.parametrize("legacy", [False, True])
def test_safe_loader_refuses_a_planted_pickle_even_with_a_matching_hash(tmp_path, torch_home, monkeypatch, legacy):
    """The hash check aside, the file itself is read with weights_only=True."""
    from torchvision.models import AlexNet_Weights

    from tecogan.utils import hub

    marker = tmp_path / "ran.txt"
    plant(torch_home, AlexNet_Weights.IMAGENET1K_V1.url, marker, legacy)
    monkeypatch.setattr(hub, "_sha256_prefix_ok", lambda path, prefix: True)
    with pytest.raises(UserError, match="refused to load|not a readable"):
        hub.torchvision_state(AlexNet_Weights.IMAGENET1K_V1, "AlexNet")
    assert not marker.exists()


def test_load_lpips_without_weights_uses_the_bundled_file_not_the_hub(tmp_path, torch_home, monkeypatch):
    from torchvision.models import AlexNet_Weights

    from tecogan.metrics import lpips_loader

    monkeypatch.delenv(lpips_loader.ENV_VAR, raising=False)
    marker = tmp_path / "ran.txt"
    plant(torch_home, AlexNet_Weights.IMAGENET1K_V1.url, marker)
    model = lpips_loader.load_lpips()
    bundled = torch.load(lpips_loader.bundled_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model.net.slice2._modules["3"].weight, bundled["features.3.weight"])
    assert not marker.exists()
    # without the bundled file the hub cache is tried, through the safe loader: one line, no code
    monkeypatch.setattr(lpips_loader, "bundled_weights_path", lambda: str(tmp_path / "absent.pth"))
    with pytest.raises(UserError, match="SHA-256"):
        lpips_loader.load_lpips()
    assert not marker.exists()


def test_lpips_linear_layers_equal_the_packages(tmp_path):
    """The calibration layers read by the safe loader are the lpips package's own."""
    import lpips

    from tecogan.metrics import lpips_loader

    ours = lpips_loader._build_lpips()
    path = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "alex.pth")
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in theirs.items():
        assert torch.equal(ours.state_dict()[key], value), key
    assert torch.equal(ours.lins[2].model[1].weight, theirs["lin2.model.1.weight"])


@pytest.mark.parametrize("backbone", ["vgg19"])  # (AlexNet always uses the bundled, verified file)
def test_feature_loss_hub_fallback_never_unpickles_code(tmp_path, torch_home, monkeypatch, backbone):
    import torchvision

    from tecogan.networks import vgg

    monkeypatch.setattr(vgg, "BUNDLED_ALEXNET", str(tmp_path / "absent.pth"))
    weights = {"vgg19": torchvision.models.VGG19_Weights, "alexnet": torchvision.models.AlexNet_Weights}[backbone]
    marker = tmp_path / "ran.txt"
    planted = plant(torch_home, weights.IMAGENET1K_V1.url, marker)
    with pytest.raises(UserError) as err:
        vgg.FeatureExtractor(backbone=backbone)
    assert str(planted) in str(err.value) and "train.feature_crit.weights" in str(err.value)
    assert not marker.exists()


def test_offline_without_cache_is_one_line(tmp_path, torch_home, monkeypatch):
    from torchvision.models import VGG19_Weights

    from tecogan.utils import hub

    def offline(*_a, **_k):
        raise OSError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(UserError, match="could not be downloaded") as err:
        hub.torchvision_state(VGG19_Weights.IMAGENET1K_V1, "VGG19")
    assert "\n" not in str(err.value)
