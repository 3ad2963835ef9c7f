"""Procedural HDR scenes and simulated exposure brackets: the project's built-in data set.

Numpy + OpenCV only (no torch). Everything is deterministic for a seed.

Pipeline, per scene:

1. :func:`render_scene` builds linear scene radiance, float32 HxWx3 (RGB), scaled so that the
   median sample is 1: a sky-like gradient or a textured wall, a textured ground, occluding
   objects (polygons, ellipses, rectangles) with their own textures, shading ramps and cast
   shadows, a large soft-edged shade zone (deep shadows, a few percent of the lit level),
   specular glints and small light sources hundreds of times brighter than the mean.
2. :func:`sample_camera` draws a camera response from a family of smooth, strictly increasing
   curves (a Rec.709/sRGB-style power law with a linear toe, blended with a normalised logistic
   "film" S-curve; a slightly different exponent per channel).
3. :func:`choose_mid_exposure` picks the mid exposure time so that the mid frame's median code
   lands on a target (118 by default); the dark and bright times are that time divided and
   multiplied by 2^(EV/2), so t_mid = sqrt(t_low t_high).
4. :func:`render_bracket` simulates the sensor for each time: signal = radiance * t in units of
   full well, Gaussian-approximated shot noise (variance ``shot_noise * signal``) plus read noise,
   clipping to [0, 1], the camera response, rounding to 8- or 16-bit codes.
5. :func:`crf_table` tabulates the true response as g(z) = ln F^-1(z / z_max), normalised so
   that g(128) = 0 (8-bit; g(128 * 257) = 0 for 16-bit), i.e. the convention of Debevec & Malik,
   "Recovering High Dynamic Range Radiance Maps from Photographs", SIGGRAPH 1997.

:func:`write_synthetic_dataset` writes the triplet layout of DESIGN.md section 4.
"""
import io
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from expinterp_plugin.exposure.io import atomic_write_bytes, to_dtype, write_image

DEFAULT_SIZE = (256, 256)
DEFAULT_SCENES = 24
DEFAULT_VAL_SCENES = 4
DEFAULT_EV = 4.0
DEFAULT_SHOT_NOISE = 1e-4
DEFAULT_READ_NOISE = 5e-4
DEFAULT_TARGET_MEDIAN = 118.0

#: A pixel counts as clipped when any channel is at the top code; as near-black when every
#: channel is at or below this 8-bit code (scaled by 257 for 16-bit frames).
BLACK_CODE_8BIT = 10

#: Smallest step between neighbouring entries of a saved CRF table (see :func:`crf_table`).
CRF_MIN_STEP = 1e-9

SPLITS = ('train', 'val')
FRAMES = ('low', 'mid', 'high')
_GENERATED_FILE = re.compile(r'^scene\d{4,}\.(png|npy)$')
#: Scene i draws its camera and noise from default_rng([seed + i, CAMERA_STREAM]).
CAMERA_STREAM = 0x5EED


# ----------------------------------------------------------------------------------------------
# Camera response
# ----------------------------------------------------------------------------------------------

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
    g = _strictly_increasing(np.log(signal), CRF_MIN_STEP)
    return g - g[128 * (z_max // 255)]


def _strictly_increasing(table, step):
    """Smallest table >= ``table`` (columnwise) whose entries rise by at least ``step`` per row."""
    ramp = step * np.arange(table.shape[0], dtype=np.float64)[:, None]
    return np.maximum.accumulate(table - ramp, axis=0) + ramp


# ----------------------------------------------------------------------------------------------
# Textures: each returns (mix, shade), float32 HxW in [0, 1]; colour = lerp(c1, c2, mix) * shade
# ----------------------------------------------------------------------------------------------

def _normalise01(a):
    lo, hi = float(a.min()), float(a.max())
    return ((a - lo) / (hi - lo)).astype(np.float32) if hi > lo else np.zeros_like(a, np.float32)


def value_noise(shape, rng, cells=4, octaves=4, persistence=0.5):
    """Multi-octave value noise, float32 HxW in [0, 1].

    Each octave is a lattice of uniform random values (``cells`` * 2^octave across the longer
    side) upsampled with bicubic interpolation; amplitudes fall by ``persistence`` per octave.
    """
    h, w = shape
    longer = max(h, w)
    total = np.zeros(shape, np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        n = cells * 2 ** octave
        rows, cols = max(2, round(n * h / longer)) + 1, max(2, round(n * w / longer)) + 1
        lattice = rng.random((rows, cols), dtype=np.float32)
        total += amplitude * cv2.resize(lattice, (w, h), interpolation=cv2.INTER_CUBIC)
        amplitude *= persistence
    return _normalise01(total)


def _rotated(yy, xx, angle):
    c, s = np.cos(angle), np.sin(angle)
    return xx * c + yy * s, -xx * s + yy * c


def _noise_texture(yy, xx, rng):
    size = max(yy.shape)
    mix = value_noise(yy.shape, rng, cells=int(rng.integers(2, 8)),
                      octaves=int(rng.integers(3, 6)))
    if rng.random() < 0.4:
        mix = _normalise01(np.abs(2.0 * mix - 1.0))
    shade = 0.7 + 0.3 * value_noise(yy.shape, rng, cells=max(4, size // 16), octaves=2)
    return mix, shade


def _stripe_texture(yy, xx, rng):
    u, _ = _rotated(yy, xx, rng.uniform(0, np.pi))
    period = rng.uniform(4.0, 24.0)
    wave = np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi))
    sharpness = rng.uniform(1.0, 12.0)
    mix = (0.5 + 0.5 * np.tanh(sharpness * wave) / np.tanh(sharpness)).astype(np.float32)
    return mix, np.ones_like(mix)


def _checker_texture(yy, xx, rng):
    u, v = _rotated(yy, xx, rng.uniform(0, np.pi / 2))
    cell = rng.uniform(5.0, 32.0)
    mix = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    return mix, np.ones_like(mix)


def _fabric_texture(yy, xx, rng):
    """Plain or twill weave: alternating warp/weft threads, each with a rounded cross-profile."""
    u, v = _rotated(yy, xx, rng.uniform(0, np.pi))
    pitch = rng.uniform(3.0, 9.0)
    cu, cv_ = np.floor(u / pitch), np.floor(v / pitch)
    repeat = 2 if rng.random() < 0.5 else 3
    warp_on_top = ((cu + cv_) % repeat) == 0
    across_warp = np.sin(np.pi * (u / pitch - cu))
    across_weft = np.sin(np.pi * (v / pitch - cv_))
    shade = np.where(warp_on_top, across_warp, across_weft) ** 0.6
    fibre = value_noise(yy.shape, rng, cells=max(8, max(yy.shape) // 4), octaves=1)
    return warp_on_top.astype(np.float32), (0.35 + 0.5 * shade + 0.15 * fibre).astype(np.float32)


def _gradient_texture(yy, xx, rng):
    u, _ = _rotated(yy, xx, rng.uniform(0, 2 * np.pi))
    mix = _normalise01(u)
    return mix, np.ones_like(mix)


_TEXTURES = (_noise_texture, _stripe_texture, _checker_texture, _fabric_texture, _gradient_texture)


def _random_colour(rng):
    """Linear RGB reflectance, float32 (3,): log-uniform brightness, a third strongly saturated."""
    saturation = rng.uniform(0.85, 1.0) if rng.random() < 0.35 else rng.uniform(0.0, 0.5)
    hsv = np.array([[[rng.uniform(0, 360), saturation, 1.0]]], np.float32)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return (rgb * np.exp(rng.uniform(np.log(0.03), np.log(0.9)))).astype(np.float32)


def _textured_surface(yy, xx, rng):
    """A random texture in two random colours: float32 HxWx3 linear reflectance."""
    mix, shade = _TEXTURES[rng.integers(len(_TEXTURES))](yy, xx, rng)
    c1 = _random_colour(rng)
    c2 = _random_colour(rng) if rng.random() < 0.5 else c1 * np.float32(rng.uniform(0.15, 0.6))
    return (c1 + (c2 - c1) * mix[..., None]) * shade[..., None]


# ----------------------------------------------------------------------------------------------
# Scene
# ----------------------------------------------------------------------------------------------

def _parse_size(size):
    width, height = (size, size) if np.isscalar(size) else size
    width, height = int(width), int(height)
    if width < 8 or height < 8:
        raise ValueError(f'size must be at least 8x8 pixels, got {width}x{height}')
    return width, height


def _random_shape_mask(shape, rng):
    """Binary (hard-edged, uint8 HxW) polygon, ellipse or rotated rectangle."""
    h, w = shape
    mask = np.zeros(shape, np.uint8)
    cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(0.0, 1.1) * h
    radius = rng.uniform(0.06, 0.3) * min(h, w)
    kind = rng.integers(3)
    if kind == 0:
        n = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = radius * rng.uniform(0.5, 1.0, n)
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1, lineType=cv2.LINE_8)
    elif kind == 1:
        axes = (max(1, round(radius)), max(1, round(radius * rng.uniform(0.3, 1.0))))
        cv2.ellipse(mask, (round(cx), round(cy)), axes, rng.uniform(0, 180), 0, 360, 1,
                    thickness=-1, lineType=cv2.LINE_8)
    else:
        box = ((cx, cy), (2 * radius * rng.uniform(0.3, 1.0), 2 * radius * rng.uniform(0.3, 1.0)),
               rng.uniform(0, 90))
        cv2.fillPoly(mask, [np.round(cv2.boxPoints(box)).astype(np.int32)], 1,
                     lineType=cv2.LINE_8)
    return mask.astype(bool)


def _log_ramp(yy, xx, rng, stops):
    """exp of a linear ramp in a random direction spanning ``stops`` EV over the frame: HxW."""
    u, _ = _rotated(yy, xx, rng.uniform(0, 2 * np.pi))
    return np.exp2(stops * (_normalise01(u) - 0.5)).astype(np.float32)


def _sky(yy, xx, rng):
    """Emitted sky radiance (HxWx3) above a slightly tilted horizon, and the sky mask (HxW)."""
    h, w = yy.shape
    horizon = h * rng.uniform(0.2, 0.55) + rng.uniform(-0.15, 0.15) * (xx - w / 2)
    mask = yy < horizon
    height = np.clip((horizon - yy) / max(1.0, float(horizon.max())), 0.0, 1.0)[..., None]
    zenith = np.array([rng.uniform(0.15, 0.4), rng.uniform(0.3, 0.6), 1.0], np.float32)
    near_horizon = np.array([0.95, 0.9, rng.uniform(0.8, 1.0)], np.float32)
    sky = near_horizon + (zenith - near_horizon) * height ** 0.6
    clouds = value_noise(yy.shape, rng, cells=3, octaves=5)[..., None] ** 2
    sky = sky + (1.3 - sky) * clouds * rng.uniform(0.0, 1.0)
    return (sky * rng.uniform(0.6, 2.5) * mask[..., None]).astype(np.float32), mask


def _shade_zone(yy, xx, rng, lit_mask):
    """Illumination factor HxW: 1 in light, ``depth`` in a soft-edged half-plane of shade.

    The shade covers 15-40 % of ``lit_mask`` (the non-emissive part of the frame).
    """
    u, _ = _rotated(yy, xx, rng.uniform(0, 2 * np.pi))
    threshold = np.quantile(u[lit_mask], rng.uniform(0.15, 0.4)) if lit_mask.any() else u.min()
    shade = (u < threshold).astype(np.float32)
    sigma = rng.uniform(0.5, 4.0)
    shade = cv2.GaussianBlur(shade, (0, 0), sigma)
    depth = np.exp(rng.uniform(np.log(0.008), np.log(0.04)))
    return (1.0 - (1.0 - depth) * shade).astype(np.float32)


def _gaussian_blob(yy, xx, cy, cx, sigma):
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2.0 * sigma ** 2)).astype(np.float32)


def _add_light_sources(radiance, yy, xx, rng, mean):
    """Adds 1-4 small discs at 400-4000x ``mean`` with a faint halo (lamps, sun), in place."""
    h, w = yy.shape
    for _ in range(int(rng.integers(1, 5))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        radius = rng.uniform(1.0, 1.0 + 0.02 * min(h, w))
        dist = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        coverage = np.clip(radius + 0.5 - dist, 0.0, 1.0)
        halo = rng.uniform(0.0005, 0.003) * np.exp(-(dist / (3.0 * radius)) ** 2)
        tint = np.array([1.0, rng.uniform(0.75, 1.0), rng.uniform(0.5, 1.0)], np.float32)
        if rng.random() < 0.3:
            tint = tint[::-1]
        peak = rng.uniform(400.0, 4000.0) * mean
        radiance += (peak * (coverage + halo))[..., None] * tint


def render_scene(seed, size=DEFAULT_SIZE):
    """Procedural HDR scene in linear radiance.

    seed: non-negative int; the same seed gives the same array, bit for bit.
    size: (width, height) in pixels, or one int for a square.
    Returns float32 HxWx3 (RGB), all values >= 0, scaled so the median sample is 1. Light
    sources peak at several hundred times the mean; shaded regions sit at about 1-4 % of the
    lit level, so the range spans well over 12 EV.
    """
    width, height = _parse_size(size)
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((height, width), dtype=np.float32)

    if rng.random() < 0.6:
        emitted, sky_mask = _sky(yy, xx, rng)
    else:
        emitted = np.zeros((height, width, 3), np.float32)
        sky_mask = np.zeros((height, width), bool)
    reflectance = _textured_surface(yy, xx, rng) * _log_ramp(yy, xx, rng, 1.5)[..., None]
    reflectance[sky_mask] = 0.0
    cast_shadow = np.ones((height, width), np.float32)
    glints = np.zeros((height, width), np.float32)

    light_angle = rng.uniform(0, 2 * np.pi)
    shadow_length = rng.uniform(0.02, 0.08) * min(height, width)
    shift = np.float32([[1, 0, shadow_length * np.cos(light_angle)],
                        [0, 1, shadow_length * np.sin(light_angle)]])
    for _ in range(int(rng.integers(4, 11))):
        mask = _random_shape_mask((height, width), rng)
        if not mask.any():
            continue
        shadow = cv2.warpAffine(mask.astype(np.float32), shift, (width, height))
        shadow = cv2.GaussianBlur(shadow, (0, 0), rng.uniform(0.5, 2.5))
        cast_shadow *= 1.0 - (1.0 - rng.uniform(0.05, 0.3)) * shadow
        shading = _log_ramp(yy, xx, rng, rng.uniform(0.5, 3.0))
        surface = _textured_surface(yy, xx, rng) * shading[..., None]
        reflectance[mask] = surface[mask]
        emitted[mask] = 0.0
        cast_shadow[mask] = 1.0
        glints[mask] = 0.0
        if rng.random() < 0.4:
            ys, xs = np.nonzero(mask)
            k = rng.integers(len(ys))
            blob = _gaussian_blob(yy, xx, ys[k], xs[k], rng.uniform(0.7, 3.0))
            glints += rng.uniform(100.0, 600.0) * blob * mask

    illumination = _shade_zone(yy, xx, rng, ~sky_mask) * cast_shadow
    radiance = reflectance * illumination[..., None] + emitted
    mean = float(radiance.mean())
    radiance += (glints * illumination * mean)[..., None]
    _add_light_sources(radiance, yy, xx, rng, mean)
    return (radiance / np.median(radiance)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Brackets
# ----------------------------------------------------------------------------------------------

def choose_mid_exposure(radiance, params, target_median=DEFAULT_TARGET_MEDIAN):
    """Exposure time t (float) whose noise-free frame F(clip(radiance * t)) has median code
    ``target_median`` (8-bit scale, in (0, 255)) over all samples of all channels.

    radiance: float HxWx3 >= 0. Because each channel's F is increasing, a sample's code is below
    the target exactly when its radiance is below F_c^-1(target) / t; t is found by bisection on
    ln t so that half of all samples are, counted on the sorted radiances of each channel.
    """
    if not 0 < target_median < 255:
        raise ValueError(f'target_median must be inside (0, 255), got {target_median}')
    pixels = np.sort(np.asarray(radiance, np.float64).reshape(-1, 3), axis=0)
    level = np.median(pixels)
    if not level > 0:
        raise ValueError('radiance has a non-positive median: cannot choose an exposure')
    thresholds = inverse_camera_response(np.full(3, target_median / 255.0), params)
    half = 1.5 * len(pixels)

    def samples_below(log_t):
        limits = thresholds / np.exp(log_t)
        return sum(np.searchsorted(pixels[:, c], limits[c], side='left') for c in range(3))

    lo, hi = np.log(1e-6 / level), np.log(1e3 / level)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if samples_below(mid) > half else (lo, mid)
    return float(np.exp(0.5 * (lo + hi)))


def bracket_times(t_mid, ev=DEFAULT_EV):
    """(t_low, t_mid, t_high) with t_high / t_low = 2^ev and t_mid their geometric mean."""
    half = 2.0 ** (ev / 2.0)
    return t_mid / half, t_mid, t_mid * half


def render_bracket(radiance, times, params, rng, shot_noise=DEFAULT_SHOT_NOISE,
                   read_noise=DEFAULT_READ_NOISE, bit_depth=8):
    """Simulated captures of one scene, one per exposure time.

    radiance: float HxWx3 >= 0, linear RGB (e.g. from :func:`render_scene`).
    times: exposure times; the sensor signal is radiance * t in units of full well.
    params: :class:`CameraParams`, the same for every frame.
    rng: numpy Generator for the noise.
    shot_noise: signal-dependent noise variance per unit signal (1 / full-well electrons); the
        Poisson shot noise is approximated by a Gaussian of variance shot_noise * signal.
    read_noise: standard deviation of the signal-independent noise, in units of full well.
    bit_depth: 8 or 16.
    Returns a list of RGB arrays HxWx3, uint8 (codes 0..255) or uint16 (0..65535): the signal
    plus noise is clipped to [0, 1] (black level and full well), mapped through
    :func:`camera_response` and rounded to the nearest code.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f'bit_depth must be 8 or 16, got {bit_depth}')
    if shot_noise < 0 or read_noise < 0:
        raise ValueError('noise parameters must be non-negative')
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    radiance = np.asarray(radiance, np.float64)
    frames = []
    for t in times:
        signal = radiance * float(t)
        sigma = np.sqrt(shot_noise * signal + read_noise ** 2)
        noisy = np.clip(signal + sigma * rng.standard_normal(signal.shape), 0.0, 1.0)
        frames.append(to_dtype(camera_response(noisy, params), dtype))
    return frames


def bracket_stats(low, mid, high):
    """Figures of one rendered bracket (RGB uint8/uint16 HxWx3 frames), as a dict of floats.

    mid_median: median code of the mid frame on the 8-bit scale.
    high_clipped: fraction of bright-frame pixels with any channel at the top code.
    low_black: fraction of dark-frame pixels with every channel <= ``BLACK_CODE_8BIT`` (8-bit
        scale).
    """
    top = np.iinfo(high.dtype).max
    scale = top / 255.0
    return {
        'mid_median': float(np.median(mid) / scale),
        'high_clipped': float((high == top).any(axis=2).mean()),
        'low_black': float((low <= BLACK_CODE_8BIT * scale).all(axis=2).mean()),
    }


# ----------------------------------------------------------------------------------------------
# Data set
# ----------------------------------------------------------------------------------------------

def scene_name(index):
    """File stem of the scene with global index ``index`` (train first, then val)."""
    return f'scene{index:04d}'


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _check_destination(dst, overwrite):
    if dst.exists() and not dst.is_dir():
        raise NotADirectoryError(f'{dst}: exists and is not a folder')
    if dst.is_dir() and any(dst.iterdir()) and not overwrite:
        raise FileExistsError(f'{dst}: folder is not empty (use --overwrite / overwrite=True to '
                              'write into it)')


def _remove_stale(dst, names_by_split):
    """Deletes generated files (sceneNNNN.png/.npy, exposures.txt) this run does not rewrite."""
    for split in SPLITS:
        keep = names_by_split.get(split, set())
        for folder in (*FRAMES, 'crf'):
            path = dst / split / folder
            if not path.is_dir():
                continue
            for f in path.iterdir():
                if _GENERATED_FILE.match(f.name) and f.stem not in keep:
                    f.unlink()
        if not keep and (dst / split / 'exposures.txt').is_file():
            (dst / split / 'exposures.txt').unlink()


def _exposures_text(rows, header):
    lines = [f'# {h}' for h in header]
    lines.append('# NAME t_low t_mid t_high  (seconds; dark, mid = sqrt(t_low t_high), bright)')
    lines += [f'{name} {t[0]:.9g} {t[1]:.9g} {t[2]:.9g}' for name, t in rows]
    return ('\n'.join(lines) + '\n').encode()


def write_synthetic_dataset(dst, scenes=DEFAULT_SCENES, val_scenes=DEFAULT_VAL_SCENES,
                            size=DEFAULT_SIZE, seed=0, ev=DEFAULT_EV, bit_depth=8,
                            shot_noise=DEFAULT_SHOT_NOISE, read_noise=DEFAULT_READ_NOISE,
                            target_median=DEFAULT_TARGET_MEDIAN, overwrite=False, progress=False):
    """Render and write synthetic exposure triplets in the layout of DESIGN.md section 4.

    Writes, for split in train (``scenes`` scenes) and val (``val_scenes``):
    ``dst/split/{low,mid,high}/NAME.png`` (RGB, 8- or 16-bit), ``dst/split/exposures.txt``
    (``NAME t_low t_mid t_high`` after a ``#`` header) and ``dst/split/crf/NAME.npy`` (the true
    CRF of :func:`crf_table`, float64 (2**bit_depth)x3). Scene with global index i (train
    0..scenes-1, then val) is named ``scene_name(i)`` and rendered from seed ``seed + i``; its
    camera and noise come from the generator seeded with (seed + i, a fixed stream constant).
    Every file is written atomically. A non-empty ``dst`` is refused unless ``overwrite``; then
    stale generated files (sceneNNNN.*) that this run does not rewrite are removed, so folders
    and exposures.txt agree.

    Returns a JSON-serialisable summary dict: the settings, per-split scene counts and names,
    per-scene times and :func:`bracket_stats` plus ``peak_over_mean`` (max radiance / mean),
    aggregates of those, and ``seconds`` (wall time).
    """
    from tqdm import tqdm

    dst = Path(dst)
    width, height = _parse_size(size)
    if scenes < 1 or val_scenes < 0:
        raise ValueError(f'need scenes >= 1 and val_scenes >= 0, got {scenes} and {val_scenes}')
    if seed < 0:
        raise ValueError(f'seed must be non-negative, got {seed}')
    if not ev > 0:
        raise ValueError(f'ev must be positive, got {ev}')
    if bit_depth not in (8, 16):
        raise ValueError(f'bit_depth must be 8 or 16, got {bit_depth}')
    _check_destination(dst, overwrite)

    start = time.perf_counter()
    counts = {'train': scenes, 'val': val_scenes}
    plan = [(split, i) for i, split in enumerate(['train'] * scenes + ['val'] * val_scenes)]
    names_by_split = {s: {scene_name(i) for split, i in plan if split == s} for s in SPLITS}
    dst.mkdir(parents=True, exist_ok=True)
    if overwrite:
        _remove_stale(dst, names_by_split)

    per_scene = []
    rows = {s: [] for s in SPLITS}
    for split, i in tqdm(plan, desc='synth', unit='scene', disable=not progress):
        name = scene_name(i)
        radiance = render_scene(seed + i, (width, height))
        rng = np.random.default_rng([seed + i, CAMERA_STREAM])
        camera = sample_camera(rng)
        times = bracket_times(choose_mid_exposure(radiance, camera, target_median), ev)
        frames = render_bracket(radiance, times, camera, rng, shot_noise, read_noise, bit_depth)
        for folder, frame in zip(FRAMES, frames):
            write_image(dst / split / folder / f'{name}.png', frame)
        atomic_write_bytes(dst / split / 'crf' / f'{name}.npy',
                           _npy_bytes(crf_table(camera, bit_depth)))
        rows[split].append((name, times))
        per_scene.append({'name': name, 'split': split, 'seed': seed + i, 'times': list(times),
                          **bracket_stats(*frames),
                          'peak_over_mean': float(radiance.max() / radiance.mean()),
                          'camera': asdict(camera)})

    header = [f'expinterp synthetic brackets: seed {seed}, {width}x{height}, {ev:g} EV, '
              f'{bit_depth}-bit, shot_noise {shot_noise:g}, read_noise {read_noise:g}']
    for split in SPLITS:
        if rows[split]:
            atomic_write_bytes(dst / split / 'exposures.txt', _exposures_text(rows[split], header))

    def aggregate(key):
        values = [s[key] for s in per_scene]
        return {'min': min(values), 'mean': float(np.mean(values)), 'max': max(values)}

    return {
        'dst': str(dst), 'seed': seed, 'size': [width, height], 'ev': ev, 'bit_depth': bit_depth,
        'shot_noise': shot_noise, 'read_noise': read_noise, 'target_median': target_median,
        'splits': {s: {'scenes': counts[s], 'names': [n for n, _ in rows[s]]} for s in SPLITS},
        'scenes': len(per_scene),
        'mid_median': aggregate('mid_median'), 'high_clipped': aggregate('high_clipped'),
        'low_black': aggregate('low_black'), 'peak_over_mean': aggregate('peak_over_mean'),
        'per_scene': per_scene,
        'seconds': time.perf_counter() - start,
    }


def summary_json(summary):
    """The summary of :func:`write_synthetic_dataset` as indented JSON text."""
    return json.dumps(summary, indent=2)
