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


# the capsys and monkeypatch of the running test, for helpers that run a command in this process
# (the in_process_capture fixture of conftest.py fills it)
CAPTURE = {}


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
        ok = (
            shutil.which("unshare") is not None
            and subprocess.run(
                ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=16k none {probe}"], capture_output=True, timeout=30
            ).returncode
            == 0
        )
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
    return np.stack([base[10 + i : 10 + i + h, 10 + 3 * i : 10 + 3 * i + w] for i in range(t)])


def write_frames(folder, n=3, h=12, w=16, seed=0, names=None):
    """``n`` random ``h`` x ``w`` PNG frames ``0000.png ...`` (or ``names``) in ``folder``; written
    through cv2.imencode and open(), so names that are not valid UTF-8 work too."""
    import os

    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        ok, buf = cv2.imencode(".png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        assert ok
        with open(os.path.join(folder, names[i] if names else f"{i:04d}.png"), "wb") as f:
            f.write(buf.tobytes())


def psnr(a, b, peak=255.0):
    """PSNR in dB of two images or frame stacks (float64; inf when equal)."""
    import numpy as np

    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


# sample CPU flag sets (/proc/cpuinfo names) for the precision choice (conftest's ``flags`` fixture)
AVX2 = {"fpu", "sse4_2", "avx", "avx2", "fma"}
ZEN4 = AVX2 | {"avx512f", "avx512_bf16", "avx512_vnni"}  # AMD Zen 4/5
SAPPHIRE = AVX2 | {"avx512f", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8"}
ALDER = AVX2 | {"avx_vnni"}  # VNNI without bf16


def smooth_clip(n=6, h=24, w=32, seed=0):
    """A smooth pattern moving one pixel a frame, with noise: ``n`` (h, w, 3) uint8 frames."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    return [
        (128 + 80 * np.sin((xx + i) / 4.0)[..., None] * np.cos((yy - 0.5 * i) / 5.0)[..., None] + rng.normal(0, 4, (h, w, 3)))
        .clip(0, 255)
        .astype(np.uint8)
        for i in range(n)
    ]


def no_temps(folder):
    """True when ``folder`` holds no temporary of the project (``.tmp*``, ``.tecogan-tmp*``)."""
    import os

    return not [f for f in os.listdir(folder) if f.startswith((".tmp", ".tecogan-tmp"))]


def limit_file_size(limit):
    """A ``preexec_fn`` for subprocess: files may grow to ``limit`` bytes; a write past it fails with
    EFBIG (SIGXFSZ ignored), as on a full disk."""

    def apply():
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def deadline(seconds):
    """A context manager: TimeoutError when the block still runs after ``seconds`` (SIGALRM), so that
    unbounded work fails instead of hanging the suite."""
    import contextlib
    import signal

    @contextlib.contextmanager
    def cm():
        def expired(_signum, _frame):
            raise TimeoutError(f"still running after {seconds} s: unbounded work")

        old = signal.signal(signal.SIGALRM, expired)
        signal.alarm(seconds)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)

    return cm()


def make_lmdb(folder, clips=2, frames=4, h=64, w=64):
    """A training LMDB of ``clips`` random clips (``v0``, ``v1`` ...) of ``frames`` frames: ``folder``."""
    import numpy as np

    from tecogan.data.lmdb_io import write_lmdb

    rng = np.random.default_rng(0)
    data = [(f"v{c}", [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(frames)]) for c in range(clips)]
    write_lmdb(str(folder), "T", data)
    return folder


def same_frames(a, b):
    """Two frame sequences of equal length whose frames are equal element by element."""
    import numpy as np

    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def run_python(code, **env):
    """``code`` in a fresh interpreter with the clone's package, ``env`` changed (a value of None
    unsets the variable): variables read at import take effect.  A CompletedProcess with text."""
    import os
    import subprocess
    import sys

    full = dict(os.environ)
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    shim = os.path.join(REPO, "codes", "_clone.py")
    return subprocess.run(
        [sys.executable, "-c", f"import runpy; runpy.run_path({shim!r})\n" + code],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )
