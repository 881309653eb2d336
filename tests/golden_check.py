"""Comparing our float32 results with the reference's fixtures (rule: tests/README.md).

A value passes when ``|ours - expected| <= atol + rtol * |expected| + allowance``:

* ``atol``/``rtol`` are GOLDEN.md's base tolerances (what the reference meets between
  machines of one kind);
* ``allowance`` is the float32 error of this very computation on this machine, measured
  against the same computation in float64: ``FLOAT32_FACTOR * max |ours - exact64|`` over the
  compared tensor.  The reference's own float32 result carries an error of the same size on
  its machine, so the two differ by at most about twice that; the factor 4 leaves margin.

The allowance grows with the size and conditioning of the computation, not with the
machine it happens to run on, and it stays far below what a real deviation (a wrong sign,
a missing term, a swapped frame) produces; each golden group has a negative test.
"""

import numpy as np
import torch

FLOAT32_FACTOR = 4.0


def _array(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def float32_allowance(ours, exact):
    """``FLOAT32_FACTOR * max |ours - exact|``: the measured float32 error, with margin."""
    return FLOAT32_FACTOR * float(np.max(np.abs(_array(ours) - _array(exact)), initial=0.0))


def golden_close(ours, expected, atol, rtol, allowance):
    """True when every element is within ``atol + rtol*|expected| + allowance``
    (``allowance`` a scalar or an array shaped like the values)."""
    ours, expected = _array(ours), _array(expected)
    if ours.shape != expected.shape:
        return False
    return bool(np.all(np.abs(ours - expected) <= atol + rtol * np.abs(expected) + _array(allowance)))


def assert_golden(ours, expected, exact=None, atol=1e-5, rtol=1e-4, name="value"):
    """Assert :func:`golden_close`, the allowance measured against ``exact`` (float64)."""
    allowance = float32_allowance(ours, exact) if exact is not None else 0.0
    if golden_close(ours, expected, atol, rtol, allowance):
        return
    a, e = _array(ours), _array(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: shape {a.shape} != expected {e.shape}")
    excess = np.abs(a - e) - (atol + rtol * np.abs(e) + allowance)
    i = int(np.argmax(excess))
    raise AssertionError(
        f"{name}: {int((excess > 0).sum())}/{a.size} values outside tolerance; worst "
        f"ours {a.flat[i]:.8g} expected {e.flat[i]:.8g} (atol {atol}, rtol {rtol}, "
        f"float32 allowance {allowance:.3g})"
    )


def uint8_close(ours, ref):
    """uint8 frames: at most 1 level apart on at most 0.1% of the values.

    Rounding ``x * 255`` flips by one level wherever a float32 error crosses a .5 boundary;
    with errors of ~1e-6 that is a handful of pixels per clip, far below 0.1%.
    """
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"shape {ours.shape} != {ref.shape}"
    diff = np.abs(ours.astype(np.int16) - ref.astype(np.int16))
    assert diff.max() <= 1, f"max difference {diff.max()} levels"
    assert (diff > 0).mean() <= 1e-3, f"{(diff > 0).mean():.2%} of the values differ"
