"""MEF-SSIM: quality of a multi-exposure fused image against its source exposures.

K. Ma, K. Zeng, Z. Wang, "Perceptual quality assessment for multi-exposure image fusion",
IEEE Trans. Image Processing 24(11), 2015. This module reproduces the authors' reference
implementation (mef_ssim.m) to 1e-9 on DESIGN.md section 6's test vector, vectorised:

For every 11x11 patch position (the 'valid' region only) and each source k, with d_k the patch
minus its uniform-window mean mu_k:
    c_k = ||d_k|| + 0.001                                   contrast
    R   = ||sum_k d_k|| / sum_k ||d_k||,  p = min(tan(pi R / 2), 10)   structure consistency
    w_k = (c_k / 11)^p + eps, normalised over k
    r   = sum_k w_k d_k / c_k, rescaled to norm max_k c_k    desired patch (zero-mean)
    q   = (2 sigma_rf + C) / (sigma_r^2 + sigma_f^2 + C),    C = (0.03 * 255)^2
with sigma_* the Gaussian-window (11x11, sigma 1.5) statistics of r and of the fused patch f.
The score is the mean of q; the multi-scale score is prod_l Q_l^beta_l over 3 scales with
betas [0.0448, 0.2856, 0.3001] / sum, each coarser scale a 2x2 mean (odd edges mirrored).

Because r is a per-position linear combination of the source patches, every statistic above is
a combination of box/Gaussian filtered products of the inputs, so no per-patch loop is needed:
with a_k the final coefficient of source k, mu_r = sum_k a_k (G x_k - mu_k), and
E[r^2] = sum_kl a_k a_l (G x_k x_l - mu_k G x_l - mu_l G x_k + mu_k mu_l), E[r f] likewise.

Inputs: uint8 grey HxW or RGB HxWx3 arrays (colour is converted exactly like MATLAB's
``rgb2gray`` of uint8 data). Scores are Python floats, at most 1.
"""
import math

import cv2
import numpy as np

MATLAB_RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)
SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001)
WINDOW = 11
GAUSSIAN_SIGMA = 1.5
K_CONTRAST = 0.03
CONTRAST_EPS = 0.001
MAX_EXPONENT = 10.0
_EPS = np.finfo(np.float64).eps
# Moments are taken about mid-grey: every statistic is shift-invariant, and smaller magnitudes
# lose fewer digits when second moments are turned into (co)variances. Box sums of the shifted
# 8-bit codes (and of their 2x2 means) stay exact in float64.
_CENTRE = 128.0
_TILE_ROWS = 64
_TILE_COLS = 1024


def matlab_rgb2gray(rgb):
    """RGB uint8 HxWx3 -> grey uint8 HxW exactly as MATLAB ``rgb2gray`` on uint8 input.

    MATLAB weighs R, G, B with the first row of the inverse NTSC (YIQ) matrix, accumulates in
    double and casts back to uint8 rounding halves away from zero.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'rgb2gray needs an RGB uint8 HxWx3 array, got {rgb.dtype} {rgb.shape}')
    wr, wg, wb = MATLAB_RGB2GRAY
    rgb = rgb.astype(np.float64)
    y = wr * rgb[..., 0] + wg * rgb[..., 1] + wb * rgb[..., 2]
    return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)


def _as_grey(img, what):
    """uint8 grey HxW or RGB HxWx3 -> grey uint8 HxW; ValueError naming ``what`` otherwise."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError(f'{what}: MEF-SSIM is defined on 8-bit images, got dtype {img.dtype}')
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 3:
        return matlab_rgb2gray(img)
    raise ValueError(f'{what}: expected a grey HxW or RGB HxWx3 image, got shape {img.shape}')


def _prepare(sources, fused, levels):
    """Validate and convert to float64 grey arrays shifted by -128: (K, H, W) and (H, W)."""
    if len(sources) == 0:
        raise ValueError('MEF-SSIM needs at least one source exposure')
    greys = [_as_grey(s, f'source {i}') for i, s in enumerate(sources)]
    fused_grey = _as_grey(fused, 'fused image')
    for i, g in enumerate(greys):
        if g.shape != fused_grey.shape:
            raise ValueError(f'source {i} is {g.shape[0]}x{g.shape[1]} but the fused image is '
                             f'{fused_grey.shape[0]}x{fused_grey.shape[1]}')
    smallest = min(fused_grey.shape) / 2 ** (levels - 1)
    if smallest < WINDOW:
        raise ValueError(f'image {fused_grey.shape[0]}x{fused_grey.shape[1]} is too small for '
                         f'{levels} scale(s): the coarsest side must be at least {WINDOW} pixels')
    seq = np.stack(greys).astype(np.float64) - _CENTRE
    return seq, fused_grey.astype(np.float64) - _CENTRE


def gaussian_kernel_1d(size=WINDOW, sigma=GAUSSIAN_SIGMA):
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (float64, sums to 1)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def _valid(img):
    """Crop a 'same'-size filter result to the positions where the window fits (MATLAB 'valid')."""
    b = WINDOW // 2
    return img[b:img.shape[0] - b, b:img.shape[1] - b]


def _box_sum(img):
    return _valid(cv2.boxFilter(img, cv2.CV_64F, (WINDOW, WINDOW), normalize=False,
                                borderType=cv2.BORDER_REFLECT))


def _gauss(img, g):
    return _valid(cv2.sepFilter2D(img, cv2.CV_64F, g, g, borderType=cv2.BORDER_REFLECT))


def _tan(angle):
    """tan of a float64 array; OpenCV's vectorised sin/cos are within 1e-15 and 2x faster."""
    cos, sin = cv2.polarToCart(None, angle)
    return sin / cos


def _quadratic_form(coeffs, matrix):
    """sum_ij c_i c_j M_ij per pixel, for a symmetric ``matrix`` keyed by (i, j) with i <= j."""
    twice = [2.0 * c for c in coeffs]
    total = 0.0
    for i, ci in enumerate(coeffs):
        row = matrix[i, i] * ci
        for j in range(i + 1, len(coeffs)):
            row += twice[j] * matrix[i, j]
        row *= ci
        total = total + row
    return total


def _scatter_matrix(seq, products):
    """Box-window scatter sum_patch d_i d_j for all source pairs i <= j, d = patch - its mean.

    seq: (K, h, w) float64; products: {(i, j): seq[i] * seq[j]} -> {(i, j): (h-10, w-10)
    float64}. Exact for 8-bit-derived inputs: box sums of dyadic fractions are exact and only
    one rounding follows.
    """
    n = float(WINDOW * WINDOW)
    sums = [_box_sum(x) for x in seq]
    means = [s / n for s in sums]
    return {(i, j): _box_sum(xx) - sums[i] * means[j] for (i, j), xx in products.items()}


def _structure_coefficients(seq, products):
    """Per-position coefficients a_k of the desired patch r = sum_k a_k d_k (Ma et al. 2015).

    seq: (K, h, w) float64, products as for ``_scatter_matrix`` -> list of K (h-10, w-10)
    float64 arrays. r combines the normalised
    source structures d_k / c_k with weights (c_k / 11)^p, p = min(tan(pi R / 2), 10) from the
    structure consistency R, and is scaled to the largest source contrast max_k c_k.
    """
    scatter = _scatter_matrix(seq, products)
    k = len(seq)
    norms = [np.sqrt(np.maximum(scatter[i, i], 0.0)) for i in range(k)]
    contrast = [nk + CONTRAST_EPS for nk in norms]

    ones = [1.0] * k
    consistency = ((np.sqrt(np.maximum(_quadratic_form(ones, scatter), 0.0)) + _EPS)
                   / (sum(norms) + _EPS))
    consistency[consistency > 1] = 1 - _EPS
    consistency[consistency < 0] = _EPS
    exponent = np.minimum(_tan(math.pi / 2 * consistency), MAX_EXPONENT)

    weights = [cv2.exp(exponent * cv2.log(c * (1.0 / WINDOW))) + _EPS for c in contrast]
    total = sum(weights)
    b = [w / (total * c) for w, c in zip(weights, contrast)]
    r_norm2 = _quadratic_form(b, scatter)
    # The reference rescales r only where it is non-zero; a zero r (all patches flat) stays zero.
    positive = r_norm2 > 0
    scale = np.ones_like(r_norm2)
    scale[positive] = np.maximum.reduce(contrast)[positive] / np.sqrt(r_norm2[positive])
    return [bk * scale for bk in b]


def _quality_map(seq, fused):
    """MEF-SSIM map of one scale for a block: (K, h, w), (h, w) float64 -> (h-10, w-10).

    r = sum_k a_k x_k + (a constant per position), so its Gaussian-window variance and its
    covariance with f are a' S a and a' s_f, with S, s_f the Gaussian-window covariances
    of the sources and of the sources with the fused image.
    """
    g = gaussian_kernel_1d()
    k = len(seq)
    products = {(i, j): seq[i] * seq[j] for i in range(k) for j in range(i, k)}
    a = _structure_coefficients(seq, products)
    g_x = [_gauss(x, g) for x in seq]
    g_f = _gauss(fused, g)
    covariance = {(i, j): _gauss(xx, g) - g_x[i] * g_x[j] for (i, j), xx in products.items()}
    var_r = _quadratic_form(a, covariance)
    cov_rf = sum(ai * (_gauss(x * fused, g) - gx * g_f) for ai, x, gx in zip(a, seq, g_x))
    var_f = _gauss(fused * fused, g) - g_f * g_f
    c = (K_CONTRAST * 255.0) ** 2
    return (2.0 * cov_rf + c) / (var_r + var_f + c)


def _quality_map_tiled(seq, fused):
    """``_quality_map`` over the whole image in cache-sized tiles (each with a 10-pixel halo)."""
    rows, cols = (n - WINDOW + 1 for n in fused.shape)
    qmap = np.empty((rows, cols))
    for top in range(0, rows, _TILE_ROWS):
        bottom = min(top + _TILE_ROWS, rows)
        for left in range(0, cols, _TILE_COLS):
            right = min(left + _TILE_COLS, cols)
            window = np.s_[top:bottom + WINDOW - 1, left:right + WINDOW - 1]
            qmap[top:bottom, left:right] = _quality_map(seq[(slice(None),) + window],
                                                        fused[window])
    return qmap


def downsample2(img):
    """2x2 mean then every second sample, as MATLAB imfilter(ones(2)/4, 'symmetric', 'same').

    img: (..., H, W) float64 -> (..., ceil(H/2), ceil(W/2)) float64. An odd last row/column is
    mirrored, i.e. averaged with itself.
    """
    h, w = img.shape[-2:]
    pad = [(0, 0)] * (img.ndim - 2) + [(0, h % 2), (0, w % 2)]
    img = np.pad(img, pad, mode='symmetric')
    return 0.25 * (img[..., 0::2, 0::2] + img[..., 1::2, 0::2]
                   + img[..., 0::2, 1::2] + img[..., 1::2, 1::2])


def mef_ssim_map(sources, fused):
    """Single-scale MEF-SSIM quality map.

    sources: list of K uint8 grey HxW or RGB HxWx3 arrays (the exposures); fused: same size.
    Returns float64 (H-10)x(W-10), values at most 1; its mean is the single-scale score.
    """
    seq, f = _prepare(sources, fused, 1)
    return _quality_map_tiled(seq, f)


def mef_ssim_scales(sources, fused, levels=3):
    """Per-scale MEF-SSIM scores, finest first: list of ``levels`` floats.

    Same inputs as ``mef_ssim``; each image side must be at least 11 * 2^(levels-1) pixels.
    """
    seq, f = _prepare(sources, fused, levels)
    scores = []
    for level in range(levels):
        if level:
            seq, f = downsample2(seq), downsample2(f)
        scores.append(float(_quality_map_tiled(seq, f).mean()))
    return scores


def mef_ssim(sources, fused, multiscale=True):
    """MEF-SSIM score (Ma, Zeng, Wang, TIP 2015) of ``fused`` against the source ``sources``.

    sources: list of K >= 1 uint8 arrays, grey HxW or RGB HxWx3, any exposure order;
    fused: uint8 grey or RGB array of the same HxW. RGB is converted like MATLAB rgb2gray.
    multiscale=True: product over 3 scales of Q_l^beta_l (betas 0.0448, 0.2856, 0.3001,
    normalised); needs min(H, W) >= 44. multiscale=False: the finest-scale mean (min side 11).
    Returns a float, at most 1 (1 = the fused image has the desired local structure everywhere).
    """
    if not multiscale:
        return mef_ssim_scales(sources, fused, levels=1)[0]
    scores = mef_ssim_scales(sources, fused, levels=len(SCALE_WEIGHTS))
    betas = np.asarray(SCALE_WEIGHTS) / sum(SCALE_WEIGHTS)
    return float(np.prod(np.asarray(scores) ** betas))
