"""imresize: MATLAB rounding of halves, hand-computed 1-D contributions."""
import numpy as np

from ops.imresize import contributions, cubic, imresize


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
    for p, wt in zip(taps.astype(int), raw):
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
