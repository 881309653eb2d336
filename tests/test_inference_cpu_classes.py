"""``auto`` on every CPU class (docs/precision.md): the class from the flags and an
``ONEDNN_MAX_CPU_ISA`` cap, int8 accepted from AVX2 up and refused below it, bf16/fp16 only with
their units, the precision table's rows per class (and the first format read as its machine's
class), the choice from this class's row, else the own-input check in the class's order, at
worst fp32 through OpenVINO. Sample flag sets and fake tables: no timing, nothing heavy imported."""

import os
import re
import sys
import types

import pytest
import torch

from tecogan.api import load_generator
from tecogan.inference import auto as precision_auto
from tecogan.inference import measurements, precision
from tecogan.inference.precision import check_precision
from tecogan.networks.frnet import FRNet
from tecogan.pretrained import PRETRAINED
from tecogan.utils import device as device_mod
from tecogan.utils.device import cpu_class
from tecogan.utils.errors import UserError

CPU = torch.device("cpu")
OLD_X86 = {"fpu", "sse4_2", "avx"}  # before AVX2
AVX2 = OLD_X86 | {"avx2", "fma"}  # AMD Zen 2/3, many laptops
ALDER = AVX2 | {"avx_vnni"}  # AVX-VNNI: still the AVX2 class
SKYLAKE = AVX2 | {"avx512f", "avx512bw"}  # AVX-512
CASCADE = SKYLAKE | {"avx512_vnni"}  # AVX-512 + VNNI
ZEN4 = CASCADE | {"avx512_bf16"}  # AMD Zen 4/5
SAPPHIRE = ZEN4 | {"amx_tile", "amx_bf16", "amx_int8"}  # Intel Xeon 4th gen
GRANITE = SAPPHIRE | {"amx_fp16"}
ARM = {"fp", "asimd", "asimddp"}
SAMPLES = {"other": OLD_X86, "avx2": AVX2, "avx512": SKYLAKE, "avx512_vnni": CASCADE, "avx512_bf16": ZEN4, "amx": SAPPHIRE}
OV_INT8, OV_BF16, OV_FP32 = ("openvino", "int8"), ("openvino", "bf16"), ("openvino", "fp32")
T_FP32, T_BF16 = ("torch", "fp32"), ("torch", "bf16")


@pytest.fixture
def machine(monkeypatch):
    """A CPU of a sample flag set (oneDNN uncapped unless ``cap``); OpenVINO and NNCF present
    (neither imported: auto's choice is the logic under test), or OpenVINO absent."""
    monkeypatch.setitem(sys.modules, "nncf", types.ModuleType("nncf"))

    def use(sample, cap=None, openvino=True):
        if cap:
            monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        else:
            monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
        monkeypatch.setattr(precision, "cpu_flags", lambda: set(sample))
        monkeypatch.setattr(precision_auto, "cpu_flags", lambda: set(sample))

        def check_backend(backend, device):
            if backend == "openvino" and not openvino:
                raise UserError("backend openvino: the openvino package is not importable")

        monkeypatch.setattr(precision_auto, "check_backend", check_backend)
        return set(sample)

    return use


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return FRNet(nf=8, nb=1).eval()


@pytest.fixture
def no_cache(monkeypatch):
    monkeypatch.setattr(precision_auto, "_cache_path", lambda: None)


@pytest.mark.parametrize(
    "flags,expected",
    [
        (OLD_X86, "other"),
        (AVX2, "avx2"),
        (ALDER, "avx2"),
        (SKYLAKE, "avx512"),
        (CASCADE, "avx512_vnni"),
        (ZEN4, "avx512_bf16"),
        (SAPPHIRE, "amx"),
        (GRANITE, "amx"),
        (ARM, "other"),
        (AVX2 | {"amx_bf16"}, "amx"),  # a machine text that shows amx_bf16 but not amx_tile
    ],
)
def test_the_class_of_each_flag_set(monkeypatch, flags, expected):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert cpu_class(flags) == expected


@pytest.mark.parametrize(
    "cap,expected",
    [
        ("AVX2", "avx2"),
        ("avx2", "avx2"),
        (" AVX2_VNNI ", "avx2"),
        ("AVX512_CORE", "avx512"),
        ("AVX512_CORE_VNNI", "avx512_vnni"),
        ("AVX512_CORE_BF16", "avx512_bf16"),
        ("AVX", "other"),
        ("AVX512_CORE_AMX", "amx"),
        ("SOMETHING_NEW", "amx"),  # unknown caps keep the flags' class
    ],
)
def test_an_onednn_cap_lowers_the_class(monkeypatch, cap, expected):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert cpu_class(SAPPHIRE) == expected
    assert cpu_class(SAPPHIRE, cap="") == "amx"  # an explicit empty cap: the flags alone
    assert cpu_class(AVX2, cap="AVX512_CORE_AMX") == "avx2"  # a cap never raises the class


def test_the_class_from_a_cpuinfo_file_and_unreadable_flags(tmp_path, monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: " + " ".join(sorted(CASCADE)) + "\n\n")
    monkeypatch.setenv(device_mod.CPUINFO_VAR, str(info))
    assert cpu_class() == "avx512_vnni"
    info.write_bytes(b"flags\t: avx2 \xff\xfe\n")  # not UTF-8: read all the same
    assert cpu_class() == "avx2"
    monkeypatch.delenv(device_mod.CPUINFO_VAR)
    assert device_mod.cpu_flags(str(tmp_path / "absent")) is None and cpu_class(set()) is None  # unknown flags


@pytest.mark.parametrize("kind", ["absent", "device", "fifo", "folder"])
def test_a_cpuinfo_variable_that_names_no_regular_file_is_one_line(tmp_path, monkeypatch, kind):
    """$TECOGAN_CPUINFO=/dev/zero filled the memory, a FIFO hung: one line naming the variable."""
    path = {"absent": tmp_path / "absent", "device": "/dev/zero", "fifo": tmp_path / "fifo", "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    monkeypatch.setenv(device_mod.CPUINFO_VAR, str(path))
    with pytest.raises(UserError, match=rf"^\$TECOGAN_CPUINFO={re.escape(str(path))}: .*/proc/cpuinfo's format"):
        device_mod.cpu_flags()


@pytest.mark.parametrize("cls", ["avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx"])
def test_int8_through_openvino_runs_from_avx2_up(machine, cls):
    check_precision("int8", CPU, "openvino", flags=machine(SAMPLES[cls]))
    check_precision(
        "int8",
        CPU,
        "openvino",
        flags=machine(
            SAPPHIRE,
            cap={
                "avx2": "AVX2",
                "avx512": "AVX512_CORE",
                "avx512_vnni": "AVX512_CORE_VNNI",
                "avx512_bf16": "AVX512_CORE_BF16",
                "amx": None,
            }[cls],
        ),
    )
    with pytest.raises(UserError, match=r"precision int8 runs through OpenVINO with NNCF quantization: add"):
        check_precision("int8", CPU, "torch", flags=machine(SAMPLES[cls]))


def test_int8_is_refused_below_avx2_in_one_line(machine):
    check_precision("int8", CPU, "openvino", flags=machine(ARM))  # ARM with dot products
    for sample, cap, why in (
        (OLD_X86, None, "this CPU has none"),
        (SAPPHIRE, "AVX", "ONEDNN_MAX_CPU_ISA=AVX keeps oneDNN below them"),
    ):
        with pytest.raises(UserError) as err:
            check_precision("int8", CPU, "openvino", flags=machine(sample, cap))
        text = str(err.value)
        assert text.startswith(
            "precision int8 needs AVX2 or newer vector units (OpenVINO's int8 kernels), and "
            + why
            + ": below AVX2 its int8 kernels are not measured to beat fp32; use fp32"
        )
        assert "\n" not in text


@pytest.mark.parametrize("cls", ["other", "avx2", "avx512", "avx512_vnni"])
def test_bf16_and_fp16_stay_refused_without_their_units(machine, cls):
    with pytest.raises(UserError, match=r"precision bf16 needs bf16 units .* it would be emulated") as err:
        check_precision("bf16", CPU, "openvino", flags=machine(SAMPLES[cls]))
    hint = "use fp32" if cls == "other" else "use int8 (--backend openvino), or fp32"
    assert str(err.value).endswith(hint) or str(err.value).endswith(hint.replace("--backend", "backend"))
    with pytest.raises(UserError, match=r"precision fp16 needs fp16 units \(AMX-FP16\)"):
        check_precision("fp16", CPU, "torch", flags=machine(SAMPLES[cls]))


def test_bf16_and_fp16_with_their_units_and_below_a_cap(machine):
    check_precision("bf16", CPU, "torch", flags=machine(ZEN4))
    check_precision("bf16", CPU, "torch", flags=machine(SAPPHIRE, "AVX512_CORE_BF16"))
    check_precision("fp16", CPU, "torch", flags=machine(GRANITE))
    for cap in ("AVX512_CORE_VNNI", "AVX512_CORE", "AVX2"):
        with pytest.raises(UserError, match=f"ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN below them"):
            check_precision("bf16", CPU, "torch", flags=machine(SAPPHIRE, cap))
    with pytest.raises(UserError, match="precision fp16 needs fp16 units"):
        check_precision("fp16", CPU, "torch", flags=machine(GRANITE, "AVX512_CORE_BF16"))


@pytest.mark.parametrize(
    "cls,pairs",
    [
        ("other", [T_FP32, OV_FP32]),
        ("avx2", [T_FP32, OV_INT8, OV_FP32]),
        ("avx512", [T_FP32, OV_INT8, OV_FP32]),
        ("avx512_vnni", [T_FP32, OV_INT8, OV_FP32]),
        ("avx512_bf16", [T_FP32, OV_INT8, OV_BF16, T_BF16, OV_FP32]),
        ("amx", [T_FP32, OV_BF16, OV_INT8, T_BF16, OV_FP32]),
    ],
)
def test_the_pairs_each_class_runs_expected_fastest_first(machine, cls, pairs):
    assert precision_auto.native_precisions(CPU, None, machine(SAMPLES[cls])) == pairs
    assert precision_auto.native_precisions(CPU, "torch", machine(SAMPLES[cls])) == [bp for bp in pairs if bp[0] == "torch"]
    assert precision_auto.native_precisions(CPU, None, machine(SAMPLES[cls], openvino=False)) == [
        bp for bp in pairs if bp[0] == "torch"
    ]


def _row(speedup, d_psnr=-0.01, drift=50.0, tof=0.001):
    return {"speedup": speedup, "d_psnr": d_psnr, "d_lpips_rel": 0.0, "d_tof_rel": tof, "drift_last_db": drift}


# measured-looking rows per class: the shapes of docs/benchmarks.md ("Precision")
ROWS = {
    "avx2": {"torch/fp32": _row(1.0), "openvino/fp32": _row(1.65, 0.0, 95.0), "openvino/int8": _row(2.36)},
    "avx512_bf16": {
        "torch/fp32": _row(1.0),
        "openvino/fp32": _row(1.09, 0.0, 95.0),
        "torch/bf16": _row(1.81),
        "openvino/bf16": _row(2.09),
        "openvino/int8": _row(2.46),
    },
    "amx": {
        "torch/fp32": _row(1.0),
        "openvino/fp32": _row(1.12, 0.0, 95.0),
        "torch/bf16": _row(2.65),
        "openvino/bf16": _row(4.67),
        "openvino/int8": _row(3.06),
    },
}


def _table(net, classes):
    return {
        "models": {
            precision.weights_hash(net): {
                "name": "tiny",
                "classes": {
                    c: {"rows": rows, "machine": f"a {c} CPU", "command": "python scripts/benchmark_precision.py"}
                    for c, rows in classes.items()
                },
            }
        }
    }


@pytest.mark.parametrize(
    "cls,backend,expected,speed",
    [
        ("avx2", None, OV_INT8, "2.4x"),
        ("avx2", "openvino", OV_INT8, "2.4x"),
        ("avx2", "torch", T_FP32, None),
        ("avx512_bf16", None, OV_INT8, "2.5x"),
        ("avx512_bf16", "torch", T_BF16, "1.8x"),
        ("amx", None, OV_BF16, "4.7x"),
        ("amx", "torch", T_BF16, "2.6x"),
    ],
)
def test_auto_reads_the_row_of_this_class(machine, tiny, cls, backend, expected, speed):
    choice = precision_auto.resolve_auto(tiny, CPU, backend, flags=machine(SAMPLES[cls]), table=_table(tiny, ROWS))
    assert (choice.backend, choice.precision) == expected
    if speed:
        assert choice.reason.startswith(f"auto: {expected[1]} through {expected[0]}: {speed} fp32 torch's")
        assert f"(tiny, measured on CPU class {cls} in codes/inference/precision_table.json)" in choice.reason
    else:
        assert "no native lower precision for the torch backend" in choice.reason


def test_a_capped_machine_reads_the_capped_class(machine, tiny):
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(SAPPHIRE, "AVX2"), table=_table(tiny, ROWS))
    assert (choice.backend, choice.precision) == OV_INT8 and "CPU class avx2" in choice.reason


def test_within_the_gate_only_and_openvino_fp32_is_a_candidate(machine, tiny):
    rows = {"avx2": dict(ROWS["avx2"], **{"openvino/int8": _row(2.36, tof=0.03)})}  # tOF +3%: outside
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(AVX2), table=_table(tiny, rows))
    assert (choice.backend, choice.precision) == OV_FP32 and choice.reason.startswith("auto: fp32 through openvino: 1.6x")
    rows = {"avx2": dict(rows["avx2"], **{"openvino/fp32": _row(0.9, 0.0, 95.0)})}  # measured slower than torch
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(AVX2), table=_table(tiny, rows))
    assert (choice.backend, choice.precision) == T_FP32
    assert "no other pair measured faster within the gate (tiny, measured on CPU class avx2" in choice.reason
    rows = {"avx2": {"openvino/int8": _row(2.4, drift=30.0)}}  # only a drifting row: nothing passes
    choice = precision_auto.resolve_auto(tiny, CPU, "openvino", flags=machine(AVX2), table=_table(tiny, rows))
    assert (choice.backend, choice.precision) == OV_FP32 and "nothing measured within the gate" in choice.reason


@pytest.mark.parametrize(
    "cls,first", [("avx2", OV_INT8), ("avx512", OV_INT8), ("avx512_vnni", OV_INT8), ("avx512_bf16", OV_INT8), ("amx", OV_BF16)]
)
def test_a_class_without_a_row_checks_the_own_input_in_its_order(machine, tiny, no_cache, monkeypatch, cls, first):
    tried = []

    def own_input_psnr(net, frames, device, backend, prec):
        tried.append((backend, prec))
        return [50.0] * len(frames) if (backend, prec) == first else [30.0] * len(frames)

    monkeypatch.setattr(precision_auto, "own_input_psnr", own_input_psnr)
    other = "avx2" if cls != "avx2" else "amx"  # the model is measured, but on another class only
    frames = [torch.zeros(16, 16, 3, dtype=torch.uint8).numpy()] * 10
    choice = precision_auto.resolve_auto(
        tiny, CPU, None, frames=frames, flags=machine(SAMPLES[cls]), table=_table(tiny, {other: ROWS.get(other)})
    )
    assert (choice.backend, choice.precision) == first and tried == [first]
    assert "first 8 frames agree with fp32's to 50.0 dB" in choice.reason


def test_at_worst_openvino_fp32_where_it_is_installed(machine, tiny, no_cache, monkeypatch):
    monkeypatch.setattr(precision_auto, "own_input_psnr", lambda net, fr, d, b, p: [30.0] * len(fr))
    frames = [torch.zeros(16, 16, 3, dtype=torch.uint8).numpy()] * 3
    choice = precision_auto.resolve_auto(tiny, CPU, None, frames=frames, flags=machine(ZEN4), table={})
    assert (choice.backend, choice.precision) == OV_FP32
    assert choice.reason == (
        "auto: fp32 through openvino (no lower precision agreed with fp32 to 45 dB on the "
        "first 3 frames; OpenVINO's fp32 runs faster than torch's)"
    )
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(AVX2), table={})
    assert (choice.backend, choice.precision) == OV_FP32
    assert "a checkpoint without measurements, and no frames to check a lower precision on" in choice.reason
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(AVX2), table=_table(tiny, {"amx": ROWS["amx"]}))
    assert (choice.backend, choice.precision) == OV_FP32 and "tiny is not measured on CPU class avx2" in choice.reason
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(OLD_X86), table=_table(tiny, ROWS))
    assert (choice.backend, choice.precision) == OV_FP32 and "no native lower precision on CPU class other" in choice.reason
    # without OpenVINO: torch fp32, as before
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(AVX2, openvino=False), table=_table(tiny, ROWS))
    assert (choice.backend, choice.precision) == T_FP32 and "no native lower precision" in choice.reason


EPYC = "AMD EPYC (AVX-512), 2 cores visible, torch threads 1, flags: avx2 avx512f avx512_bf16 avx512_vnni"
XEON = (
    "Intel(R) Xeon(R) Processor (AVX-512), 2 cores visible, torch threads 1, flags: avx2 avx512f avx512_bf16 "
    "amx_bf16 avx512_vnni avx_vnni amx_int8"
)


def test_the_first_table_format_is_read_as_its_machine_class(machine, tiny):
    assert measurements.machine_class(EPYC) == "avx512_bf16" and measurements.machine_class(XEON) == "amx"
    assert measurements.machine_class(XEON + ", ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2") == "avx2"
    assert measurements.machine_class("") == measurements.OLD_TABLE_CLASS == "avx512_bf16"
    old = {
        "machine": EPYC,
        "command": "python scripts/benchmark_precision.py --models MODEL",
        "models": {precision.weights_hash(tiny): {"name": "tiny", "rows": ROWS["avx512_bf16"]}},
    }
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(ZEN4), table=old)
    assert (choice.backend, choice.precision) == OV_INT8 and "CPU class avx512_bf16" in choice.reason
    old["models"][precision.weights_hash(tiny)]["machine"] = XEON  # its own machine: an AMX Xeon
    choice = precision_auto.resolve_auto(tiny, CPU, None, flags=machine(SAPPHIRE), table=old)
    assert "CPU class amx" in choice.reason
    name, entry = measurements.rows_for(old, precision.weights_hash(tiny), "avx512_bf16")
    assert name == "tiny" and entry is None


def test_merging_a_class_keeps_the_others(tiny):
    digest, gate = precision.weights_hash(tiny), precision_auto.GATE
    old = {
        "machine": EPYC,
        "command": "old command",
        "gate": gate,
        "models": {
            digest: {"name": "tiny", "rows": ROWS["avx512_bf16"], "weights": "measured on float32 weights"},
            "stale": {"name": "tiny", "rows": ROWS["amx"]},  # weights the name no longer ships
            "other": {"name": "big", "rows": ROWS["amx"], "machine": XEON, "command": "xeon command"},
        },
    }
    record = {
        "rows": ROWS["avx2"],
        "machine": EPYC + ", ONEDNN_MAX_CPU_ISA=AVX2",
        "command": "capped command",
        "clips": ["demo/val/GT/coffee"],
    }
    table = measurements.merge(old, digest, "tiny", "avx2", record, gate)
    assert set(table["models"]) == {digest, "other"} and table["gate"] == gate
    classes = table["models"][digest]["classes"]
    assert list(classes) == ["avx512_bf16", "avx2"] and classes["avx2"] == record
    assert classes["avx512_bf16"]["rows"] == ROWS["avx512_bf16"] and classes["avx512_bf16"]["command"] == "old command"
    assert classes["avx512_bf16"]["weights"] == "measured on float32 weights"
    assert table["models"]["other"] == {
        "name": "big",
        "classes": {"amx": {"rows": ROWS["amx"], "machine": XEON, "command": "xeon command"}},
    }
    assert table["classes"] == {
        "amx": {"machine": XEON, "command": "xeon command"},
        "avx512_bf16": {"machine": EPYC, "command": "old command"},
        "avx2": {"machine": record["machine"], "command": "capped command"},
    }
    again = measurements.merge(table, digest, "tiny", "amx", dict(record, machine=XEON), gate)
    assert list(again["models"][digest]["classes"]) == ["amx", "avx512_bf16", "avx2"]


def test_the_shipped_table_has_rows_per_class_and_auto_follows_them(machine):
    table = measurements.load_table()
    assert set(table["gate"]) == set(precision_auto.GATE) and {"avx2", "amx"} <= set(table["classes"])
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in table["classes"]["avx2"]["machine"]  # how the class was measured
    for name in PRETRAINED:
        net = load_generator(name)
        entry = table["models"][precision.weights_hash(net)]
        # AVX2 for every file; a class its file was not measured on yet (a file shipped from a
        # session without that CPU) is never another class's row: the own-input check, named so
        assert entry["name"] == name and "avx2" in entry["classes"]
        for cls in set(SAMPLES) - {"other"} - set(entry["classes"]):
            choice = precision_auto.resolve_auto(net, CPU, None, flags=machine(SAMPLES[cls]))
            assert choice.precision == "fp32" and f"{name} is not measured on CPU class {cls}" in choice.reason
        for cls, measured in entry["classes"].items():
            rows = measured["rows"]
            assert rows["torch/fp32"]["speedup"] == 1.0 and measured["machine"] and measured["command"]
            assert all(row["within_gate"] == precision_auto.within_gate(row) for row in rows.values())
            keys = [f"{b}/{p}" for b, p in precision_auto.native_precisions(CPU, None, machine(SAMPLES[cls]))]
            best = max((rows[k]["speedup"], k) for k in keys if k in rows and rows[k]["within_gate"])[1]
            choice = precision_auto.resolve_auto(net, CPU, None, flags=machine(SAMPLES[cls]))
            assert f"{choice.backend}/{choice.precision}" == best and f"({name}, measured on CPU class {cls}" in choice.reason
            if cls == "avx2":  # OpenVINO's int8 and fp32 both beat torch there: never torch fp32
                assert choice.backend == "openvino"
