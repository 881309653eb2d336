"""OpenVINO's and NNCF's usage telemetry is declined in the project's processes: no event is
sent and no process is forked for it, even where the user's consent file says yes; the
consent file is left as it was."""

import hashlib
import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import multiprocessing, runpy, sys
    runpy.run_path(sys.argv[1])
    started = []
    real_start = multiprocessing.Process.start
    def start(self):
        started.append(self)
        return real_start(self)
    multiprocessing.Process.start = start
    import torch
    from tecogan.inference.backends import OpenVINOStep
    from tecogan.networks.frnet import FRNet
    torch.manual_seed(0)
    step = OpenVINOStep(FRNet(nf=8, nb=1).eval())
    x = torch.rand(1, 3, 16, 16)
    step(x, x, torch.rand(1, 3, 64, 64))
    from openvino_telemetry import Telemetry
    import nncf  # its telemetry object is made at import
    print("forks", len(started), "consent", Telemetry().consent)
""")


def test_no_telemetry_is_sent_even_with_consent(tmp_path):
    home = tmp_path / "home"
    consent = home / "intel" / "openvino_telemetry"
    consent.parent.mkdir(parents=True)
    consent.write_text("1")  # the user once said yes
    before = hashlib.sha256(consent.read_bytes()).hexdigest()
    env = dict(os.environ, HOME=str(home), TECOGAN_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("CI", None)  # the library's own CI switch must not be what declines
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, os.path.join(REPO, "codes", "_clone.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "forks 0 consent False" in out.stdout, out.stdout + out.stderr[-2000:]
    assert hashlib.sha256(consent.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in consent.parent.iterdir()) == ["openvino_telemetry"]
