"""Procedural HDR scenes in linear radiance (:func:`render_scene`).

A sky-like gradient or a textured wall, a textured ground, occluding objects with their own
textures, shading ramps and cast shadows, a large soft-edged shade zone, specular glints and
small light sources hundreds of times brighter than the mean.
"""
import cv2
import numpy as np

from expinterp_plugin.exposure.synth.textures import (normalise01, rotated, textured_surface,
                                                      value_noise)

DEFAULT_SIZE = (256, 256)


def parse_size(size):
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
    u, _ = rotated(yy, xx, rng.uniform(0, 2 * np.pi))
    return np.exp2(stops * (normalise01(u) - 0.5)).astype(np.float32)


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
    u, _ = rotated(yy, xx, rng.uniform(0, 2 * np.pi))
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
    width, height = parse_size(size)
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((height, width), dtype=np.float32)

    if rng.random() < 0.6:
        emitted, sky_mask = _sky(yy, xx, rng)
    else:
        emitted = np.zeros((height, width, 3), np.float32)
        sky_mask = np.zeros((height, width), bool)
    reflectance = textured_surface(yy, xx, rng) * _log_ramp(yy, xx, rng, 1.5)[..., None]
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
        surface = textured_surface(yy, xx, rng) * shading[..., None]
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
