"""The synthetic camera: a family of smooth, strictly increasing responses and their CRF tables.

A response is a Rec.709/sRGB-style power law with a linear toe (a slightly different exponent per
channel), blended with a normalised logistic "film" S-curve. ``crf_table`` tabulates the true
response as g(z) = ln F^-1(z / z_max), normalised so that g(128) = 0, the convention of Debevec &
Malik, "Recovering High Dynamic Range Radiance Maps from Photographs", SIGGRAPH 1997.
"""
from dataclasses import dataclass

import numpy as np

from expinterp_plugin.exposure.crf import strictly_increasing

#: Smallest step between neighbouring entries of a saved CRF table (see :func:`crf_table`).
CRF_MIN_STEP = 1e-9


@dataclass(frozen=True)
class CameraParams:
    """One member of the synthetic camera-response family (see :func:`camera_response`).

    gamma: per-channel (R, G, B) exponent of the power-law segment, about 1.9..2.7.
    offset: the power law's offset ``a`` (sRGB 0.055, Rec.709 0.099); sets the linear toe.
    s_mix: weight in [0, 1) of the logistic S-curve blended onto the power law (0 = none).
    s_slope: steepness of that logistic (> 0).
    s_pivot: centre of that logistic in the power-law output, in (0, 1).
    """
    gamma: tuple
    offset: float
    s_mix: float
    s_slope: float
    s_pivot: float


def sample_camera(rng):
    """Draw :class:`CameraParams` from the plausible family, using ``rng`` (numpy Generator)."""
    base = rng.uniform(1.9, 2.6)
    gamma = tuple(float(base * (1.0 + d)) for d in rng.uniform(-0.04, 0.04, size=3))
    return CameraParams(gamma=gamma, offset=float(rng.uniform(0.02, 0.10)),
                        s_mix=float(rng.uniform(0.0, 0.7)), s_slope=float(rng.uniform(4.0, 9.0)),
                        s_pivot=float(rng.uniform(0.35, 0.6)))


def _toe(gamma, offset):
    """Knee and toe slope of :func:`_power_law_with_toe` (value and slope match at the knee)."""
    knee = (offset * gamma / ((1.0 + offset) * (gamma - 1.0))) ** gamma
    return knee, (1.0 + offset) / gamma * knee ** (1.0 / gamma - 1.0)


def _power_law_with_toe(x, gamma, offset):
    """(1 + a) x^(1/gamma) - a above a knee, a line through 0 below it, C1-continuous there.

    The Rec.709 / sRGB transfer form (ITU-R BT.709; IEC 61966-2-1) with free gamma and a.
    """
    knee, toe_slope = _toe(gamma, offset)
    curved = (1.0 + offset) * np.power(np.maximum(x, knee), 1.0 / gamma) - offset
    return np.where(x < knee, toe_slope * x, curved)


def _inverse_power_law_with_toe(u, gamma, offset):
    knee, toe_slope = _toe(gamma, offset)
    curved = np.power((np.maximum(u, toe_slope * knee) + offset) / (1.0 + offset), gamma)
    return np.where(u < toe_slope * knee, u / toe_slope, curved)


def _film_s_curve(u, mix, slope, pivot):
    """Identity blended with a logistic rescaled onto [0,1] -> [0,1]; strictly increasing."""
    def logistic(v):
        return 1.0 / (1.0 + np.exp(-slope * (v - pivot)))
    lo, hi = logistic(0.0), logistic(1.0)
    return (1.0 - mix) * u + mix * (logistic(u) - lo) / (hi - lo)


def camera_response(x, params):
    """Camera response F: normalised sensor signal -> normalised code value.

    x: array (..., 3), float, sensor signal as a fraction of full well (clipped to [0, 1] here),
    last axis R, G, B. Returns float64 (..., 3) in [0, 1], with F(0) = 0, F(1) = 1 and F strictly
    increasing on [0, 1] in every channel: the per-channel power law with a linear toe, then the
    channel-independent S-curve.
    """
    x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
    u = _power_law_with_toe(x, np.asarray(params.gamma, np.float64), params.offset)
    return _film_s_curve(u, params.s_mix, params.s_slope, params.s_pivot)


def _inverse_film_s_curve(y, params, iterations=64):
    """Bisection (the S-curve is strictly increasing; 64 halvings reach float64 resolution)."""
    lo, hi = np.zeros(y.shape), np.ones(y.shape)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = _film_s_curve(mid, params.s_mix, params.s_slope, params.s_pivot) < y
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def inverse_camera_response(y, params):
    """F^-1: y (..., 3) in [0, 1] -> float64 signal (..., 3) in [0, 1].

    The channel-independent S-curve is inverted numerically, the power law in closed form.
    """
    u = _inverse_film_s_curve(np.clip(np.asarray(y, np.float64), 0.0, 1.0), params)
    return _inverse_power_law_with_toe(u, np.asarray(params.gamma, np.float64), params.offset)


def crf_table(params, bit_depth=8):
    """The true CRF as a table g(z) = ln F^-1(z / z_max), shape (2**bit_depth, 3), float64.

    Normalised so that g(128) = 0 for 8-bit (g(128 * 257) = 0 for 16-bit). Code z is the
    rounded value of z_max * F(signal), so z / z_max is the centre of code z's bin on the code
    axis. Code 0 would give ln 0: it takes the midpoint of its bin on the signal axis instead,
    F^-1(0.5 / z_max) / 2. Where neighbouring entries are equal or decreasing in floating point
    (a flat stretch of the curve) they are lifted onto a ramp of slope ``CRF_MIN_STEP`` per code,
    so the table is always strictly increasing; for this family that only guards rounding.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f'bit_depth must be 8 or 16, got {bit_depth}')
    z_max = (1 << bit_depth) - 1
    levels = np.arange(z_max + 1, dtype=np.float64) / z_max
    levels[0] = 0.5 / z_max
    u = _inverse_film_s_curve(levels, params)[:, None]
    signal = _inverse_power_law_with_toe(u, np.asarray(params.gamma, np.float64), params.offset)
    signal[0] /= 2.0
    g = strictly_increasing(np.log(signal), CRF_MIN_STEP)
    return g - g[128 * (z_max // 255)]
