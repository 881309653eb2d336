"""The upscaling pipeline (codes/inference/options.py, codes/inference/upscaler.py): options checked once, one state
per clip, exact state save/restore, metadata carried with each output, frames of more than 8 bits."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from tecogan.inference.options import InferenceOptions, OptionError, options_from_flags, tiles_per_frame
from tecogan.inference.steppers import infer_sequence
from tecogan.inference.upscaler import Upscaler
from tecogan.networks.frnet import FRNet
from tecogan.utils.errors import UserError, command_line
from tecogan.video.common import Frame


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return FRNet(nf=8, nb=1, degradation="BI").eval()


def clip(seed, n=6, h=16, w=20):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h + n, w + n, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[i : i + h, i : i + w]) for i in range(n)]


def test_options_defaults_and_checks():
    opts = InferenceOptions()
    assert (opts.tile, opts.tile_overlap, opts.num_pad_front, opts.padding_mode) == (0, 16, 5, "reflect")
    for bad, needle in [
        (dict(tile=4), "tile 4"),
        (dict(tile=32, tile_overlap=32), "tile_overlap 32"),
        (dict(num_pad_front=100_000_000), "num_pad_front 100000000"),
        (dict(padding_mode="wrap"), "padding_mode 'wrap'"),
        (dict(backend="tensorrt"), "backend"),
        (dict(tile="64"), "expected an integer"),
        (dict(channels_last="no"), "channels_last"),
        (dict(tile=True), "expected an integer"),
    ]:
        with pytest.raises(OptionError, match=needle) as info:
            InferenceOptions(**bad)
        assert isinstance(info.value, ValueError) and isinstance(info.value, UserError)
    with pytest.raises(OptionError, match="^tile 4:"):  # from Python: the API's argument
        options_from_flags({"tile": 4})
    with command_line(), pytest.raises(OptionError) as info:  # in a command line: its flag
        options_from_flags({"tile": 4})
    assert info.value.for_command().startswith("--tile 4:")
    with pytest.raises(AttributeError):
        opts.tile = 3  # frozen


def test_tile_count_is_bounded_before_any_work():
    assert tiles_per_frame(100, 100, 0, 16) == 1
    assert tiles_per_frame(100, 100, 64, 16) == 4
    opts = InferenceOptions(tile=8, tile_overlap=7)
    with pytest.raises(OptionError, match="tiles"):
        opts.check_frame_size(2160, 3840)
    with pytest.raises(OptionError, match="smaller than the 8x8"):
        InferenceOptions().check_frame_size(7, 100)


def test_interleaved_clips_keep_their_own_state(net):
    a, b = clip(1), clip(2)
    up = Upscaler(net, device="cpu")
    expected_a, expected_b = list(up.upscale_frames(a)), list(up.upscale_frames(b))
    ga, gb = up.upscale_frames(a), up.upscale_frames(b)
    got_a, got_b = [], []
    for _ in range(len(a)):
        got_a.append(next(ga))
        got_b.append(next(gb))
    assert all(np.array_equal(x, y) for x, y in zip(got_a, expected_a, strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(got_b, expected_b, strict=True))


@pytest.mark.parametrize("tile", [0, 8])
def test_state_saves_and_restores_exactly(net, tile):
    frames = clip(3, n=7)
    up = Upscaler(net, device="cpu", tile=tile, tile_overlap=2 if tile else 16)
    whole = list(up.upscale_frames(frames))
    first = up.new_clip()
    items = [Frame(f"{i:04d}.png", f, Fraction(i, 25)) for i, f in enumerate(frames)]
    done = [out.image for out in first.run(items[:4])]
    state = first.state_dict()
    resumed = up.new_clip()
    resumed.load_state_dict(state)
    rest = list(resumed.run(items[4:]))
    assert [o.index for o in rest] == [4, 5, 6] and rest[0].name == "0004.png" and rest[0].time == Fraction(4, 25)
    assert all(np.array_equal(x, y) for x, y in zip(done + [o.image for o in rest], whole, strict=True))


def test_upscale_clip_carries_metadata_and_equals_test_mode(net):
    frames = clip(4)
    items = [Frame(f"f{i}.png", f, Fraction(i, 30)) for i, f in enumerate(frames)]
    outs = list(Upscaler(net, device="cpu").upscale_clip(items))
    assert [o.name for o in outs] == [f"f{i}.png" for i in range(len(frames))]
    assert [o.time for o in outs] == [Fraction(i, 30) for i in range(len(frames))]
    assert all(o.lr is f for o, f in zip(outs, frames, strict=True))
    expected = list(infer_sequence(net, frames, 5, "reflect"))
    assert all(np.array_equal(o.image, e) for o, e in zip(outs, expected, strict=True))


def test_sixteen_bit_frames_stay_sixteen_bit(net):
    frames8 = clip(5, n=3)
    frames16 = [f.astype(np.uint16) * 257 for f in frames8]  # the same picture at 16 bits
    up = Upscaler(net, device="cpu")
    out8, out16 = list(up.upscale_frames(frames8)), list(up.upscale_frames(frames16))
    assert out16[0].dtype == np.uint16 and out16[0].shape == out8[0].shape
    # the same values up to the rounding of the 8-bit output
    assert np.abs(out16[-1].astype(np.float64) / 257 - out8[-1]).max() <= 0.51
    with pytest.raises(OptionError, match="differs from the first"):
        list(up.upscale_frames([frames8[0], frames16[1]]))


def test_tile_bomb_is_refused_before_any_tile_is_made(ckpt):
    from tecogan.api import Upscaler, load_generator
    from tecogan.config.limits import tile_count
    from tecogan.defaults import MAX_TILES_PER_FRAME

    frame = np.zeros((1080, 1920, 3), np.uint8)
    assert tile_count(1080, 1920, 8, 7) > MAX_TILES_PER_FRAME
    with pytest.raises(UserError, match=r"2052649 tiles|tiles \(at most 4096\)"):
        next(Upscaler(load_generator(ckpt), tile=8, tile_overlap=7).upscale_frames([frame]))
