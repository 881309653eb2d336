"""imresize: MATLAB's bicubic resize checked against hand computations and a direct float64
evaluation of MATLAB's algorithm written out here (no MATLAB available)."""

import math

import numpy as np
import pytest

from tecogan.ops.imresize import contributions, cubic, imresize


def test_uint8_halves_round_away_from_zero():
    # alternating 10/11 columns halved: interior samples are exactly 10.5 in float64;
    # MATLAB's uint8 output rounds them up to 11 (round-half-to-even would give 10)
    img = np.array([[10, 11] * 16] * 4, dtype=np.uint8)
    f = imresize(img.astype(np.float64), 0.5)
    u = imresize(img, 0.5)
    assert (f[:, 2:14] == 10.5).all()
    assert u.dtype == np.uint8 and (u[:, 2:14] == 11).all()


def test_hand_computed_quarter_weights_first_sample():
    # 1-D, 16 -> 4: output 1 is centred at u = 1/0.25... u = x/s + 0.5(1 - 1/s) = 4 - 1.5 = 2.5
    w, idx = contributions(16, 4, 0.25)
    taps = np.arange(np.floor(2.5 - 8), np.floor(2.5 - 8) + 18)
    raw = 0.25 * cubic(0.25 * (2.5 - taps))
    raw = raw / raw.sum()
    # symmetric padding: positions <= 0 mirror to 1 - p (1-based), i.e. index -p in 0-based
    expect = np.zeros(16)
    for p, wt in zip(taps.astype(int), raw, strict=False):
        q = 1 - p if p < 1 else p
        expect[q - 1] += wt
    got = np.zeros(16)
    np.add.at(got, idx[0], w[0])
    assert np.allclose(got, expect, atol=1e-12)
    assert np.isclose(w.sum(axis=1), 1).all()


def test_constant_stays_constant():
    img = np.full((20, 28, 3), 137, dtype=np.uint8)
    out = imresize(img, 0.25)
    assert out.shape == (5, 7, 3) and (out == 137).all()


def matlab_bicubic_reference(img, scale):
    """Direct, loop-by-loop evaluation of MATLAB's imresize(img, scale, 'bicubic') in float64.

    1-based coordinates as in MATLAB: output sample x is centred at x/scale + 0.5*(1-1/scale);
    when shrinking, the kernel is h(t) = scale*cubic(scale*t) on a support of 4/scale;
    outside samples use symmetric padding (index 0 -> 1, -1 -> 2, n+1 -> n, ...).
    Rows are resized first, then columns; uint8 input is rounded (half away from 0) after each.
    """

    def cub(t):
        t = abs(t)
        if t <= 1:
            return 1.5 * t**3 - 2.5 * t**2 + 1
        if t <= 2:
            return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
        return 0.0

    def mirror(j, n):
        while j < 1 or j > n:
            j = 1 - j if j < 1 else 2 * n + 1 - j
        return j

    def one_dim(a, out_len):  # along axis 0
        n = a.shape[0]
        support = 4 / scale if scale < 1 else 4
        out = np.zeros((out_len,) + a.shape[1:])
        for x in range(1, out_len + 1):
            u = x / scale + 0.5 * (1 - 1 / scale)
            left = math.floor(u - support / 2)
            acc, total = 0.0, 0.0
            for j in range(left, left + int(math.ceil(support)) + 2):
                wgt = scale * cub(scale * (u - j)) if scale < 1 else cub(u - j)
                acc = acc + wgt * a[mirror(j, n) - 1].astype(np.float64)
                total += wgt
            out[x - 1] = acc / total
        return out

    is_uint8 = img.dtype == np.uint8
    out = img.astype(np.float64)
    for axis, size in ((0, img.shape[0]), (1, img.shape[1])):
        out = np.moveaxis(one_dim(np.moveaxis(out, axis, 0), int(math.ceil(size * scale))), 0, axis)
        if is_uint8:
            out = np.clip(np.floor(out + 0.5), 0, 255)
    return out


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0])
def test_matches_direct_evaluation_float(scale):
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 1, (13, 18, 3))
    got = imresize(img, scale)
    expected = matlab_bicubic_reference(img, scale)
    assert got.shape == expected.shape == (math.ceil(13 * scale), math.ceil(18 * scale), 3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_matches_direct_evaluation_uint8_quarter():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    got = imresize(img, 0.25)
    assert got.dtype == np.uint8 and got.shape == (6, 8, 3)
    assert np.array_equal(got, matlab_bicubic_reference(img, 0.25).astype(np.uint8))
    # saturating: a sharp edge overshoots (negative lobes) and must clip, not wrap
    edge = np.zeros((8, 16), np.uint8)
    edge[:, 8:] = 255
    out = imresize(edge, 0.5)
    assert out.min() == 0 and out.max() == 255


def test_direct_formula_one_output_sample():
    rng = np.random.default_rng(0)
    row = rng.uniform(0, 255, 16)
    # output sample 2 (1-based) of a 1/4 shrink, taps written out by hand
    scale, k = 0.25, 2
    u = k / scale + 0.5 * (1 - 1 / scale)  # 6.5
    taps = np.arange(np.floor(u - 8), np.floor(u - 8) + 18)
    w = scale * cubic(scale * (u - taps))

    def padded(j):
        return row[int(j) - 1] if 1 <= j <= 16 else row[int(-j)] if j < 1 else row[int(32 - j)]

    expected = sum(wi * padded(t) for wi, t in zip(w, taps, strict=False)) / w.sum()
    got = imresize(row[:, None], 0.25)[:, 0]
    assert got.shape == (4,)
    assert got[k - 1] == pytest.approx(expected, rel=1e-12)


def test_weights_and_monotone_ramps():
    weights, idx = contributions(16, 4, 0.25)
    np.testing.assert_allclose(weights.sum(1), 1.0)
    assert weights.shape[1] <= 18 and idx.min() >= 0 and idx.max() < 16
    grad = np.tile(np.arange(64, dtype=np.float64), (8, 1))
    out = imresize(grad, 0.25)
    assert out.shape == (2, 16) and np.all(np.diff(out[1]) > 0)  # monotone ramps stay monotone
    # interior of a linear ramp: a symmetric kernel reproduces the ramp at the sample centre;
    # output column 9 (1-based) is centred at u = 9/0.25 + 0.5*(1 - 4) = 34.5, where the ramp
    # (value = 1-based position - 1) is 33.5
    assert out[1, 8] == pytest.approx(33.5, abs=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="scale must be > 0"):
        imresize(np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match="uint8 or float"):
        imresize(np.zeros((4, 4), np.int32), 0.5)
    with pytest.raises(ValueError, match="shape"):
        imresize(np.zeros((2, 4, 4, 3)), 0.5)
