"""scripts/export_onnx.py: the FRNet step in ONNX with dynamic height and width; ONNX Runtime's
CPU output equals PyTorch's within float32 noise (BD and BI, x4 and x2)."""

import numpy as np
import pytest
import torch
from helpers import assert_one_line, load_script, run_inprocess, script_cli

from tecogan.networks.frnet import FRNet

export_onnx = load_script("scripts/export_onnx.py")


@pytest.mark.parametrize("degradation,scale", [("BD", 4), ("BI", 4), ("BD", 2)])
def test_onnxruntime_matches_torch_at_several_sizes(tmp_path, degradation, scale):
    import onnxruntime as ort  # requirements.txt pins onnx and onnxruntime

    torch.manual_seed(0)
    net = FRNet(nf=8, nb=1, degradation=degradation, scale=scale).eval()
    path = export_onnx.export(net, str(tmp_path / "step.onnx"))
    worst = export_onnx.check(net, path, sizes=((16, 24), (21, 35), (40, 12)))  # odd sizes pad the flow
    assert worst <= export_onnx.TOLERANCE
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["lr_curr", "lr_prev", "hr_prev"] and session.get_outputs()[0].name == "hr_curr"
    assert isinstance(session.get_inputs()[0].shape[2], str)  # a dynamic height
    # a recurrent run through ONNX Runtime follows PyTorch's frame after frame
    frames = torch.rand(3, 1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    lr_prev, hr_prev = torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16 * scale, 16 * scale)
    o_prev, o_hr = lr_prev.numpy(), hr_prev.numpy()
    for lr in frames:
        with torch.inference_mode():
            hr_prev = net(lr, lr_prev, hr_prev)
        o_hr = session.run(None, {"lr_curr": lr.numpy(), "lr_prev": o_prev, "hr_prev": o_hr})[0]
        lr_prev, o_prev = lr, lr.numpy()
        assert np.abs(o_hr - hr_prev.numpy()).max() < 1e-4


def test_command_line(tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pth"
    torch.save(FRNet(nf=8, nb=1).state_dict(), ckpt)
    out = tmp_path / "tiny.onnx"
    status, stdout, err = run_inprocess(
        script_cli("scripts/export_onnx.py"), ["export_onnx.py", "--model", ckpt, "--output", out, "--check"], capsys, monkeypatch
    )
    assert status == 0, err
    assert out.is_file() and "dynamic height/width" in stdout and "max difference" in stdout
    status, _, err = run_inprocess(
        script_cli("scripts/export_onnx.py"),
        ["export_onnx.py", "--model", ckpt, "--output", tmp_path / "x.pt"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "--output", "expected a name ending in .onnx")
    status, _, err = run_inprocess(
        script_cli("scripts/export_onnx.py"),
        ["export_onnx.py", "--model", ckpt, "--output", tmp_path / "no" / "x.onnx"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "does not exist")
