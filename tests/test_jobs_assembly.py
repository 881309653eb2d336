"""Resumable jobs assemble in every container (issue 31).

A job writes its video in segments (each its own encoder, a key frame first) and then copies the
segments' packets into the final file.  Matroska keeps no DTS and its demuxer gives the first
packets of a segment with B-frames none; AVI keeps no timestamps at all and its demuxer puts each
segment's first frame at 0: every .avi job and every long .mkv h264/h265 job failed there
("FFmpeg failed to assemble the segments (Invalid argument)").

Every (container, codec) pair upscale.py writes runs here as a job of 3 segments and is compared
with the one-go writer (the API, no job folder): the frames (the segments' own, and the one-go
file's exactly where the codec is lossless or intra-only), each frame's time (AVI: its slot), the
frames' durations and the file's, and the audio (copied in .mp4/.mov/.mkv, re-encoded to Opus in
.webm and to PCM in .avi).  Five pairs run by default, the rest with ``-m slow``.  An interrupted
.mkv and .avi job continues with --resume to the uninterrupted job's file.
"""

import os
import shutil

import av
import numpy as np
import pytest
from avclips import decode_rgb, make_clip, pattern, video_times
from helpers import same_frames, tree_hash

import tecogan
from tecogan.jobs.job_folder import JobFolder, job_path
from tecogan.utils.errors import UserError
from tecogan.video.codecs import CODECS, check_output
from tecogan.video.common import CONTAINERS

# the (container, codec) pairs upscale.py writes (check_output accepts exactly these)
WRITABLE = {
    ".mp4": ("h264", "h265", "av1", "vp9", "ffv1", "mpeg4"),
    ".mkv": ("h264", "h265", "av1", "vp9", "ffv1", "prores", "mpeg4"),
    ".mov": ("h264", "h265", "prores", "mpeg4"),
    ".webm": ("av1", "vp9"),
    ".avi": ("h264", "av1", "vp9", "ffv1", "mpeg4"),
}
PAIRS = [(ext, codec) for ext, codecs in WRITABLE.items() for codec in codecs]
QUICK = {(".mkv", "h264"), (".mkv", "h265"), (".avi", "mpeg4"), (".avi", "ffv1"), (".mp4", "h264")}
EXACT = {"ffv1", "prores"}  # lossless or intra-only: the one-go file's frames exactly
FRAMES, SEGMENT = 10, 4  # segments of 4, 4 and 2 frames (x264 reorders 4: with 3 the .mkv jobs passed before)


def _installed(codec):
    try:
        av.codec.Codec(CODECS[codec].encoder, "w")
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """10 frames of 32x24 at 12 frames/s (x4: 128x96, enough for x265) with 0.83 s of AAC."""
    path = tmp_path_factory.mktemp("clip") / "in.mp4"
    make_clip(path, pattern(n=FRAMES, h=24, w=32), rate=12, audio=dict(seconds=FRAMES / 12))
    return path


@pytest.fixture
def kept(monkeypatch, tmp_path):
    """A copy of the job folder, made as the finished job removes it (the segment files)."""
    copy = tmp_path / "kept"
    remove = JobFolder.remove

    def keep(self):
        if os.path.isdir(self.path):
            shutil.copytree(self.path, copy, dirs_exist_ok=True)
        remove(self)

    monkeypatch.setattr(JobFolder, "remove", keep)
    return copy


def video_packets(path):
    """(pts, dts, duration) of the video packets in file order, the stream's frame count and rate,
    and the file's duration."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        packets = [(p.pts, p.dts, p.duration) for p in c.demux(v) if p.size]
        return packets, (v.frames, v.average_rate, c.duration, len(c.streams.audio))


def audio(path):
    """(pts, duration, bytes) of the audio packets and the decoded samples."""
    with av.open(str(path)) as c:
        packets = [(p.pts, p.duration, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]
        c.seek(0)
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return packets, samples


def test_check_output_takes_exactly_the_pairs_tested_here():
    """The matrix below is every pair upscale.py accepts; .mov refuses vp9 and av1 in one line (FFmpeg's
    mov muxer takes them in .mp4 only: before, the run failed after the last frame)."""
    accepted = set()
    for ext in sorted(set(CONTAINERS) - {".m4v"}):
        for codec in CODECS:
            try:
                check_output(f"out{ext}", codec=codec)
            except UserError:
                continue
            accepted.add((ext, codec))
    assert accepted == {(ext, codec) for ext, codec in PAIRS if _installed(codec)}
    with pytest.raises(
        UserError,
        match=r"a \.mov file cannot hold av1 video \(codec av1 fits \.mp4, \.mkv, "
        r"\.webm, \.avi; \.mov takes codec h264, h265, prores, mpeg4\)",
    ):
        check_output("out.mov", codec="av1")


@pytest.mark.parametrize(
    "ext,codec", [pytest.param(e, c, id=f"{e[1:]}-{c}", marks=() if (e, c) in QUICK else pytest.mark.slow) for e, c in PAIRS]
)
def test_job_assembles_to_the_one_go_frames_times_and_audio(tmp_path, ckpt, clip, upscale, kept, ext, codec):
    if not _installed(codec):
        pytest.skip(f"this FFmpeg has no {CODECS[codec].encoder}")
    inputs = tree_hash(clip.parent), tree_hash(ckpt)
    out, one = tmp_path / f"job{ext}", tmp_path / f"one{ext}"
    upscale(clip, out, "--model", ckpt, "--device", "cpu", "--codec", codec, "--segment_frames", SEGMENT, "--quiet")
    tecogan.Upscaler(tecogan.load_generator(ckpt), device="cpu").upscale_video(clip, one, codec=codec, quiet=True)
    assert (tree_hash(clip.parent), tree_hash(ckpt)) == inputs
    assert not os.path.exists(job_path(out)) and sorted(os.listdir(tmp_path)) == ["job" + ext, "kept", "one" + ext]
    segments = sorted(kept.glob(f"seg*{ext}"))
    assert len(segments) == 3

    got, want = decode_rgb(out), decode_rgb(one)
    assert len(got) == len(want) == FRAMES
    assert same_frames(got, [f for s in segments for f in decode_rgb(s)])  # the packets as the segments hold them
    if codec in EXACT:
        assert same_frames(got, want)
    else:  # other encodes of the same frames (a key frame starts each segment), in the same order
        err = np.array([[np.abs(g.astype(int) - w.astype(int)).mean() for w in want] for g in got])
        assert list(err.argmin(axis=1)) == list(range(FRAMES))

    (packets, facts), (packets_one, facts_one) = video_packets(out), video_packets(one)
    assert sorted(p for p, _, _ in packets) == sorted(p for p, _, _ in packets_one)  # every frame's time
    if ext == ".avi":  # AVI has one slot per frame interval, in decode order
        assert [d for _, d, _ in packets] == [d for _, d, _ in packets_one]
    else:
        assert video_times(out) == video_times(one)
    if ext in (".mp4", ".mov") and codec in ("h264", "h265"):
        # these store the DTS, which with B-frames follow each encoder's GOP: their demuxers' durations
        # (DTS differences) and rate differ from the one-go file's, never a frame's time
        assert facts[0] == facts_one[0] and facts[2:] == facts_one[2:]
    else:
        assert sorted((p, d) for p, _, d in packets) == sorted((p, d) for p, _, d in packets_one)
        assert facts == facts_one  # frame count, rate, the file's duration, one audio stream

    (a_packets, a_samples), (a_packets_one, a_samples_one) = audio(out), audio(one)
    assert a_packets == a_packets_one and np.array_equal(a_samples, a_samples_one)


@pytest.mark.parametrize("ext,codec", [(".mkv", "h265"), (".avi", "h264"), pytest.param(".avi", "mpeg4", marks=pytest.mark.slow)])
def test_interrupted_job_resumes_to_the_uninterrupted_file(tmp_path, ckpt, clip, upscale, monkeypatch, ext, codec):
    """The README's `film.mkv film_4x.mkv --codec h265` and an .avi, stopped after their second
    segment (a failure while recording it), then run again with --resume."""
    base = ["--model", ckpt, "--device", "cpu", "--codec", codec, "--segment_frames", SEGMENT]
    whole, out = tmp_path / f"whole{ext}", tmp_path / f"out{ext}"
    upscale(clip, whole, *base, "--quiet")
    inputs = tree_hash(clip.parent), tree_hash(ckpt)
    save = JobFolder.save_segment

    def stopping(self, index, *args, **kwargs):
        save(self, index, *args, **kwargs)
        if index == 1:
            raise UserError("stopped by the test")

    monkeypatch.setattr(JobFolder, "save_segment", stopping)
    status, _, err = upscale(clip, out, *base, "--quiet", check=False)
    assert status == 2 and "stopped by the test" in err and not out.exists()
    assert "8 upscaled frames are kept" in err and "the same command with --resume continues" in err
    assert len(JobFolder(out).records()) == 2
    monkeypatch.setattr(JobFolder, "save_segment", save)
    _, stdout, _ = upscale(clip, out, *base, "--resume")
    assert "resuming from frame 8" in stdout and "from 3 segments" in stdout
    assert not os.path.exists(job_path(out))
    assert (tree_hash(clip.parent), tree_hash(ckpt)) == inputs
    assert same_frames(decode_rgb(out), decode_rgb(whole))
    assert video_packets(out) == video_packets(whole)
    assert audio(out)[0] == audio(whole)[0]
