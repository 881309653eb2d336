"""upscale.py --batch: many inputs into one folder, failures reported and skipped over, complete
outputs skipped on a rerun, outputs made another way refused, --shard parts."""

import os
import subprocess

import cv2
import numpy as np
import pytest
from avclips import make_clip, probe
from helpers import AVX2, CAPTURE, ZEN4, assert_one_line, tree_hash, upscale_in_process, write_frames

from tecogan.jobs.batch import Item, collect, parse_shard, shard
from tecogan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def frames(n=3, h=20, w=28, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def write_folder(folder, images):
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(images):
        cv2.imwrite(os.path.join(folder, f"f{i:03d}.png"), f[..., ::-1])


pytestmark = pytest.mark.usefixtures("in_process_capture")  # helpers.CAPTURE: commands run in this process


def upscale(*args):
    """upscale.py ARGS through its console entry point in this process: a CompletedProcess."""
    status, out, err = upscale_in_process(CAPTURE["capsys"], CAPTURE["monkeypatch"], *args)
    return subprocess.CompletedProcess(args, status, out, err)


def summary(r):
    return [line for line in r.stdout.splitlines() if "summary:" in line][-1].split("summary: ")[1]


def test_batch_goes_past_a_broken_input_skips_complete_ones_and_refuses_other_options(tmp_path, ckpt):
    inputs = tmp_path / "in"
    write_folder(inputs / "shot_a", frames(seed=1))
    make_clip(inputs / "clip_b.mp4", frames(seed=2), rate=12)
    (inputs / "clip_c.mp4").write_bytes(b"not a video at all" * 10)
    out = tmp_path / "out"
    base = ["--batch", inputs, "-o", out, "--model", ckpt, "--device", "cpu", "--quiet"]

    r = upscale(*base)
    assert r.returncode == 1, r.stderr
    assert summary(r) == "2 done, 0 skipped, 1 failed"
    failures = [line for line in r.stderr.splitlines() if "FAILED" in line]
    assert len(failures) == 1 and "clip_c.mp4" in failures[0]
    assert sorted(os.listdir(out / "shot_a")) == ["f000.png", "f001.png", "f002.png"]
    assert probe(out / "clip_b.mp4")["frames"] == 3
    assert (out / ".clip_b.mp4.tecogan.json").is_file() and (out / ".shot_a.tecogan.json").is_file()
    before = os.stat(out / "clip_b.mp4").st_mtime_ns

    r = upscale(*base)  # the rerun skips the complete ones
    assert r.returncode == 1 and summary(r) == "0 done, 2 skipped, 1 failed"
    assert os.stat(out / "clip_b.mp4").st_mtime_ns == before

    r = upscale(*base, "--crf", "30", "--no_audio")  # the video's encoding only: the frames are kept
    assert r.returncode == 1 and summary(r) == "0 done, 1 skipped, 2 failed", r.stderr
    refused = [line for line in r.stderr.splitlines() if "made differently" in line]
    assert len(refused) == 1 and "clip_b.mp4" in refused[0] and "crf" in refused[0]

    r = upscale(*base, "--num_pad_front", "2")  # another option: refused, one line each
    assert r.returncode == 1 and summary(r) == "0 done, 0 skipped, 3 failed"
    refused = [line for line in r.stderr.splitlines() if "made differently" in line]
    assert len(refused) == 2 and all("num_pad_front" in line and "--overwrite" in line for line in refused)
    assert os.stat(out / "clip_b.mp4").st_mtime_ns == before

    (inputs / "clip_c.mp4").unlink()
    r = upscale(*base, "--num_pad_front", "2", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert summary(r) == "2 done, 0 skipped, 0 failed"
    r = upscale(*base, "--num_pad_front", "2")
    assert r.returncode == 0 and summary(r) == "0 done, 2 skipped, 0 failed"


def test_damaged_output_is_made_again_and_foreign_output_refused(tmp_path, ckpt):
    write_folder(tmp_path / "in" / "a", frames(seed=3))
    write_folder(tmp_path / "in" / "b", frames(seed=4))
    os.makedirs(tmp_path / "out" / "b")  # not ours
    base = ["--batch", tmp_path / "in", "-o", tmp_path / "out", "--model", ckpt, "--device", "cpu", "--quiet"]
    r = upscale(*base)
    assert r.returncode == 1 and summary(r) == "1 done, 0 skipped, 1 failed"
    assert "b exists and was not made by this batch" in r.stderr
    os.remove(tmp_path / "out" / "a" / "f001.png")  # damaged since: made again
    r = upscale(*base)
    assert summary(r) == "1 done, 0 skipped, 1 failed"
    assert len(os.listdir(tmp_path / "out" / "a")) == 3
    (tmp_path / "out" / ".a.tecogan.json").write_text("{garbage")  # a damaged manifest: said so, kept
    kept = tree_hash(tmp_path / "out")
    r = upscale(*base)
    assert summary(r) == "0 done, 0 skipped, 2 failed" and "a: its manifest .a.tecogan.json is damaged" in r.stderr
    assert tree_hash(tmp_path / "out") == kept


def test_two_shards_cover_the_list_once(tmp_path, ckpt):
    names = [f"s{i}" for i in range(5)]
    for i, name in enumerate(names):
        write_folder(tmp_path / "in" / name, frames(n=2, seed=10 + i))
    listing = tmp_path / "list.txt"
    listing.write_text("# the shots\n" + "\n".join(f"in/{n}" for n in reversed(names)) + "\n\n")
    seen = []
    for part in ("0/2", "1/2"):
        out = tmp_path / f"out{part[0]}"
        r = upscale("--batch", listing, "-o", out, "--shard", part, "--model", ckpt, "--device", "cpu", "--quiet")
        assert r.returncode == 0, r.stderr
        seen.append(sorted(n for n in os.listdir(out) if not n.startswith(".")))
    assert seen == [["s0", "s2", "s4"], ["s1", "s3"]]


def test_a_webm_input_gives_a_vp9_webm_without_codec(tmp_path, ckpt):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    make_clip(inputs / "clip.webm", frames(n=2), codec="libvpx-vp9", rate=12)
    r = upscale("--batch", inputs, "-o", out, "--model", ckpt, "--device", "cpu", "--quiet")
    assert r.returncode == 0, r.stderr
    assert summary(r) == "1 done, 0 skipped, 0 failed"
    p = probe(out / "clip.webm")
    assert (p["codec"], p["frames"]) == ("vp9", 2)


def test_shard_and_collect_units(tmp_path):
    items = [Item(f"/x/{c}", f"/o/{c}") for c in "edcba"]
    parts = [shard(items, i, 3) for i in range(3)]
    assert sorted(it.src for p in parts for it in p) == sorted(it.src for it in items)
    assert [it.src for it in parts[0]] == ["/x/a", "/x/d"]
    assert parse_shard("2/3") == (2, 3) and parse_shard(None) == (0, 1)
    write_folder(tmp_path / "a" / "shot", frames(n=1))
    write_folder(tmp_path / "b" / "shot", frames(n=1))
    with pytest.raises(UserError, match="would both write"):
        collect([tmp_path / "a", tmp_path / "b"], str(tmp_path / "out"))
    (tmp_path / "v.ts").write_bytes(b"x")
    (tmp_path / "bom.txt").write_bytes("\ufeffv.ts\r\na\r\n".encode())  # Windows Notepad's UTF-8
    assert collect([tmp_path / "bom.txt"], str(tmp_path / "out")) == collect(
        [tmp_path / "v.ts", tmp_path / "a"], str(tmp_path / "out")
    )
    items = collect([tmp_path / "v.ts", tmp_path / "a"], str(tmp_path / "out"))
    assert [os.path.basename(it.dst) for it in items] == ["shot", "v.mkv"]
    items = collect([tmp_path / "v.ts"], str(tmp_path / "out"), batch_ext="mp4")
    assert items[0].dst.endswith("v.mp4")


@pytest.mark.parametrize("where", ["the frame folder", "inside the frame folder", "the folder of inputs"])
def test_an_output_folder_among_the_inputs_is_refused_before_it_is_made(tmp_path, capsys, monkeypatch, where):
    write_folder(tmp_path / "in" / "shot", frames(n=1))
    make_clip(tmp_path / "in" / "clip.ts", frames(n=2), rate=12, fmt="mpegts")
    src, out = {
        "the frame folder": (tmp_path / "in" / "shot", tmp_path / "in" / "shot"),
        "inside the frame folder": (tmp_path / "in" / "shot", tmp_path / "in" / "shot" / "up"),
        "the folder of inputs": (tmp_path / "in", tmp_path / "in"),
    }[where]
    before = tree_hash(tmp_path / "in")
    status, _, err = upscale_in_process(capsys, monkeypatch, "--batch", src, "-o", out, "--device", "cpu")
    assert_one_line(status, err, f"-o {out}", "the input", "outside it")
    assert tree_hash(tmp_path / "in") == before and sorted(os.listdir(tmp_path / "in" / "shot")) == ["f000.png"]


@pytest.mark.parametrize("value", ["2/2", "x", "1/0", "-1/2", "1/2/3"])
def test_bad_shard_is_one_line(tmp_path, value, capsys, monkeypatch):
    write_folder(tmp_path / "in" / "a", frames(n=1))
    status, _, err = upscale_in_process(
        capsys, monkeypatch, "--batch", tmp_path / "in", "-o", tmp_path / "out", f"--shard={value}", "--device", "cpu"
    )
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--shard" in lines[0], err
    assert not (tmp_path / "out").exists()


def test_batch_flags_need_each_other(capsys, monkeypatch):
    status, _, err = upscale_in_process(capsys, monkeypatch, "--shard", "0/2", "--device", "cpu")
    assert status == 2 and "--batch INPUTS... and -o OUTPUT_DIR" in err
    status, _, err = upscale_in_process(capsys, monkeypatch, "--device", "cpu")
    assert status == 2 and "the following arguments are required: input, output" in err


def test_batch_on_ray_refuses_bad_arguments_in_one_line_before_any_work(tmp_path, ckpt, capsys, monkeypatch):
    write_folder(tmp_path / "in" / "a", frames(n=1))
    old = tmp_path / "in" / "keep.txt"
    old.write_text("not an input")
    before = tree_hash(tmp_path)
    base = ["--batch", tmp_path / "in", "-o", tmp_path / "out", "--model", ckpt, "--device", "cpu"]
    closed = "127.0.0.1:1"  # the checks before the address's are made without a cluster
    cases = [
        (["--ray", closed], ["--ray 127.0.0.1:1", "no Ray cluster answers"]),
        (["--ray", "nowhere"], ["--ray nowhere", "HOST:PORT"]),
        (["--ray", closed, "--compare", tmp_path / "c.mp4"], ["--compare", "not available with --batch"]),
        (["--ray", closed, "--worker"], ["--worker and --ray", "choose one"]),
        (["--ray", closed, "--assemble"], ["--assemble and --ray", "choose one"]),
        (["--ray", closed, "--ray_cpus", "-1"], ["--ray_cpus"]),
        (["--ray", closed, "--ray_gpus", "65"], ["--ray_gpus"]),
        (["--ray", closed, "--lease", "0"], ["--lease"]),
        (["--ray", closed, "--chunk_frames", "0"], ["--chunk_frames"]),
        (["--ray", closed, "--shard", "2/2"], ["--shard 2/2"]),
        (["--ray", closed, "--outscale", "0"], ["--outscale"]),
    ]
    for extra, needles in cases:
        status, _, err = upscale_in_process(capsys, monkeypatch, *base, *extra)
        assert_one_line(status, err, *needles)
    status, _, err = upscale_in_process(capsys, monkeypatch, "--batch", tmp_path / "in", "--ray", closed)
    assert_one_line(status, err, "--batch INPUTS... and -o OUTPUT_DIR go together")
    assert tree_hash(tmp_path) == before and not (tmp_path / "out").exists()


def test_batch_keeps_an_output_made_in_the_precision_asked(tmp_path, ckpt, capsys, monkeypatch, flags):
    frames_in = tmp_path / "in"
    write_frames(frames_in, n=10, h=20, w=28, seed=7)

    def run(*args):
        return upscale_in_process(capsys, monkeypatch, *args)

    flags(AVX2)
    base = ["--model", ckpt, "--device", "cpu", "--quiet"]
    before = tree_hash(frames_in)
    for first, then in (("auto", "fp32"), ("fp32", "auto")):
        out = tmp_path / f"out_{first}"
        status, stdout, err = run("--batch", frames_in, "-o", out, *base, "--precision", first)
        assert status == 0 and "1 done" in stdout, err
        made = tree_hash(out)
        status, stdout, err = run("--batch", frames_in, "-o", out, *base, "--precision", then)
        assert status == 0 and "0 done, 1 skipped, 0 failed" in stdout, err
        assert tree_hash(out) == made
    flags(ZEN4)
    status, stdout, err = run("--batch", frames_in, "-o", out, *base, "--precision", "bf16")
    assert status == 1 and "0 done, 0 skipped, 1 failed" in stdout and "Traceback" not in err
    failed = [line for line in err.splitlines() if "FAILED" in line]
    assert (
        len(failed) == 1 and "was made in fp32, not as --precision bf16 asks; rerun with --precision fp32 (or auto)" in failed[0]
    ), err
    assert tree_hash(out) == made and tree_hash(frames_in) == before
