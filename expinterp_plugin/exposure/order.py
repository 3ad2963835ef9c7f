"""Brightness-order consistency: how often a fused image reverses the scene's radiance order.

Plain two-image exposure fusion renders a shadow taken from the bright frame at mid-grey and a
highlight taken from the dark frame at mid-grey too; when the shadow ends up *brighter* than the
highlight the fused image reverses the scene's brightness order, the artefact that an
interpolated middle exposure is meant to remove. MEF-SSIM (Ma, Zeng, Wang, TIP 2015) compares
local structure only and does not see it. This module measures it:

1. Log-radiance from the pair: per pixel, the bright input where none of its channels is
   saturated (it is the less noisy one), else the dark input; linear radiance
   ``sum_c w_c exp(g_c(z_c)) / t`` (w = MATLAB rgb2gray weights, the grey that MEF-SSIM and the
   fused luminance below use), in EV (log2). Pixels with no estimate are *censored*, not
   dropped: saturated in both -> +inf (brighter than anything measured), near black in the
   bright one -> -inf. A dark-sourced pixel is clamped to at least the bright frame's saturation
   radiance, which it is known to exceed: the order of a dark-sourced and a bright-sourced pixel
   then never depends on the (possibly estimated) exposure ratio. A pixel where the dark
   input is brighter than the bright one (by more than ``MISMATCH`` codes in some channel) is
   impossible in a static scene: camera or object motion, or a moving scan border; it is NaN.
2. Blocks of ``block`` x ``block`` pixels (default 1/32 of the shorter side), each summarised by
   the *lower median* of its log-radiance and of its fused grey code. The median of a set
   commutes with any non-decreasing map, so a global monotone tone curve of the radiance scores
   exactly zero, which block means do not guarantee (a block half black, half white has a mean
   on any side of a uniform grey block, depending on the curve). A block whose median pixel is
   censored (more than half its pixels saturated in both frames, or black in both) has an
   infinite median and is skipped as unreliable; fewer censored pixels do not move the median.
   NaN pixels are left out of both medians; a block with more than ``MAX_MISMATCH`` of them
   is skipped (misaligned content would make the reference itself wrong there).
3. Every pair of reliable blocks whose radiance differs by at least ``min_ev`` EV: it is
   *reversed* when the brighter block's fused median is more than ``tolerance`` 8-bit codes
   below the darker one's. Equal fused values (tone compression, clipping) do not count.

Returned fractions: reversed pairs / compared pairs, and the same weighted by each pair's EV
difference (a reversed 6-EV pair weighs six times a 1-EV one). Pairs are all compared, in
chunks of rows of the pair matrix (no sampling: about 1500 blocks at 1/32, 1.1 M pairs).
"""
from dataclasses import dataclass

import numpy as np

from expinterp_plugin.exposure.fusion_quality import MATLAB_RGB2GRAY

#: Blocks per shorter image side (the block side is the shorter side / this, at least 4 px).
BLOCKS_PER_SIDE = 32
MIN_BLOCK = 4
#: Block pairs at least this many EV apart are compared.
MIN_EV = 1.0
#: A reversal must exceed this many 8-bit codes of the fused grey.
TOLERANCE = 3.0
#: 8-bit codes: a bright pixel with any channel at or above SATURATED is not used; a bright
#: pixel whose every channel is at or below BLACK has no measurable radiance.
SATURATED = 250
BLACK = 5
#: A pixel whose dark code exceeds its bright code by more than this (8-bit codes, any channel)
#: cannot come from a static scene; blocks with more than MAX_MISMATCH such pixels are skipped.
MISMATCH = 16
MAX_MISMATCH = 0.05
_CHUNK = 512


@dataclass
class OrderResult:
    """Order consistency of one fused image.

    fraction: reversed / compared pairs (0 = order kept everywhere); weighted: the same with
    each pair weighted by its EV difference; pairs, reversed: counts; blocks, reliable: block
    counts; block: block side (px); block_map: float64 (rows, cols) per-block fraction of its
    compared pairs that are reversed (NaN where a block is unreliable or has none).
    """
    fraction: float
    weighted: float
    pairs: int
    reversed: int
    blocks: int
    reliable: int
    block: int
    block_map: np.ndarray

    def summary(self):
        """The scalar fields as a JSON-ready dict."""
        return {'fraction': self.fraction, 'weighted': self.weighted, 'pairs': self.pairs,
                'reversed': self.reversed, 'blocks': self.blocks, 'reliable': self.reliable,
                'block': self.block}


def _grey_weights():
    return np.asarray(MATLAB_RGB2GRAY, np.float64)


def log_radiance(dark, bright, crf, t_dark, t_bright, saturated=SATURATED, black=BLACK,
                 mismatch=MISMATCH):
    """Per-pixel log2 radiance (EV) of a scene from its dark and bright exposures.

    dark, bright: RGB uint8/uint16 (H, W, 3) of one scene; crf: a ``CRF`` with their bit depth
    and channel order; t_dark < t_bright: exposure times or any pair with their ratio.
    saturated, black, mismatch: thresholds on the 8-bit scale (x 257 for 16 bit).
    Returns float64 (H, W): log2 of the rgb2gray-weighted linear radiance, +inf where both
    inputs are saturated, -inf where the bright input is black (censored, see module doc), NaN
    where the dark input is brighter than the bright one by more than ``mismatch``.
    """
    dark, bright = np.asarray(dark), np.asarray(bright)
    if dark.shape != bright.shape or dark.ndim != 3 or dark.shape[2] != 3:
        raise ValueError(f'dark {dark.shape} and bright {bright.shape} must be one (H, W, 3) size')
    if dark.dtype != bright.dtype or crf.levels != np.iinfo(dark.dtype).max + 1:
        raise ValueError(f'a {crf.levels}-level CRF cannot map {dark.dtype}/{bright.dtype} images')
    if not 0 < t_dark < t_bright:
        raise ValueError(f'need 0 < t_dark < t_bright, got {t_dark}, {t_bright}')
    scale = crf.max_code / 255.0
    linear = np.exp(crf.g) * _grey_weights()  # (levels, 3): weighted F^-1 per code and channel

    def radiance(img, t):
        out = linear[img[..., 0], 0] + linear[img[..., 1], 1]
        out += linear[img[..., 2], 2]
        return out / t

    top_bright = bright.max(axis=2)
    from_dark = top_bright >= saturated * scale
    log_e = np.log2(radiance(bright, t_bright))
    # the lowest radiance that saturates the bright frame: a lower bound where it saturated
    floor = np.log2(np.exp(crf.g[int(np.ceil(saturated * scale))]) @ _grey_weights() / t_bright)
    log_e[from_dark] = np.maximum(np.log2(radiance(dark[from_dark], t_dark)), floor)
    log_e[from_dark & (dark.max(axis=2) >= saturated * scale)] = np.inf
    log_e[top_bright <= black * scale] = -np.inf
    excess = dark.astype(np.int32) - bright
    log_e[excess.max(axis=2) > mismatch * scale] = np.nan
    return log_e


def fused_grey(fused):
    """RGB uint8/uint16 (H, W, 3) fused image -> float64 (H, W) grey on the 8-bit scale.

    The rgb2gray weights unrounded (the block medians need no integer codes).
    """
    fused = np.asarray(fused)
    if fused.ndim != 3 or fused.shape[2] != 3 or fused.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'fused image: need RGB uint8/uint16 (H, W, 3), got {fused.dtype} '
                         f'{fused.shape}')
    return fused @ _grey_weights() * (255.0 / np.iinfo(fused.dtype).max)


def block_side(shape, blocks_per_side=BLOCKS_PER_SIDE):
    """Block side in pixels for an (H, W, ...) image: min(H, W) / blocks_per_side, >= 4."""
    return max(MIN_BLOCK, int(round(min(shape[:2]) / blocks_per_side)))


def block_lower_medians(values, block, max_missing=MAX_MISMATCH):
    """Lower median of the non-NaN values of each whole ``block`` x ``block`` tile.

    values: float (H, W), NaN = missing. Returns (H // block, W // block) float64, NaN where more
    than ``max_missing`` of a tile is missing; the last partial row/column of tiles is dropped.
    The lower median (order statistic (n - 1) // 2 of the n values) commutes with
    non-decreasing maps.
    """
    rows, cols = values.shape[0] // block, values.shape[1] // block
    if rows == 0 or cols == 0:
        raise ValueError(f'image {values.shape[0]}x{values.shape[1]} is smaller than one '
                         f'{block}-pixel block')
    tiles = values[:rows * block, :cols * block].reshape(rows, block, cols, block)
    tiles = np.sort(tiles.swapaxes(1, 2).reshape(rows, cols, block * block), axis=2)  # NaN last
    present = block * block - np.isnan(tiles).sum(axis=2)
    medians = np.take_along_axis(tiles, np.maximum(present - 1, 0)[..., None] // 2, axis=2)[..., 0]
    medians[present < (1.0 - max_missing) * block * block] = np.nan
    return medians


def compare_blocks(log_e, grey, min_ev=MIN_EV, tolerance=TOLERANCE):
    """Pairwise order test of block summaries.

    log_e: float64 (n,) finite block log2 radiances; grey: float64 (n,) fused block greys.
    Returns (pairs, reversed, ev_compared, ev_reversed, per_block_pairs, per_block_reversed):
    pair counts, EV-weighted sums, and per-block counts (each pair counts for both blocks).
    """
    n = len(log_e)
    totals = np.zeros(4)
    block_pairs, block_reversed = np.zeros(n), np.zeros(n)
    for start in range(0, n, _CHUNK):
        rows = slice(start, start + _CHUNK)
        # ev[i, j] > 0: block j brighter than block i by that many EV
        ev = log_e[None, :] - log_e[rows, None]
        compared = ev >= min_ev
        reversed_ = compared & (grey[None, :] < grey[rows, None] - tolerance)
        totals += (compared.sum(), reversed_.sum(), ev[compared].sum(), ev[reversed_].sum())
        block_pairs[rows] += compared.sum(axis=1)
        block_pairs += compared.sum(axis=0)
        block_reversed[rows] += reversed_.sum(axis=1)
        block_reversed += reversed_.sum(axis=0)
    return (int(totals[0]), int(totals[1]), totals[2], totals[3], block_pairs, block_reversed)


def order_consistency(log_e, fused, block=None, min_ev=MIN_EV, tolerance=TOLERANCE):
    """Brightness-order consistency of ``fused`` against the scene log-radiance ``log_e``.

    log_e: float64 (H, W) from ``log_radiance`` (+-inf censored, NaN mismatched); fused:
    RGB uint8/uint16 (H, W, 3), the fused image of the same scene; block: block side (px), default
    ``block_side``; min_ev: compare block pairs at least this many EV apart; tolerance: a
    reversal must exceed this many 8-bit codes. Returns an ``OrderResult`` (fraction 0 when no
    pair can be compared).
    """
    grey = fused_grey(fused)
    if grey.shape != log_e.shape:
        raise ValueError(f'fused image is {grey.shape[1]}x{grey.shape[0]} but the radiance map is '
                         f'{log_e.shape[1]}x{log_e.shape[0]}')
    if min_ev <= 0 or tolerance < 0:
        raise ValueError(f'need min_ev > 0 and tolerance >= 0, got {min_ev}, {tolerance}')
    block = block_side(log_e.shape) if block is None else int(block)
    if block < 1:
        raise ValueError(f'block side must be at least 1 pixel, got {block}')
    grey[np.isnan(log_e)] = np.nan
    radiance = block_lower_medians(log_e, block)
    rendered = block_lower_medians(grey, block)
    reliable = np.isfinite(radiance)
    pairs, reversed_, ev_all, ev_rev, per_pairs, per_rev = compare_blocks(
        radiance[reliable], rendered[reliable], min_ev, tolerance)
    block_map = np.full(radiance.shape, np.nan)
    with np.errstate(invalid='ignore', divide='ignore'):
        block_map[reliable] = np.where(per_pairs > 0, per_rev / per_pairs, np.nan)
    return OrderResult(fraction=reversed_ / pairs if pairs else 0.0,
                       weighted=float(ev_rev / ev_all) if pairs else 0.0,
                       pairs=pairs, reversed=reversed_, blocks=radiance.size,
                       reliable=int(reliable.sum()), block=block, block_map=block_map)

