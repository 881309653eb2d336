"""Download scripts with the network call replaced by a local mirror (file:// URLs)."""

import os
import subprocess
import sys
import zipfile

import torch
from helpers import load_script

from tecogan.networks.frnet import FRNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts", "download")
gdrive = load_script("scripts/download/gdrive.py")


def run_script(name, args, env_extra):
    env = dict(os.environ, PYTHON=sys.executable, **env_extra)
    return subprocess.run(["bash", os.path.join(SCRIPTS, name), *args], env=env, capture_output=True, text=True, timeout=120)


def test_models_from_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    file_id, name = gdrive.MODELS[("TecoGAN", "BD")]
    torch.save(FRNet(nf=8, nb=1).state_dict(), mirror / file_id)
    root = tmp_path / "repo"
    r = run_script(
        "download_models.sh", ["BD", "TecoGAN"], {"TECOGAN_GDRIVE_URL": f"file://{mirror}/{{id}}", "TECOGAN_ROOT": str(root)}
    )
    assert r.returncode == 0, r.stderr
    dest = root / "pretrained_models" / name
    assert dest.is_file()
    assert "fnet.encoder1.0.weight" in torch.load(dest, weights_only=True)


def test_datasets_from_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for (_dataset, part), file_id in gdrive.DATASETS.items():
        folder = "GT" if part == "GT" else gdrive.LR_FOLDER[part]
        with zipfile.ZipFile(mirror / file_id, "w") as zf:
            zf.writestr(f"{folder}/seq/0001.png", b"not really a png")
    root = tmp_path / "repo"
    r = run_script("download_datasets.sh", ["BI"], {"TECOGAN_GDRIVE_URL": f"file://{mirror}/{{id}}", "TECOGAN_ROOT": str(root)})
    assert r.returncode == 0, r.stderr
    for dataset in ("Vid4", "ToS3"):
        assert (root / "data" / dataset / "GT" / "seq" / "0001.png").is_file()
        assert (root / "data" / dataset / "Bicubic4xLR" / "seq" / "0001.png").is_file()
        assert not (root / "data" / dataset / "Gaussian4xLR").exists()
    assert not [f for f in os.listdir(root / "data") if f.endswith(".zip")]


def test_unreachable_network_gives_manual_steps(tmp_path):
    r = run_script(
        "download_models.sh",
        ["BI", "FRVSR"],
        {"TECOGAN_GDRIVE_URL": f"file://{tmp_path}/missing/{{id}}", "TECOGAN_ROOT": str(tmp_path)},
    )
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "Manual step" in lines[0] and "FRVSR_BI_iter400000.pth" in lines[0]
    assert not (tmp_path / "pretrained_models" / "FRVSR_BI_iter400000.pth").exists()


def test_bad_arguments(tmp_path):
    r = run_script("download_models.sh", ["BD", "ESRGAN"], {"TECOGAN_ROOT": str(tmp_path)})
    assert r.returncode == 2 and "expected FRVSR or TecoGAN" in r.stderr
    r = run_script("download_datasets.sh", ["XX"], {"TECOGAN_ROOT": str(tmp_path)})
    assert r.returncode == 2 and "expected BD or BI" in r.stderr
