"""Schema of ``dataset.degradation.real``: the ranges of the Real degradation
(codes/ops/real_degradation.py), every default here; codes/experiment.py validates it for type Real."""
from tecogan.config.schema import NUM, Key, Section


# ---- dataset.degradation.real: the Real degradation's ranges (codes/ops/real_degradation.py) ----
def _range(lo, hi, kind=NUM):
    """A [low, high] list inside [lo, hi]."""
    def check(v):
        return (len(v) == 2 and all(isinstance(x, kind) and not isinstance(x, bool) for x in v)
                and lo <= v[0] <= v[1] <= hi)
    return check


def _weights(names):
    """A {name: weight >= 0} mapping over ``names`` with a positive total."""
    def check(v):
        return (bool(v) and all(k in names for k in v) and all(isinstance(x, NUM) and not isinstance(x, bool)
                and x >= 0 for x in v.values()) and sum(v.values()) > 0)
    return check


def _prob():
    return dict(check=lambda v: 0 <= v <= 1, expect="a probability in [0, 1]")


REAL = Section(keys={  # filled in for type Real by codes/experiment_checks.py
    "region": Key(int, default=0, check=lambda v: v == 0 or v >= 64,
                  expect="0 (whole low-res frames) or a region side >= 64 low-res pixels"),
    "blur": Section(create=True, keys={
        "prob": Key(NUM, default=0.8, **_prob()),
        "kernel_types": Key(dict, default={"iso": 0.5, "aniso": 0.3, "generalized": 0.2},
                            check=_weights(("iso", "aniso", "generalized")),
                            expect="weights of iso, aniso, generalized (numbers >= 0, not all 0)"),
        "kernel_size": Key(list, default=[7, 11], check=lambda v: _range(3, 41, int)(v) and v[0] % 2 == 1 and v[1] % 2 == 1,
                           expect="[low, high] odd kernel sizes in 3..41"),
        "sigma": Key(list, default=[0.2, 1.5], check=_range(0.05, 10), expect="[low, high] GT pixels in 0.05..10"),
        "beta": Key(list, default=[0.5, 4.0], check=_range(0.2, 8), expect="[low, high] shape in 0.2..8"),
    }),
    "downsample": Key(dict, default={"area": 1, "bicubic": 1, "bilinear": 1},
                      check=_weights(("area", "bicubic", "bilinear")),
                      expect="weights of area, bicubic, bilinear (numbers >= 0, not all 0)"),
    "noise": Section(create=True, keys={
        "prob": Key(NUM, default=0.5, **_prob()),
        "types": Key(dict, default={"gaussian": 1, "poisson": 1}, check=_weights(("gaussian", "poisson")),
                     expect="weights of gaussian, poisson (numbers >= 0, not all 0)"),
        "gaussian_sigma": Key(list, default=[1.0, 8.0], check=_range(0, 50), expect="[low, high] in 0..50 (of 255)"),
        "poisson_peak": Key(list, default=[300.0, 5000.0], check=_range(1, 1e6),
                            expect="[low, high] photons at full white in 1..1e6 (fewer: noisier)"),
        "grey_prob": Key(NUM, default=0.4, **_prob()),
    }),
    "jpeg": Section(create=True, keys={
        "prob": Key(NUM, default=0.0, **_prob()),
        "quality": Key(list, default=[40, 95], check=_range(1, 100, int), expect="[low, high] integers in 1..100"),
    }),
    "video": Section(create=True, keys={
        "prob": Key(NUM, default=0.9, **_prob()),
        "codecs": Key(dict, default={"h264": 0.5, "h265": 0.2, "mpeg4": 0.15, "mpeg2": 0.15},
                      check=_weights(("h264", "h265", "mpeg4", "mpeg2")),
                      expect="weights of h264, h265, mpeg4, mpeg2 (numbers >= 0, not all 0)"),
        "crf": Key(list, default=[18, 36], check=_range(0, 51, int), expect="[low, high] integers in 0..51"),
        "bpp": Key(list, default=[0.1, 1.0], check=_range(0.005, 24),
                   expect="[low, high] bits per pixel and frame in 0.005..24 (MPEG-4/MPEG-2 bitrate)"),
        "gop": Key(list, default=[4, 30], check=_range(1, 250, int), expect="[low, high] frames in 1..250"),
        "bframes": Key(list, default=[0, 2], check=_range(0, 4, int), expect="[low, high] integers in 0..4"),
    }),
})
