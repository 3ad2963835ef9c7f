"""Procedural textures for the synthetic scenes.

Each texture returns (mix, shade), float32 HxW in [0, 1]; a surface's colour is
lerp(c1, c2, mix) * shade (:func:`textured_surface`).
"""
import cv2
import numpy as np


def normalise01(a):
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
    return normalise01(total)


def rotated(yy, xx, angle):
    c, s = np.cos(angle), np.sin(angle)
    return xx * c + yy * s, -xx * s + yy * c


def _noise_texture(yy, xx, rng):
    size = max(yy.shape)
    mix = value_noise(yy.shape, rng, cells=int(rng.integers(2, 8)),
                      octaves=int(rng.integers(3, 6)))
    if rng.random() < 0.4:
        mix = normalise01(np.abs(2.0 * mix - 1.0))
    shade = 0.7 + 0.3 * value_noise(yy.shape, rng, cells=max(4, size // 16), octaves=2)
    return mix, shade


def _stripe_texture(yy, xx, rng):
    u, _ = rotated(yy, xx, rng.uniform(0, np.pi))
    period = rng.uniform(4.0, 24.0)
    wave = np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi))
    sharpness = rng.uniform(1.0, 12.0)
    mix = (0.5 + 0.5 * np.tanh(sharpness * wave) / np.tanh(sharpness)).astype(np.float32)
    return mix, np.ones_like(mix)


def _checker_texture(yy, xx, rng):
    u, v = rotated(yy, xx, rng.uniform(0, np.pi / 2))
    cell = rng.uniform(5.0, 32.0)
    mix = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    return mix, np.ones_like(mix)


def _fabric_texture(yy, xx, rng):
    """Plain or twill weave: alternating warp/weft threads, each with a rounded cross-profile."""
    u, v = rotated(yy, xx, rng.uniform(0, np.pi))
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
    u, _ = rotated(yy, xx, rng.uniform(0, 2 * np.pi))
    mix = normalise01(u)
    return mix, np.ones_like(mix)


_TEXTURES = (_noise_texture, _stripe_texture, _checker_texture, _fabric_texture, _gradient_texture)


def _random_colour(rng):
    """Linear RGB reflectance, float32 (3,): log-uniform brightness, a third strongly saturated."""
    saturation = rng.uniform(0.85, 1.0) if rng.random() < 0.35 else rng.uniform(0.0, 0.5)
    hsv = np.array([[[rng.uniform(0, 360), saturation, 1.0]]], np.float32)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return (rgb * np.exp(rng.uniform(np.log(0.03), np.log(0.9)))).astype(np.float32)


def textured_surface(yy, xx, rng):
    """A random texture in two random colours: float32 HxWx3 linear reflectance."""
    mix, shade = _TEXTURES[rng.integers(len(_TEXTURES))](yy, xx, rng)
    c1 = _random_colour(rng)
    c2 = _random_colour(rng) if rng.random() < 0.5 else c1 * np.float32(rng.uniform(0.15, 0.6))
    return (c1 + (c2 - c1) * mix[..., None]) * shade[..., None]
