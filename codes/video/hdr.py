"""HDR video to SDR: the models know SDR BT.709 pixels, so a PQ or HLG frame (BT.2020 primaries)
is turned into display light, mapped onto SDR's range and encoded for a BT.709 display.

The steps, each a small function of float32 arrays in [0, 1] signal or cd/m2 of light:
the transfer's inverse (PQ: SMPTE ST 2084's EOTF; HLG: ARIB STD-B67's inverse OETF and the
BT.2100 OOTF for a 1,000 cd/m2 display), BT.2020 -> BT.709 primaries, a tone curve that keeps
light up to 80% of SDR white as it is and rolls brighter light off smoothly up to 1,000 cd/m2
on white (applied to each pixel's largest channel, so hues stay), and the inverse of BT.1886's
gamma 2.4.  HDR reference white (203 cd/m2, BT.2408) lands at 90% of SDR white's light.
"""

import numpy as np

TRANSFERS = {16: "PQ", 18: "HLG"}  # AVColorTransferCharacteristic values of the HDR transfers
SDR_TAGS = {"colorspace": 1, "primaries": 1, "trc": 1, "range": 1}  # BT.709, limited range
REFERENCE_WHITE = 203.0  # cd/m2 of HDR's diffuse white (BT.2408): SDR's white before the roll-off
KNEE = 0.8  # of SDR white: light below it is kept, light above rolls off towards white
HLG_PEAK = 1000.0  # cd/m2 of the display HLG's OOTF is taken for (BT.2100's reference)
HDR_PEAK = 1000.0  # cd/m2 that the tone curve maps onto SDR white (brighter PQ light is clipped)
# BT.2020 -> BT.709 primaries (linear RGB), rows: R, G, B of BT.709
BT2020_TO_BT709 = np.array([[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]], np.float32)
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)
BT709_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
BT709_PRIMARIES = 1  # AVColorPrimaries: every other tag of an HDR stream is taken as BT.2020


def pq_to_light(signal):
    """SMPTE ST 2084 EOTF: signal in [0, 1] -> cd/m2 (0 to 10,000)."""
    m1, m2 = 0.1593017578125, 78.84375  # ST 2084's constants, as the standard writes them in decimal
    c1, c2, c3 = 0.8359375, 18.8515625, 18.6875
    p = np.power(np.clip(signal, 0, 1), 1 / m2)
    return 10000.0 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)


def hlg_to_light(signal, luma=BT2020_LUMA):
    """ARIB STD-B67 inverse OETF, then BT.2100's OOTF for a 1,000 cd/m2 display (gamma 1.2 on
    the scene's luminance, ``luma`` its primaries' weights): (h, w, 3) signal in [0, 1] -> cd/m2."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    e = np.clip(signal, 0, 1)
    scene = np.where(e <= 0.5, e * e / 3, (np.exp((e - c) / a) + b) / 12)
    luminance = np.maximum(scene @ luma, 1e-6)[..., None]
    return HLG_PEAK * np.power(luminance, 0.2) * scene


def roll_off(x, peak=HDR_PEAK / REFERENCE_WHITE):
    """The tone curve on light relative to SDR white: identity up to KNEE, then Reinhard's curve
    with a white point from the knee to ``peak`` (slope 1 at the knee; ``peak`` lands on white,
    brighter light is clipped)."""
    room = 1 - KNEE
    t = np.maximum(x - KNEE, 0) / room
    white = (peak - KNEE) / room
    return np.where(x <= KNEE, x, np.minimum(KNEE + room * t * (1 + t / white**2) / (1 + t), 1))


def hdr_to_sdr(rgb, transfer, bt2020=True):
    """(h, w, 3) HDR RGB (``transfer`` 'PQ' or 'HLG' signal, uint16 or float in [0, 1]; BT.2020
    primaries, or BT.709 ones where ``bt2020`` is false, as some cameras record HLG) -> float32
    SDR BT.709 RGB signal in [0, 1] (for a gamma 2.4 display)."""
    signal = rgb.astype(np.float32) / 65535 if rgb.dtype == np.uint16 else rgb.astype(np.float32)
    if transfer == "PQ":
        light = pq_to_light(signal)
    else:
        light = hlg_to_light(signal, BT2020_LUMA if bt2020 else BT709_LUMA)
    relative = np.maximum(light @ BT2020_TO_BT709.T if bt2020 else light, 0) / REFERENCE_WHITE
    peak = np.maximum(relative.max(axis=-1, keepdims=True), 1e-6)
    sdr = relative * (roll_off(peak) / peak)
    return np.power(np.clip(sdr, 0, 1), 1 / 2.4)


def to_integers(sdr, deep):
    """An SDR signal in [0, 1] as uint16 (``deep``) or uint8 RGB, rounded."""
    return np.rint(sdr * (65535 if deep else 255)).astype(np.uint16 if deep else np.uint8)
