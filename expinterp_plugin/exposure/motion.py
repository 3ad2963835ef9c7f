"""Moving-subject (ghost) mask of an aligned pair, and y0 that takes one frame where it is set.

The model behind y0 is also a test for motion: both frames mapped to the target exposure by their
IMFs (``Y0Mapper.lut_dark`` / ``lut_bright``) must agree up to noise and quantisation, and a pixel
where they disagree by more has changed between the shots. The tolerated band follows the IMF's
slope: one code of the dark frame becomes several at the target exposure where its IMF is steep
(the shadows), so the band widens there; a shot-noise-like term grows with the code, and a floor
absorbs the error of the estimated CRF.

A frame clipped at a pixel (the bright one at or above xi_U, the dark one at or below xi_L, the
thresholds of y0's weights) only bounds the value there: a clipped bright pixel says "at least
L_bright(xi_U)". Each frame therefore gives an interval and the disagreement is the gap between
the two intervals, so clipped pixels count only where the other frame contradicts the bound (a
dark person in front of a sky that the bright frame clips).

The mask is computed on copies of at most ``max_side`` pixels, cleaned by morphology and a
minimum area, widened and feathered, and upsampled to float32 [0, 1] at full resolution.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from expinterp_plugin.exposure.weights import bright_weight, dark_weight

REFERENCES = ('dark', 'bright')
#: A pair whose median pixel disagrees beyond the band the response predicts is not explained
#: by it (a phone's local tone mapping, a wrong exposure ratio): moving subjects cannot be told
#: from the model's error there, and substituting through that response paints its error in
#: (saturated blue noise on a handheld night shot, misfit 1.84). Tripod brackets and MEFB's
#: pairs measured <= 0.86.
MAX_MISFIT = 1.0
_STRIP_ROWS = 64


@dataclass(frozen=True)
class MotionMask:
    """Where the scene moved between the two frames of a pair.

    Attributes:
        mask: float32 (H, W) in [0, 1], full resolution; 1 where the pair disagrees beyond its
            noise (feathered at the edges).
        fraction: mean of ``mask`` (0..1).
        reference: the frame y0 takes alone in the masked region ('dark' or 'bright').
        reference_clipped_fraction: share of the mask (weighted by it) where the reference frame
            itself is clipped or near black, so y0 has no reliable value there (0..1).
        regions: number of separate moving regions.
        misfit: the median pixel's disagreement over its predicted band; above
            ``MAX_MISFIT`` the response does not explain the pair and no motion is searched
            (``searched`` False, the mask empty).
    """
    mask: np.ndarray
    fraction: float
    reference: str
    reference_clipped_fraction: float
    regions: int
    misfit: float = 0.0

    @property
    def searched(self):
        return self.misfit <= MAX_MISFIT

    def to_record(self):
        """JSON-ready dict of the scalar fields."""
        return {'fraction': round(self.fraction, 5), 'reference': self.reference,
                'reference_clipped_fraction': round(self.reference_clipped_fraction, 4),
                'regions': self.regions, 'misfit': round(self.misfit, 3),
                'searched': self.searched}


def motion_mask(dark, bright, mapper, valid=None, reference='dark', max_side=1024, noise=2.0,
                sigmas=4.0, floor=0.04, min_area=0.0005):
    """The moving-subject mask of an aligned pair.

    Args:
        dark, bright: RGB uint8/uint16 (H, W, 3) frames in one geometry (after alignment).
        mapper: the pair's ``Y0Mapper`` (its IMF tables, thresholds and code scale).
        valid: optional bool (H, W), where both frames have data (``align.warp_to_reference``);
            elsewhere no motion is detected (y0 takes the reference there anyway).
        reference: the frame y0 takes alone in moving regions, 'dark' or 'bright'.
        max_side: the mask is computed on copies reduced by an integer factor to a long side of
            at most this.
        noise: input noise standard deviation at white, 8-bit codes (grows as sqrt(code)).
        sigmas: the band is this many standard deviations of the predicted disagreement.
        floor: minimum band, fraction of the code range (error of the estimated CRF).
        min_area: smallest moving region kept, fraction of the image area.
    Returns:
        ``MotionMask``.
    """
    if reference not in REFERENCES:
        raise ValueError(f'reference frame {reference!r}: choose dark or bright')
    height, width = dark.shape[:2]
    small_dark, small_bright = reduced(dark, max_side), reduced(bright, max_side)
    gap, band = disagreement(small_dark, small_bright, mapper, noise, sigmas, floor)
    # Summed over channels: a camera's colour processing bends saturated colours away from
    # per-channel IMFs, while a moving subject changes brightness too.
    gap, band = gap.sum(axis=2), band.sum(axis=2)
    misfit = float(np.median(gap) / max(float(np.median(band)), 1e-12))
    if misfit > MAX_MISFIT:
        return MotionMask(np.zeros((height, width), np.float32), 0.0, reference, 0.0, 0, misfit)
    # Moving subjects are a minority of the pixels: a disagreement that most of the frame
    # shares is the CRF estimate's error, and the band grows to three times its median.
    moved = gap > np.maximum(band, 3.0 * np.median(gap))
    if valid is not None:
        moved &= reduced_mask(valid, moved.shape) >= 1.0
    cleaned, regions = clean(moved, min_area)
    soft = feather(cleaned)
    clipped = reference_clipped(small_dark if reference == 'dark' else small_bright, mapper,
                                reference)
    total = float(soft.sum())
    clipped_share = float((soft * clipped).sum()) / total if total > 0 else 0.0
    # Bilinear upsampling of values in [0, 1] stays in [0, 1].
    full = cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR)
    return MotionMask(full, float(soft.mean()), reference, clipped_share, regions, misfit)


def reduced(img, max_side):
    """RGB (H, W, 3) codes area-averaged by the smallest integer factor that brings the long
    side to at most ``max_side`` (OpenCV's fast path); dtype kept (rounded codes)."""
    h, w = img.shape[:2]
    factor = -(-max(h, w) // max_side)
    if factor == 1:
        return img
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def reduced_mask(mask, shape):
    """bool (H, W) -> float32 share of True pixels per cell of a (h, w) grid."""
    return cv2.resize(np.asarray(mask, np.uint8), shape[::-1],
                      interpolation=cv2.INTER_AREA).astype(np.float32)


def code_noise(codes, max_code, noise):
    """Standard deviation (codes) of a code: quantisation (1/sqrt 12 of a step, one step being
    ``max_code / 255`` of the 8-bit scale) and shot-like noise, ``noise`` 8-bit codes at white."""
    step = max_code / 255.0
    return step * np.sqrt(1.0 / 12.0 + noise ** 2 * codes / max_code)


def interval_tables(mapper, noise):
    """Per-code tables (levels, 3) float32 of each frame's interval at the target exposure and
    of its noise there: ((dark_low, dark_high, dark_spread), (bright_low, ...)).

    Each frame gives an interval at the target exposure, its IMF value widened towards the
    clip it approaches as its y0 weight falls: the bright frame's [L1, L1 + (1 - W1)(max - L1)]
    (at or above xi_U: "at least L1(xi_U)"), the dark frame's [(1 + W2) / 2 L2, L2] (at or
    below xi_L: "at most L2(xi_L)"; only halfway to black, so that a dark subject in front of
    the shadows still shows). The estimated CRF is least certain exactly there (its shoulder
    and toe), so a frame disagrees in proportion to how much y0 trusts it. The spread is the
    code noise times the IMF's slope.
    """
    max_code = float(mapper.crf.max_code)
    codes = np.arange(mapper.crf.levels, dtype=np.float64)[:, None]
    low, high = mapper.xi_l * mapper.code_scale, mapper.xi_u * mapper.code_scale
    lut_dark, lut_bright = mapper.lut_dark, mapper.lut_bright
    at_low = np.array([np.interp(low, codes[:, 0], lut_dark[:, c]) for c in range(3)])
    at_high = np.array([np.interp(high, codes[:, 0], lut_bright[:, c]) for c in range(3)])
    dark = (0.5 * (1.0 + dark_weight(codes, mapper.xi_l, mapper.code_scale)) * lut_dark,
            np.where(codes < low, at_low, lut_dark),
            np.gradient(lut_dark, axis=0) * code_noise(codes, max_code, noise))
    bright = (np.where(codes > high, at_high, lut_bright),
              lut_bright + (1.0 - bright_weight(codes, mapper.xi_u, mapper.code_scale)) *
              (max_code - lut_bright),
              np.gradient(lut_bright, axis=0) * code_noise(codes, max_code, noise))
    return tuple(tuple(t.astype(np.float32) for t in frame) for frame in (dark, bright))


def disagreement(dark, bright, mapper, noise, sigmas, floor):
    """(gap, band): float32 (h, w, 3) target-exposure codes of integer codes (h, w, 3).

    gap is the distance between the intervals the two frames allow at the target exposure
    (``interval_tables``); band is the largest gap that noise and quantisation explain.
    """
    (dark_low, dark_high, dark_spread), (bright_low, bright_high, bright_spread) = \
        interval_tables(mapper, noise)
    channels = np.arange(3)

    def at(table, codes):
        return table[codes, channels]
    gap = np.maximum(at(bright_low, bright) - at(dark_high, dark),
                     at(dark_low, dark) - at(bright_high, bright))
    band = sigmas * np.hypot(at(dark_spread, dark), at(bright_spread, bright)) + \
        np.float32(floor * mapper.crf.max_code)
    return np.maximum(gap, 0.0), band


def clean(moved, min_area):
    """bool (h, w) raw detections -> (uint8 {0, 1} mask, number of regions).

    An opening removes isolated pixels and thin lines (misfits along high-contrast edges), a
    closing joins the pieces of one subject, and regions below ``min_area`` of the image go.
    """
    side = max(moved.shape)
    radius = max(1, round(0.002 * side))
    small = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    large = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (6 * radius + 1,) * 2)
    mask = cv2.morphologyEx(moved.astype(np.uint8), cv2.MORPH_OPEN, small)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, large)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area * moved.size
    keep[0] = False  # the background
    return keep[labels].astype(np.uint8), int(keep.sum())


def feather(mask):
    """uint8 {0, 1} (h, w) -> float32 [0, 1]: widened by 0.5 % of the long side (a subject's
    blurred edge and shadow move with it) and blurred over about as much."""
    side = max(mask.shape)
    radius = max(1, round(0.005 * side))
    grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    return np.clip(cv2.GaussianBlur(grown.astype(np.float32), (0, 0), radius), 0.0, 1.0)


def reference_clipped(codes, mapper, reference):
    """bool (h, w): the reference frame has no reliable value, i.e. its weight in y0 is zero
    in some channel (the dark frame at or below xi_L, the bright one at or above xi_U)."""
    if reference == 'dark':
        return np.any(codes <= mapper.xi_l * mapper.code_scale, axis=2)
    return np.any(codes >= mapper.xi_u * mapper.code_scale, axis=2)


def substitute(other, reference, table, weight):
    """Replace a frame by the other frame's mapping to its exposure where ``weight`` says so.

    Args:
        other: RGB uint8/uint16 (H, W, 3), changed in place: (1 - w) other + w table[reference]
            with w = weight / 255, rounded to its codes.
        reference: RGB codes (H, W, 3) of the same dtype, the frame that is kept.
        table: float (levels, 3) IMF table from the reference's exposure to ``other``'s
            (``imf.imf_tables``), codes in [0, levels - 1].
        weight: uint8 (H, W), 0 (keep ``other``) .. 255 (take the mapping alone).
    Returns:
        other.
    """
    # Dense work inside each 64-row strip's span of set columns: masks are a few compact
    # regions, and gathering their pixels one by one (np.nonzero) took 0.5 s at 24 MP.
    table = np.asarray(table, np.float32)
    peak = np.float32(np.iinfo(other.dtype).max)
    active = np.flatnonzero(weight.any(axis=1))
    if not active.size:
        return other
    for top in range(active[0], active[-1] + 1, _STRIP_ROWS):
        rows = slice(top, min(top + _STRIP_ROWS, active[-1] + 1))
        cols = np.flatnonzero(weight[rows].any(axis=0))
        if not cols.size:
            continue
        box = (rows, slice(cols[0], cols[-1] + 1))
        w = weight[box].astype(np.float32)[..., None] * np.float32(1 / 255)
        codes = reference[box]
        mapped = np.stack([table[codes[..., c], c] for c in range(3)], axis=-1)
        kept = other[box].astype(np.float32)
        mixed = kept + w * (mapped - kept)
        other[box] = np.rint(np.clip(mixed, 0, peak, out=mixed), out=mixed).astype(other.dtype)
    return other
