"""Simulated brackets: exposure times around a chosen mid exposure and the sensor model.

:func:`choose_mid_exposure` puts the mid frame's median code on a target; the dark and bright
times are that time divided and multiplied by 2^(EV/2). :func:`render_bracket` simulates the
sensor per time: signal = radiance * t in units of full well, Gaussian-approximated shot noise
plus read noise, clipping to [0, 1], the camera response, rounding to 8- or 16-bit codes.
"""
import numpy as np

from expinterp_plugin.exposure.io import to_dtype
from expinterp_plugin.exposure.synth.camera import camera_response, inverse_camera_response

DEFAULT_EV = 4.0
DEFAULT_SHOT_NOISE = 1e-4
DEFAULT_READ_NOISE = 5e-4
DEFAULT_TARGET_MEDIAN = 118.0

#: A pixel counts as clipped when any channel is at the top code; as near-black when every
#: channel is at or below this 8-bit code (scaled by 257 for 16-bit frames).
BLACK_CODE_8BIT = 10


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
