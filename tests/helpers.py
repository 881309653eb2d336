"""Small helpers shared by tests."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script(relpath):
    """Import a script of the repository (e.g. ``scripts/monitor_training.py``) as a module."""
    path = REPO / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tree_hash(path):
    """SHA-256 of a file, or of a folder's relative names and contents (recursively);
    ``None`` when the path does not exist.  Used to prove inputs and old outputs unchanged."""
    import hashlib
    import os
    h = hashlib.sha256()
    path = os.fspath(path)
    if not os.path.lexists(path):
        return None
    if os.path.isfile(path):
        with open(path, "rb") as f:
            h.update(f.read())
        return h.hexdigest()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(os.fsencode(os.path.relpath(full, path)) + b"\0")
            with open(full, "rb") as f:
                h.update(f.read())
        for name in dirs:
            h.update(os.fsencode(os.path.relpath(os.path.join(root, name), path)) + b"/\0")
    return h.hexdigest()


def run_inprocess(cli, argv, capsys, monkeypatch):
    """Run a command's ``cli()`` (``run_cli`` inside) in this process: (status, stdout, stderr)."""
    import sys

    import pytest
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", [str(a) for a in argv])
    with pytest.raises(SystemExit) as exc:
        cli()
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), out, err


def script_cli(relpath):
    """``cli()`` of a script of the repository: its ``main`` under ``run_cli``."""
    from tecogan.utils.errors import run_cli
    module = load_script(relpath)
    return lambda: run_cli(module.main)


def assert_one_line(status, err, *needles, expected_status=2):
    """Exit status as expected, stderr one ``error:`` line (warnings aside), no traceback."""
    assert status == expected_status, (status, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


_TMPFS = {}


def tmpfs_command(mount_dir, size_kb, argv, preload=None, copy_back=None, read_only=False):
    """``argv`` run with a ``size_kb`` tmpfs mounted on ``mount_dir`` in a private mount namespace
    (``unshare -rm``: no root needed where user namespaces are allowed); None if that is not
    allowed here.  ``preload``: a folder copied into the tmpfs first; ``copy_back``: a folder
    that receives the tmpfs's content afterwards (the mount vanishes with the process).
    The command's exit status is kept."""
    import os
    import shlex
    import shutil
    import subprocess
    import tempfile
    if "ok" not in _TMPFS:
        probe = tempfile.mkdtemp(prefix="tmpfs_probe_")
        ok = shutil.which("unshare") is not None and subprocess.run(
            ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=16k none {probe}"],
            capture_output=True, timeout=30).returncode == 0
        os.rmdir(probe)
        _TMPFS["ok"] = ok
    if not _TMPFS["ok"]:
        return None
    q = shlex.quote
    script = f"mount -t tmpfs -o size={int(size_kb)}k none {q(str(mount_dir))} || exit 99\n"
    if preload:
        script += f"cp -a {q(str(preload))}/. {q(str(mount_dir))}/ || exit 98\n"
    if read_only:
        script += f"mount -o remount,ro {q(str(mount_dir))} || exit 97\n"
    script += " ".join(q(str(a)) for a in argv) + "\nrc=$?\n"
    if copy_back:
        script += f"cp -a {q(str(mount_dir))}/. {q(str(copy_back))}/\n"
    script += "exit $rc\n"
    return ["unshare", "-rm", "sh", "-c", script]


def save_tiny_generator(folder, name="tiny_BD.pth", degradation="BD"):
    """A small random FRNet (nf 8, nb 1) saved as a published-style checkpoint: ``(path, net)``."""
    import torch

    from tecogan.networks.frnet import FRNet
    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1, degradation=degradation)
    path = Path(folder) / name
    torch.save(net.state_dict(), path)
    return path, net


def upscale_in_process(capsys, monkeypatch, *args):
    """``upscale.py ARGS`` run in this process through its console entry point."""
    from tecogan import upscale
    return run_inprocess(upscale.cli, ["upscale.py", *map(str, args)], capsys, monkeypatch)


def panning_texture(t=12, h=64, w=112):
    """(t, h, w, 3) uint8: a high-contrast texture panning 3 px right and 1 px down a frame, content
    on which libx264's macroblock-tree rate control was not reproducible without cpu-independent."""
    import cv2
    import numpy as np
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (h + t + 20, w + 3 * t + 20, 3)).astype(np.float32), (0, 0), 3)
    base = ((base - base.mean()) * 6 + 128).clip(0, 255).astype(np.uint8)
    return np.stack([base[10 + i:10 + i + h, 10 + 3 * i:10 + 3 * i + w] for i in range(t)])
