"""upscale.py: video/folder in and out, equality with test mode, tiling, arch inference,
bounded streaming, side-by-side output."""

import os
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
from avclips import make_clip, probe, video_times
from helpers import (
    CAPTURE,
    assert_one_line,
    deadline,
    no_temps,
    psnr,
    run_inprocess,
    save_tiny_generator,
    script_cli,
    tree_hash,
    upscale_in_process,
    write_frames,
)

from tecogan.inference.steppers import infer_sequence
from tecogan.networks.frnet import FRNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = os.path.join(REPO, "codes", "upscale.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def frames(n=6, h=20, w=28, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = 120 + 80 * np.sin((xx + 2 * i) / 4.0)[..., None] * np.cos(yy / 5.0)[..., None]
        out.append((base + rng.normal(0, 4, (h, w, 3))).clip(0, 255).astype(np.uint8))
    return out


def write_folder(folder, rgb_frames, names=None):
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(rgb_frames):
        cv2.imwrite(os.path.join(folder, names[i] if names else f"f{i:03d}.png"), f[..., ::-1])


def write_video(path, rgb_frames, fps=12):
    make_clip(path, rgb_frames, rate=fps, time_base=Fraction(1, fps))


def read_folder(folder):
    return [cv2.imread(os.path.join(folder, n))[..., ::-1] for n in sorted(os.listdir(folder))]


@pytest.fixture(scope="module")
def ckpt_net(tmp_path_factory):
    path, net = save_tiny_generator(tmp_path_factory.mktemp("ck"))
    return str(path), net


pytestmark = pytest.mark.usefixtures("in_process_capture")  # helpers.CAPTURE: commands run in this process


def upscale(*args, check=True, separate=False):
    """upscale.py ARGS in this process (its console entry point), or with ``separate`` in a process of
    its own as a user runs it: a CompletedProcess whose status is 0 unless ``check`` is False."""
    if separate:
        r = subprocess.run([sys.executable, UPSCALE, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300)
    else:
        status, out, err = upscale_in_process(CAPTURE["capsys"], CAPTURE["monkeypatch"], *args)
        r = subprocess.CompletedProcess(args, status, out, err)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_folder_to_folder_equals_test_mode(tmp_path, ckpt_net):
    path, net = ckpt_net
    lr = frames()
    names = [f"frame_{i}.png" for i in range(len(lr))]
    write_folder(tmp_path / "in", lr, names)
    upscale(tmp_path / "in", tmp_path / "out", "--model", path, "--device", "cpu")
    assert sorted(os.listdir(tmp_path / "out")) == sorted(names)
    expected = list(infer_sequence(net, np.stack(lr), 5, "reflect"))
    got = [cv2.imread(str(tmp_path / "out" / n))[..., ::-1] for n in names]
    for g, e in zip(got, expected, strict=False):
        assert np.array_equal(g, e)


def test_video_to_video_and_to_pngs(tmp_path, ckpt_net):
    path, _ = ckpt_net
    write_video(tmp_path / "in.mp4", frames(n=7), fps=12)
    upscale(
        tmp_path / "in.mp4",
        tmp_path / "out.mp4",
        "--model",
        path,
        "--device",
        "cpu",
        "--compare",
        tmp_path / "cmp.mp4",
        separate=True,
    )  # once as a user runs it
    out = probe(tmp_path / "out.mp4")
    assert (out["codec"], out["frames"], out["width"], out["height"]) == ("h264", 7, 112, 80)
    assert video_times(tmp_path / "out.mp4") == [Fraction(i, 12) for i in range(7)]
    cmp = probe(tmp_path / "cmp.mp4")
    assert (cmp["width"], cmp["height"], cmp["frames"]) == (224, 80, 7)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    upscale(tmp_path / "in.mp4", tmp_path / "pngs", "--model", path, "--device", "cpu")
    assert sorted(os.listdir(tmp_path / "pngs")) == [f"{i:04d}.png" for i in range(1, 8)]


def test_tiles_blend_without_seams(tmp_path, ckpt_net):
    path, _ = ckpt_net
    lr = frames(n=3, h=36, w=44)
    write_folder(tmp_path / "in", lr)
    upscale(tmp_path / "in", tmp_path / "whole", "--model", path, "--device", "cpu")
    upscale(tmp_path / "in", tmp_path / "tiled", "--model", path, "--device", "cpu", "--tile", 20, "--tile_overlap", 8)
    for a, b in zip(read_folder(tmp_path / "whole"), read_folder(tmp_path / "tiled"), strict=False):
        assert a.shape == b.shape == (144, 176, 3)
        assert psnr(a, b) > 45, psnr(a, b)


@pytest.mark.slow
def test_architecture_read_from_checkpoint_and_overrides(tmp_path):
    torch.manual_seed(1)
    path = tmp_path / "bi.pth"
    torch.save(FRNet(nf=12, nb=2, degradation="BI").state_dict(), path)
    write_folder(tmp_path / "in", frames(n=2))
    r = upscale(tmp_path / "in", tmp_path / "out", "--model", path, "--device", "cpu")
    assert "BI generator nf 12 nb 2" in r.stdout
    r = upscale(tmp_path / "in", tmp_path / "out2", "--model", path, "--device", "cpu", "--degradation", "BD", check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "bi.pth" in r.stderr and "BI generator with nf 12, nb 2" in r.stderr
    r = upscale(tmp_path / "in", tmp_path / "out3", "--model", path, "--device", "cpu", "--nf", 16, check=False)
    assert r.returncode == 2 and "shape" in r.stderr
    assert not (tmp_path / "out3").exists() or not os.listdir(tmp_path / "out3")


def test_bad_inputs(tmp_path, ckpt_net):
    path, _ = ckpt_net
    r = upscale(tmp_path / "missing.mp4", tmp_path / "o.mp4", "--model", path, check=False)
    assert r.returncode == 2 and "missing.mp4" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    r = upscale(tmp_path / "junk.mp4", tmp_path / "o.mp4", "--model", path, check=False)
    assert r.returncode == 2 and "junk.mp4" in r.stderr
    assert not (tmp_path / "o.mp4").exists()
    write_folder(tmp_path / "tiny", [np.zeros((6, 6, 3), np.uint8)])
    r = upscale(tmp_path / "tiny", tmp_path / "o2", "--model", path, check=False)
    assert r.returncode == 2 and "smaller than the 8x8" in r.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "output,compare,refused",
    [
        ("/proc/out.mp4", None, "/proc/out.mp4"),
        ("/proc/frames", "side.mp4", "/proc/frames"),
        ("out.mp4", "/proc/side.mp4", "/proc/side.mp4"),
    ],
)
def test_an_output_in_a_folder_that_takes_no_files_names_the_output(tmp_path, ckpt_net, output, compare, refused):
    """/proc passes the checks before any work as root: the lock or temporary file it refuses is
    one line naming the output (before: "/proc/.out.mp4.tecogan-lock: No such file or directory")."""
    path, _ = ckpt_net
    write_video(tmp_path / "in.mp4", frames(2))
    extra = ["--compare", tmp_path / compare] if compare else []  # (an absolute name stays as it is)
    r = upscale(tmp_path / "in.mp4", tmp_path / output, *extra, "--model", path, "--device", "cpu", check=False)
    line = assert_one_line(r.returncode, r.stderr, f"{refused}: cannot be written: the folder /proc ")
    assert "tecogan" not in line and "writable" in line, line


def test_streaming_holds_few_frames(monkeypatch, ckpt_net):
    """At most a handful of frames are decoded ahead of the network, whatever the length."""
    from tecogan import video

    produced, consumed, ahead = [0], [0], []

    def source():
        for i in range(300):
            produced[0] += 1
            ahead.append(produced[0] - consumed[0])
            yield i

    for _ in video.prefetch(source(), maxsize=4):
        consumed[0] += 1
    assert consumed[0] == 300 and max(ahead) <= 6


def test_tile_starts_cover():
    from tecogan.inference.steppers import tile_starts

    assert tile_starts(36, 20, 8) == [0, 12, 16]
    assert tile_starts(10, 20, 8) == [0]


def _peak_rss_kb(args):
    code = (
        "import resource, runpy, sys\n"
        f"sys.argv = {[UPSCALE] + [str(a) for a in args]!r}\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split("PEAK")[-1])


@pytest.mark.slow
def test_memory_does_not_grow_with_length(tmp_path, ckpt_net):
    path, _ = ckpt_net
    lr = frames(n=300, h=24, w=32)
    write_video(tmp_path / "long.mp4", lr)
    write_video(tmp_path / "short.mp4", lr[:100])
    short = _peak_rss_kb([tmp_path / "short.mp4", tmp_path / "s.mp4", "--model", path, "--device", "cpu"])
    long = _peak_rss_kb([tmp_path / "long.mp4", tmp_path / "l.mp4", "--model", path, "--device", "cpu"])
    assert long <= 1.2 * short, (short, long)


@pytest.mark.slow  # the shipped model at 768x432, twice; fast: test_tiles_blend_without_seams
def test_large_tiles_stay_within_one_grey_level_of_whole_frames():
    """The shipped model on the bundled demo clip (192x108 LR): with tiles of 96 overlapping by 32,
    99.9% of the output pixels are within 1 grey level of whole-frame upscaling (the rest sit on
    the seams, where a tile's border sees less context)."""
    import tecogan
    from tecogan.video import open_source

    lr = [image for _, image in open_source(os.path.join(REPO, "demo", "videos", "juggle_lr.mp4"))][:4]
    net = tecogan.load_generator(os.path.join(REPO, "pretrained_models", "FRVSR_BD_footage.pth"))
    whole = np.stack(list(tecogan.Upscaler(net).upscale_frames(lr))).astype(np.int16)
    tiled = np.stack(list(tecogan.Upscaler(net, tile=96, tile_overlap=32).upscale_frames(lr))).astype(np.int16)
    diff = np.abs(tiled - whole)
    assert np.percentile(diff, 99.9) <= 1
    assert diff.mean() < 0.1


@pytest.mark.parametrize("degradation,offset", [("BD", 0.0), ("BI", 1.5)])
def test_compare_bicubic_is_aligned_like_the_model(tmp_path, degradation, offset):
    """The left half of --compare: a BD model keeps LR pixel (i, j) on HR pixel (4i, 4j), so its
    bicubic half is sample-aligned; a BI model's is centre-aligned (1.5 px further down-right)."""
    path, _ = save_tiny_generator(tmp_path, f"tiny_{degradation}.pth", degradation)
    yy, xx = np.mgrid[0:20, 0:28]
    blob = 40 + 180 * np.exp(-((yy - 9) ** 2 + (xx - 13) ** 2) / 6.0)  # LR centre (9, 13)
    lr = np.repeat(blob[..., None], 3, axis=2).round().astype(np.uint8)
    write_video(tmp_path / "in.mkv", [lr] * 2)
    upscale(
        tmp_path / "in.mkv",
        tmp_path / "out.mkv",
        "--model",
        path,
        "--device",
        "cpu",
        "--codec",
        "ffv1",
        "--compare",
        tmp_path / "cmp.mkv",
    )
    import av

    with av.open(str(tmp_path / "cmp.mkv")) as c:
        side = next(c.decode(video=0)).to_ndarray(format="rgb24")
    left = side[:, :112, 1].astype(np.float64) - 40.0
    weights = np.clip(left, 0, None) ** 2
    hy, hx = np.mgrid[0:80, 0:112]
    cy, cx = (weights * hy).sum() / weights.sum(), (weights * hx).sum() / weights.sum()
    assert abs(cy - (4 * 9 + offset)) < 0.25 and abs(cx - (4 * 13 + offset)) < 0.25, (cy, cx)


def test_default_model_is_the_shipped_bi_model_and_names_work(tmp_path, capsys, monkeypatch):
    from helpers import upscale_in_process

    write_folder(tmp_path / "in", frames(n=2))
    status, out, err = upscale_in_process(capsys, monkeypatch, tmp_path / "in", tmp_path / "out")
    assert status == 0, err
    assert "BI generator nf 64 nb 10" in out
    status, out, err = upscale_in_process(capsys, monkeypatch, tmp_path / "in", tmp_path / "out_bd", "--model", "frvsr-bd")
    assert status == 0, err
    assert "BD generator nf 64 nb 10" in out
    status, _, err = upscale_in_process(capsys, monkeypatch, tmp_path / "in", tmp_path / "out2", "--model", "frvsrr")
    assert status == 2 and "frvsrr" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "option, value, needle",
    [
        ("--fps", "nan", "--fps nan: expected a finite number"),
        ("--fps", "inf", "--fps inf: expected a finite number"),
        ("--fps", "-25", "--fps -25.0: expected a number > 0"),
        ("--fps", "0", "--fps 0.0: expected a number > 0"),
        ("--fps", "1e9", "expected a number > 0 and <= 1000"),
        ("--tile", "-5", "--tile -5: expected an integer in 0..16384"),
        ("--tile", "99999999", "--tile 99999999: expected an integer in 0..16384"),
        ("--num_pad_front", "1000000000", "--num_pad_front"),
        ("--nf", "100000", "--nf 100000"),
        ("--fps", "abc", "argument --fps: invalid float value: 'abc'"),
    ],
)
def test_upscale_numbers_checked_first(tmp_path, frames_dir, capsys, monkeypatch, option, value, needle):
    before = tree_hash(tmp_path)
    with deadline(20):
        status, _, err = upscale_in_process(
            capsys, monkeypatch, frames_dir, tmp_path / "out", "--model", tmp_path / "never_read.pth", option, value
        )
    assert_one_line(status, err, needle)
    assert tree_hash(tmp_path) == before


def bad_name(text):
    """``text`` with a byte that is not valid UTF-8 (as a str with a surrogate escape)."""
    return os.fsdecode(text.encode() + b"\xff")


@pytest.fixture
def non_utf8_ok(tmp_path):
    try:
        os.mkdir(tmp_path / bad_name("probe"))
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses names that are not valid UTF-8")


def test_non_utf8_frame_names_work(tmp_path, ckpt, capsys, monkeypatch, non_utf8_ok):
    src = tmp_path / bad_name("in")
    names = [bad_name(f"f{i}") + ".png" for i in range(3)]
    write_frames(src, names=names)
    before = tree_hash(src)
    status, out, err = upscale_in_process(
        capsys, monkeypatch, src, tmp_path / bad_name("out"), "--model", ckpt, "--device", "cpu"
    )
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / bad_name("out"))) == sorted(names)
    assert tree_hash(src) == before
    gt = tmp_path / "GT" / bad_name("seq")
    write_frames(gt, n=2, h=16, w=16, names=[bad_name("a") + ".png", bad_name("b") + ".png"])
    status, _, err = run_inprocess(
        script_cli("scripts/resize_BD.py"),
        ["resize_BD.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "LR"],
        capsys,
        monkeypatch,
    )
    assert status == 0, err
    assert cv2.imdecode(
        np.fromfile(tmp_path / "LR" / bad_name("seq") / (bad_name("a") + ".png"), np.uint8), cv2.IMREAD_COLOR
    ).shape == (4, 4, 3)


def test_non_utf8_video_names_work(tmp_path, ckpt, non_utf8_ok):
    """Video files whose names are not valid UTF-8 are read and written (FFmpeg through PyAV
    takes such paths; OpenCV used to segfault on them); the input is left as it was."""
    video = tmp_path / "v.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (16, 16))
    for i in range(3):
        writer.write(np.full((16, 16, 3), 60 * i, np.uint8))
    writer.release()
    named = tmp_path / (bad_name("v") + ".mp4")
    os.rename(video, named)
    before = tree_hash(named)
    write_frames(tmp_path / "frames")
    for src, out in ((named, tmp_path / "o"), (tmp_path / "frames", tmp_path / (bad_name("o") + ".mp4"))):
        r = subprocess.run(
            [sys.executable, UPSCALE, os.fsencode(src), os.fsencode(out), "--model", ckpt, "--device", "cpu"],
            capture_output=True,
            env=ENV,
            timeout=120,
        )
        assert r.returncode == 0, (r.returncode, r.stderr)  # not -11 (SIGSEGV)
        assert os.path.exists(out)
    assert tree_hash(named) == before


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 98765432100 bytes. Error code 12 (Cannot allocate memory)"
        ),
        MemoryError(),
    ],
)
def test_out_of_memory_is_one_line_with_tile_hint(tmp_path, ckpt, capsys, monkeypatch, error):
    import tecogan.inference.upscaler

    def no_memory(*_args, **_kwargs):
        raise error
        yield  # makes this a generator, like the real one

    monkeypatch.setattr(tecogan.inference.upscaler.ClipRun, "run", no_memory)
    write_frames(tmp_path / "in")
    status, _, err = upscale_in_process(
        capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu"
    )
    assert_one_line(status, err, "out of memory", "--tile 128")
    assert not (tmp_path / "out").exists() and no_temps(tmp_path)


def test_two_frames_with_one_stem_are_refused(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=3, names=["0000.png", "0000.jpg", "0001.png"])
    before = tree_hash(tmp_path)
    status, _, err = upscale_in_process(
        capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu"
    )
    assert_one_line(status, err, "0000.png", "0000.jpg", "same name stem")
    assert tree_hash(tmp_path) == before
    write_frames(tmp_path / "GT" / "s1", n=3, h=16, w=16, names=["a.png", "b.png", "a.bmp"])
    before = tree_hash(tmp_path)
    status, _, err = run_inprocess(
        script_cli("scripts/resize_BD.py"),
        ["resize_BD.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "LR"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "a.png", "a.bmp", "same name stem")
    assert tree_hash(tmp_path) == before


def test_frame_size_change_mid_sequence_names_the_frame(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=4)
    write_frames(tmp_path / "odd", n=1, h=16, w=16)
    os.replace(tmp_path / "odd" / "0000.png", tmp_path / "in" / "0002.png")
    status, _, err = upscale_in_process(
        capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu"
    )
    assert_one_line(status, err, "0002.png", "16x16", "16x12")
    assert not (tmp_path / "out").exists()
