"""Download the reference's test sets and published checkpoints from Google Drive.

    python scripts/download/gdrive.py datasets BD
    python scripts/download/gdrive.py models BD TecoGAN

Files land where the commands expect them: ``data/Vid4``, ``data/ToS3`` and
``pretrained_models/<Model>_<BD|BI>_iter<N>.pth``.  Without network access the script
says which file failed and how to fetch it by hand, and exits non-zero.
``TECOGAN_GDRIVE_URL`` (a template with ``{id}``) replaces the Google Drive address,
e.g. a local mirror: ``file:///mirror/{id}``.
"""

import os
import re
import runpy
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
runpy.run_path(os.path.join(REPO, "codes", "_clone.py"))  # this clone as the package `tecogan`

from tecogan.utils.errors import UserError, run_cli

DEFAULT_URL = "https://drive.google.com/uc?export=download&id={id}"
VIEW_URL = "https://drive.google.com/file/d/{id}/view"

# (dataset, part) -> Google Drive file id of the zip (the reference's links)
DATASETS = {
    ("Vid4", "GT"): "1T8TuyyOxEUfXzCanH5kvNH2iA8nI06Wj",
    ("Vid4", "BD"): "1-5NFW6fEPUczmRqKHtBVyhn2Wge6j3ma",
    ("Vid4", "BI"): "1Kg0VBgk1r9I1c4f5ZVZ4sbfqtVRYub91",
    ("ToS3", "GT"): "1XoR_NVBR-LbZOA8fXh7d4oPV0M8fRi8a",
    ("ToS3", "BD"): "1rDCe61kR-OykLyCo2Ornd2YgPnul2ffM",
    ("ToS3", "BI"): "1FNuC0jajEjH9ycqDkH4cZQ3_eUqjxzzf",
}
LR_FOLDER = {"BD": "Gaussian4xLR", "BI": "Bicubic4xLR"}

# (model, degradation) -> (file id, file name in pretrained_models/)
MODELS = {
    ("TecoGAN", "BD"): ("13FPxKE6q7tuRrfhTE7GB040jBeURBj58", "TecoGAN_BD_iter500000.pth"),
    ("TecoGAN", "BI"): ("1ie1F7wJcO4mhNWK8nPX7F0LgOoPzCwEu", "TecoGAN_BI_iter500000.pth"),
    ("FRVSR", "BD"): ("11kPVS04a3B3k0SD-mKEpY_Q8WL7KrTIA", "FRVSR_BD_iter400000.pth"),
    ("FRVSR", "BI"): ("1wejMAFwIBde_7sz-H7zwlOCbCvjt3G9L", "FRVSR_BI_iter400000.pth"),
}


def _open(url, timeout=60):
    req = urllib.request.Request(url, headers={"User-Agent": "TecoGAN-PyTorch downloader"})
    return urllib.request.urlopen(req, timeout=timeout)


def _confirm_url(first_page, file_id):
    """Large files answer with a 'virus scan' page holding a confirm token or form."""
    text = first_page.decode("utf-8", "ignore")
    m = re.search(r'action="([^"]+)"', text)
    if m and "download" in m.group(1):
        params = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', text))
        params.setdefault("id", file_id)
        return m.group(1).replace("&amp;", "&") + "?" + urllib.parse.urlencode(params)
    m = re.search(r"confirm=([0-9A-Za-z_-]+)", text)
    if m:
        return DEFAULT_URL.format(id=file_id) + "&confirm=" + m.group(1)
    return None


def fetch(file_id, dest):
    """Download Drive file ``file_id`` to ``dest`` (atomically)."""
    template = os.environ.get("TECOGAN_GDRIVE_URL", DEFAULT_URL)
    url = template.format(id=file_id)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download_", dir=os.path.dirname(os.path.abspath(dest)))
    os.close(fd)
    try:
        for _attempt in range(2):
            with _open(url) as resp, open(tmp, "wb") as out:
                content_type = resp.headers.get("Content-Type", "") if resp.headers else ""
                head = resp.read(1 << 16)
                if "text/html" in content_type:
                    nxt = _confirm_url(head + resp.read(), file_id)
                    if nxt is None:
                        raise UserError(
                            f"{url}: Google Drive answered with a web page instead of the file (quota exceeded or link changed)"
                        )
                    url = nxt
                    continue
                out.write(head)
                shutil.copyfileobj(resp, out, 1 << 20)
            os.replace(tmp, dest)
            return dest
        raise UserError(f"{url}: Google Drive kept answering with a web page instead of the file")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _manual_help(file_id, target):
    return (
        f"download {VIEW_URL.format(id=file_id)} in a browser and "
        f"{'unzip it under ' if target.endswith('/') else 'save it as '}{target}"
    )


def _get(file_id, dest, target_hint):
    try:
        return fetch(file_id, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(
            f"could not download {VIEW_URL.format(id=file_id)} ({reason}); "
            f"no network? Manual step: {_manual_help(file_id, target_hint)}"
        ) from None


def download_datasets(degradation, root):
    data_dir = os.path.join(root, "data")
    for dataset in ("Vid4", "ToS3"):
        for part in ("GT", degradation):
            folder = "GT" if part == "GT" else LR_FOLDER[part]
            target = os.path.join(data_dir, dataset)
            if os.path.isdir(os.path.join(target, folder)):
                print(f"{dataset}/{folder}: already in {target}, skipped")
                continue
            file_id = DATASETS[(dataset, part)]
            zip_path = os.path.join(data_dir, f".{dataset}_{folder}.zip")
            print(f"{dataset}/{folder}: downloading ...", flush=True)
            _get(file_id, zip_path, target + "/")
            try:
                with zipfile.ZipFile(zip_path) as zf:
                    zf.extractall(target)
            except zipfile.BadZipFile:
                raise UserError(
                    f"{zip_path}: the download is not a zip archive; manual step: {_manual_help(file_id, target + '/')}"
                ) from None
            finally:
                if os.path.exists(zip_path):
                    os.remove(zip_path)
            print(f"{dataset}/{folder}: unpacked into {target}")


def download_model(model, degradation, root):
    file_id, name = MODELS[(model, degradation)]
    dest = os.path.join(root, "pretrained_models", name)
    if os.path.isfile(dest):
        print(f"{dest}: already present, skipped")
        return dest
    print(f"{name}: downloading ...", flush=True)
    _get(file_id, dest, dest)
    with open(dest, "rb") as f:
        magic = f.read(4)
    if magic[:2] != b"PK" and magic[:1] != b"\x80":
        os.remove(dest)
        raise UserError(f"{dest}: the download is not a PyTorch checkpoint; manual step: {_manual_help(file_id, dest)}")
    print(f"{name}: saved to {dest}")
    return dest


def main(argv=None):
    argv = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--debug"]
    usage = "usage: gdrive.py datasets BD|BI  |  gdrive.py models BD|BI FRVSR|TecoGAN"
    if len(argv) < 2 or argv[0] not in ("datasets", "models"):
        raise UserError(usage)
    if argv[1] not in ("BD", "BI"):
        raise UserError(f"degradation '{argv[1]}': expected BD or BI ({usage})")
    root = os.environ.get("TECOGAN_ROOT", REPO)
    if argv[0] == "datasets":
        download_datasets(argv[1], root)
    else:
        if len(argv) < 3 or argv[2] not in ("FRVSR", "TecoGAN"):
            raise UserError(f"model '{argv[2] if len(argv) > 2 else ''}': expected FRVSR or TecoGAN ({usage})")
        download_model(argv[2], argv[1], root)
    return 0


if __name__ == "__main__":
    run_cli(main)
