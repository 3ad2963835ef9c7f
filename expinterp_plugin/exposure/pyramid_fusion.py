"""Coarse-middle exposure fusion: Mertens' Laplacian blend with a scale-dependent choice of
frames (docs/design.md, "Coarse-middle fusion").

Mertens, Kautz & Van Reeth ("Exposure fusion", Pacific Graphics 2007) weight every frame per pixel
by contrast x saturation x well-exposedness and blend the frames' Laplacian pyramids with the
Gaussian pyramids of the normalised weights. Here that blend is built twice from the same
weights -- of the pair (bright, dark) and of the triplet (bright, middle, dark) -- and level l
takes ``share[l]`` of the triplet's and the rest of the pair's:

- fine levels come from the pair alone: under MEFB's protocol the fine detail of a third frame
  is what lowers MEF-SSIM, even for a real middle exposure;
- coarse levels come from the triplet: they carry the large-scale brightness, where the order
  of the scene's brightness is kept or reversed.

The share is a function of a level's sample spacing *relative to the short side of the image*
(``middle_shares``), so a photo and its half-size copy put the middle frame into the same
scales. With ``share`` 0 everywhere and two frames this is OpenCV's
``createMergeMertens(1, 1, 1)`` to float rounding.

Since only coarse levels need the middle frame, it is passed at a reduced pyramid level
(``reduced_level``): the middle frame and everything behind it (the CRF, y0, a network) run on a
small copy of the pair.

Linearity keeps the full-resolution work small: with the dark frame D, Delta = B - D and the
normalised weights summing to one, the blend of the pair is D + collapse(G_l(W_b) L_l(Delta)),
so one Laplacian pyramid (of Delta) and one Gaussian pyramid (of W_b) are built at full size,
not one of each per frame as OpenCV does.

numpy + OpenCV only. Frames in: RGB uint8/uint16 codes (H, W, 3) or float32 [0, 1] (H, W, 3);
out: float32 (H, W, 3), roughly [0, 1] (Laplacian blending may over- or undershoot).
"""
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

#: Mertens' well-exposedness: a Gaussian around 0.5 of sigma 0.2 per channel (2 sigma^2 = 0.08).
WELL_EXPOSED_SPREAD = 0.08
#: Added to every weight, as OpenCV does, so that a pixel every frame rates 0 is an even blend.
WEIGHT_FLOOR = 1e-12

#: Default split: the middle frame carries the levels whose sample spacing is at least this
#: fraction of the short side, ramping in over ``DEFAULT_WIDTH`` octaves around it. Chosen by
#: benchmarks/sweep_fusion.py under a rule fixed before the sweep (docs/benchmarks.md, "Default
#: fusion"): the highest MEFB MEF-SSIM whose MEFB reversals stay within the three-frame y0
#: fusion's and whose real-bracket Table III score is at least the pair's.
DEFAULT_SPLIT = 1 / 12
DEFAULT_WIDTH = 2.0
#: The reduced copy that carries the middle frame keeps at least this many pixels on its short
#: side (the CRF estimate and y0 need a few hundred pixels), and lies at least
#: ``REDUCED_MARGIN`` levels below the finest level that takes the middle frame.
MIN_REDUCED_SIDE = 512
REDUCED_MARGIN = 2
#: Rows per strip of the full-size per-pixel work: a strip's float temporaries stay in cache,
#: where whole-image numpy temporaries (96 MB each at 24 MP) would cost page faults and memory
#: bandwidth (3x slower than OpenCV's Mertens before strips).
STRIP_ROWS = 64


def row_strips(height, rows=STRIP_ROWS):
    """(top, bottom) row ranges covering ``height`` rows, ``rows`` at a time."""
    return [(top, min(top + rows, height)) for top in range(0, height, rows)]


def for_each_strip(work, height):
    """``work(top, bottom)`` over the ``row_strips`` of ``height`` rows, on as many threads as
    OpenCV uses: numpy's and OpenCV's loops release the GIL, and ``work`` writes disjoint rows
    (OpenCV's Mertens runs its frames in parallel too)."""
    strips = row_strips(height)
    threads = min(len(strips), max(1, cv2.getNumThreads()))
    if threads == 1:
        for strip in strips:
            work(*strip)
        return
    with ThreadPoolExecutor(threads) as pool:
        for done in pool.map(lambda strip: work(*strip), strips):
            del done


def to_unit(img):
    """RGB uint8/uint16 codes (H, W, 3) -> float32 [0, 1]; float32 input is returned as it is."""
    if img.dtype == np.float32:
        return img
    return np.multiply(img, np.float32(1.0 / np.iinfo(img.dtype).max), dtype=np.float32)


def mertens_weight(img01):
    """Mertens' weight of one frame: float32 (H, W, 3) RGB in [0, 1] -> float32 (H, W), > 0.

    contrast |Laplacian of grey| (3x3, grey by OpenCV's RGB2GRAY) x saturation (the root of the
    summed squared deviations of R, G, B from their mean) x well-exposedness (product over
    channels of exp(-(c - 0.5)^2 / 0.08)), all exponents 1, plus ``WEIGHT_FLOOR``.
    """
    grey = cv2.cvtColor(img01, cv2.COLOR_RGB2GRAY)
    weight = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    del grey
    channels = cv2.split(img01)
    mean = (channels[0] + channels[1] + channels[2]) * np.float32(1 / 3)
    saturation = np.zeros_like(mean)
    exposedness = np.zeros_like(mean)
    for channel in channels:
        deviation = channel - mean
        saturation += deviation * deviation
        centred = channel - np.float32(0.5)
        exposedness += centred * centred
    del channels, mean
    weight *= np.sqrt(saturation, out=saturation)
    weight *= np.exp(exposedness * np.float32(-1 / WELL_EXPOSED_SPREAD), out=exposedness)
    weight += np.float32(WEIGHT_FLOOR)
    return weight


def pyramid_depth(shape):
    """The coarsest pyramid level of an (H, W, ...) image, floor(log2(min(H, W))) as OpenCV's
    Mertens: level l has the size of l successive ``cv2.pyrDown`` halvings."""
    return int(math.floor(math.log2(min(shape[:2]))))


def gaussian_pyramid(img, depth):
    """[img, pyrDown(img), ...], ``depth`` + 1 float32 levels (5-tap Gaussian, reflect-101)."""
    levels = [img]
    for _ in range(depth):
        levels.append(cv2.pyrDown(levels[-1]))
    return levels


def laplacian_pyramid(img, depth, inplace=False):
    """Laplacian pyramid of a float32 image: ``depth`` band-pass levels and the coarsest
    Gaussian level; ``collapse`` rebuilds the image. ``inplace`` turns ``img`` itself into
    the finest band."""
    levels = gaussian_pyramid(img, depth)
    for level in range(depth):
        up = cv2.pyrUp(levels[level + 1], dstsize=levels[level].shape[1::-1])
        if level == 0 and not inplace:
            levels[0] = cv2.subtract(levels[0], up)
        else:
            cv2.subtract(levels[level], up, dst=levels[level])
    return levels


def collapse(levels):
    """The image of a Laplacian pyramid (the inverse of ``laplacian_pyramid``)."""
    image = levels[-1]
    for band in reversed(levels[:-1]):
        up = cv2.pyrUp(image, dstsize=band.shape[1::-1])
        image = cv2.add(up, band, dst=up)
    return image


def middle_shares(short_side, depth, split=DEFAULT_SPLIT, width=DEFAULT_WIDTH):
    """The middle frame's share of each pyramid level 0..depth: float64 array in [0, 1].

    Level l samples every 2^l pixels, a spacing of 2^l / short_side of the image. Its share is 1
    when that spacing is at least ``split`` (a fraction of the short side) and 0 below; with
    ``width`` > 0 (octaves) it ramps linearly in log2 spacing across ``width`` octaves centred on
    ``split``. A function of the relative spacing only, so an image and its copy at twice the
    size give the middle frame the same scales (one level deeper in the larger). ``split`` 0
    gives every level to the middle frame; ``split`` > 1 none.
    """
    spacing = np.log2(2.0 ** np.arange(depth + 1) / short_side)
    if split <= 0:
        return np.ones(depth + 1)
    offset = spacing - math.log2(split)
    if width <= 0:
        return (offset >= 0).astype(np.float64)
    return np.clip(0.5 + offset / width, 0.0, 1.0)


def reduced_level(shape, split=DEFAULT_SPLIT, width=DEFAULT_WIDTH):
    """The pyramid level at which the middle frame is computed for an (H, W, ...) pair: the
    coarsest level that keeps a short side of at least ``MIN_REDUCED_SIDE`` pixels and lies
    ``REDUCED_MARGIN`` levels below the finest level with a share; 0 (full size) for small
    images or when the finest levels take the middle frame."""
    short_side = min(shape[:2])
    depth = pyramid_depth(shape)
    shares = middle_shares(short_side, depth, split, width)
    used = np.flatnonzero(shares > 0)
    if used.size == 0:
        return 0
    by_size = int(math.floor(math.log2(short_side / MIN_REDUCED_SIDE))) if (
        short_side > MIN_REDUCED_SIDE) else 0
    return max(0, min(by_size, int(used[0]) - REDUCED_MARGIN))


def reduce_codes(img, level):
    """``level`` pyrDown halvings of an RGB uint8/uint16 (H, W, 3) image, rounded to its codes:
    the small copy of a frame whose pyramid levels match the full image's from ``level`` on."""
    for _ in range(level):
        img = cv2.pyrDown(img)
    return img


def _triplet_weights(bright01, middle01, dark01):
    """Normalised Mertens weights (W_bright, W_middle) of three float32 [0, 1] frames."""
    weights = [mertens_weight(f) for f in (bright01, middle01, dark01)]
    total = weights[0] + weights[1] + weights[2]
    return weights[0] / total, weights[1] / total


@dataclass
class BlendParts:
    """What the fusion of one pair blends, level by level (0 = full size .. ``depth``):
    ``dark`` the dark frame's RGB codes (H, W, 3); ``bands`` the Laplacian pyramid of bright - dark;
    ``pair_weights`` the Gaussian pyramid of the pair's normalised bright weight; ``triplet``
    {level: (G(W_bright), G(W_middle), L(middle - dark))} of the blend with the middle frame,
    for the levels it can serve (empty without a middle frame)."""
    dark: np.ndarray
    bands: list
    pair_weights: list
    triplet: dict


def blend_parts(dark, bright, reduced=None, levels=None):
    """The ``BlendParts`` of a pair.

    Args:
        dark, bright: the pair, RGB uint8/uint16 (H, W, 3), one shape and dtype (checked by the
            caller).
        reduced: None (no middle frame), or (level, dark_r, middle_r, bright_r): the three
            frames at pyramid ``level`` (the size of ``level`` pyrDown halvings of the pair,
            ``reduce_codes``), RGB codes of the pair's dtype or float32 [0, 1].
        levels: the levels that need the middle frame's terms (default: every level from the
            reduced one on); none may be finer than the reduced level.
    """
    depth = pyramid_depth(dark.shape)
    w_bright, difference = pair_weight_and_difference(dark, bright)
    bands = laplacian_pyramid(difference, depth, inplace=True)
    del difference
    weights = gaussian_pyramid(w_bright, depth)
    triplet = {} if reduced is None else _triplet_terms(reduced, depth, levels)
    return BlendParts(dark, bands, weights, triplet)


def pair_weight_and_difference(dark, bright):
    """(W_bright float32 (H, W), bright - dark float32 (H, W, 3) on the [0, 1] scale) of an RGB
    codes pair: the bright frame's normalised Mertens weight and the frames' difference, made
    in row strips (each with the row above and below it, for the 3x3 Laplacian)."""
    height = dark.shape[0]
    w_bright = np.empty(dark.shape[:2], np.float32)
    difference = np.empty(dark.shape, np.float32)

    def strip(top, bottom):
        low, high = max(top - 1, 0), min(bottom + 1, height)
        core = slice(top - low, bottom - low)
        dark01, bright01 = to_unit(dark[low:high]), to_unit(bright[low:high])
        w_dark, w_strip = mertens_weight(dark01)[core], mertens_weight(bright01)[core]
        np.divide(w_strip, w_strip + w_dark, out=w_bright[top:bottom])
        np.subtract(bright01[core], dark01[core], out=difference[top:bottom])
    for_each_strip(strip, height)
    return w_bright, difference


def blend(parts, shares, inplace=False, dtype=None):
    """The fused image of ``BlendParts`` with the middle frame's ``shares`` per level (zero
    where it has no terms): float32 (H, W, 3) RGB, roughly [0, 1], unclipped; or with
    ``dtype`` (np.uint8 / np.uint16) its codes, clipped and rounded to nearest. ``inplace``
    reuses (and spoils) the parts' arrays: the memory peak of a large pair."""
    missing = [level for level in np.flatnonzero(shares > 0) if level not in parts.triplet]
    if missing:
        raise ValueError(f'no middle-frame terms for pyramid levels {missing}')
    bands = []
    for level, band in enumerate(parts.bands):
        out = band if inplace else np.empty_like(band)
        terms = parts.triplet.get(level) if shares[level] > 0 else None
        weight, share = parts.pair_weights[level], shares[level]

        def strip(top, bottom, band=band, out=out, weight=weight, share=share, terms=terms):
            rows = slice(top, bottom)
            out[rows] = _blended_band(band[rows], weight[rows], share,
                                      terms and [t[rows] for t in terms])
        for_each_strip(strip, band.shape[0])
        bands.append(out)
        if inplace:
            parts.bands[level] = parts.pair_weights[level] = None
    return add_dark(parts.dark, collapse(bands), dtype)


def _blended_band(band, weight, share, terms):
    """One strip of a fused Laplacian level: G(W_b) L(Delta), or with the middle frame's
    ``share`` and ``terms`` (G(W_b3), G(W_m3), L(middle - dark)) the mix of pair and triplet."""
    if terms is None:
        return band * weight[..., None]
    w_bright3, w_middle3, band_middle = terms
    weight = (1.0 - share) * weight + share * w_bright3
    return band * weight[..., None] + (share * w_middle3)[..., None] * band_middle


def add_dark(dark, detail, dtype=None):
    """dark (RGB codes) on the [0, 1] scale + ``detail`` (float32 (H, W, 3)), in row strips:
    float32 (H, W, 3) (into ``detail``), or with ``dtype`` codes clipped and rounded."""
    out = detail if dtype is None else np.empty(detail.shape, dtype)
    scale = None if dtype is None else np.float32(np.iinfo(dtype).max)

    def strip(top, bottom):
        image = to_unit(dark[top:bottom]) + detail[top:bottom]
        if scale is not None:
            np.clip(image, 0.0, 1.0, out=image)
            image *= scale
            np.rint(image, out=image)
        out[top:bottom] = image
    for_each_strip(strip, detail.shape[0])
    return out


def coarse_middle_fuse(dark, bright, reduced=None, split=DEFAULT_SPLIT, width=DEFAULT_WIDTH,
                       dtype=None):
    """Fusion of a pair whose coarse levels come from the blend with a middle frame.

    dark, bright, reduced: as ``blend_parts`` (``reduced`` None: Mertens of the pair);
    split, width: the scale rule of ``middle_shares``; the reduced level must not be finer
    than the finest level with a share (``reduced_level`` picks it).
    Returns float32 (H, W, 3) RGB, roughly [0, 1], unclipped; with ``dtype`` its codes.
    """
    shares = middle_shares(min(dark.shape[:2]), pyramid_depth(dark.shape), split, width)
    if reduced is None:
        shares[:] = 0.0
    levels = np.flatnonzero(shares > 0)
    parts = blend_parts(dark, bright, reduced if levels.size else None, levels)
    return blend(parts, shares, inplace=True, dtype=dtype)


def _triplet_terms(reduced, depth, levels=None):
    """{level: (G_l(W_bright), G_l(W_middle), L_l(middle - dark))} of the triplet blend from
    the reduced frames (``blend_parts``' ``reduced``), for ``levels`` (default: all it covers)."""
    level0, dark_r, middle_r, bright_r = reduced
    levels = range(level0, depth + 1) if levels is None else [int(v) for v in levels]
    if levels and min(levels) < level0:
        raise ValueError(f'the middle frame at pyramid level {level0} is coarser than the finest '
                         f'level it blends into ({min(levels)})')
    dark_r, middle_r, bright_r = (to_unit(f) for f in (dark_r, middle_r, bright_r))
    w_bright3, w_middle3 = _triplet_weights(bright_r, middle_r, dark_r)
    sub_depth = depth - level0
    bright_pyr = gaussian_pyramid(w_bright3, sub_depth)
    middle_pyr = gaussian_pyramid(w_middle3, sub_depth)
    band_pyr = laplacian_pyramid(middle_r - dark_r, sub_depth)
    return {level: (bright_pyr[level - level0], middle_pyr[level - level0],
                    band_pyr[level - level0]) for level in levels}
