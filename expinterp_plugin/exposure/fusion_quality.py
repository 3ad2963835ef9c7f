"""MEF-SSIM: quality of a multi-exposure fused image against its source exposures.

K. Ma, K. Zeng, Z. Wang, "Perceptual quality assessment for multi-exposure image fusion",
IEEE Trans. Image Processing 24(11), 2015. This module reproduces the authors' reference
implementation (mef_ssim.m) to 1e-10 on the test vector of docs/design.md, "Fusion and
MEF-SSIM", vectorised:

For every 11x11 patch position (the 'valid' region only) and each source k, with d_k the patch
minus its uniform-window mean:
    c_k = ||d_k|| + 0.001                                          contrast
    R   = ||sum_k d_k|| / sum_k ||d_k||,  p = min(tan(pi R / 2), 10)   structure consistency
    w_k = (c_k / 11)^p + eps, normalised over k
    r   = sum_k w_k d_k / c_k, rescaled to norm max_k c_k           desired patch
    q   = (2 sigma_rf + C) / (sigma_r^2 + sigma_f^2 + C),           C = (0.03 * 255)^2
with sigma_* the Gaussian-window (11x11, sigma 1.5) statistics of r and of the fused patch f
(no luminance term). The score is the mean of q; the multi-scale score is prod_l Q_l^beta_l
over 3 scales with betas [0.0448, 0.2856, 0.3001] / sum, each coarser scale a 2x2 mean.

No per-patch loop: r = sum_k a_k x_k + (a constant per position), with per-position
coefficients a_k, so sigma_r^2 = a' S a and sigma_rf = a' s_f, where S and s_f are the
Gaussian-window covariances of the sources and of sources with the fused image, and every
norm above is a quadratic form of the box-window scatter matrix of the sources.

Inputs: uint8 grey HxW or RGB HxWx3 arrays (colour is converted exactly like MATLAB's
``rgb2gray`` of uint8 data). Scores are Python floats, at most 1.
"""
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

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
# Consistency above this gives tan(pi R / 2) > 10, the cap; clamping R here first keeps the
# angle away from pi/2, where cos changes sign. The margin (tan grows by ~1.6e-10) makes the
# clamped value still reach the cap exactly after rounding.
_CONSISTENCY_CAP = math.atan(MAX_EXPONENT) * 2 / math.pi + 1e-12
# Moments are taken about mid-grey: every statistic is shift-invariant, and smaller magnitudes
# lose fewer digits when second moments become (co)variances. Box sums of the shifted 8-bit
# codes and of their 2x2 means are sums of dyadic fractions, so they stay exact in float64.
_CENTRE = 128.0
_TILE = (64, 512)
_GREY_BAND_ROWS = 32
_MAX_WORKERS = 8


def matlab_rgb2gray(rgb):
    """RGB uint8 HxWx3 -> grey uint8 HxW exactly as MATLAB ``rgb2gray`` on uint8 input.

    MATLAB weighs R, G, B with the first row of the inverse NTSC (YIQ) matrix, sums the three
    products in double and casts back to uint8 rounding halves away from zero. Here each
    product comes from a 256-entry table (the same double values), summed in the same order,
    over bands of rows held in reused buffers: ~20x faster than converting the whole image
    to float on large photos.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'rgb2gray needs an RGB uint8 HxWx3 array, got {rgb.dtype} {rgb.shape}')
    codes = np.arange(256, dtype=np.float64)
    tables = [w * codes for w in MATLAB_RGB2GRAY]
    grey = np.empty(rgb.shape[:2], dtype=np.uint8)
    band = min(_GREY_BAND_ROWS, rgb.shape[0])
    acc, part = np.empty((band, rgb.shape[1])), np.empty((band, rgb.shape[1]))
    for top in range(0, rgb.shape[0], band):
        rows = rgb[top:top + band]
        y, p = acc[:len(rows)], part[:len(rows)]
        np.take(tables[0], rows[..., 0], out=y, mode='clip')
        for c in (1, 2):
            np.take(tables[c], rows[..., c], out=p, mode='clip')
            y += p
        y += 0.5
        # the weights sum to 1 - 1e-16, so floor(y + 0.5) already lies in 0..255
        np.floor(y, out=y)
        grey[top:top + len(rows)] = y
    return grey


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
    """Validate; return the grey uint8 HxW sources (list) and fused image."""
    if len(sources) == 0:
        raise ValueError('MEF-SSIM needs at least one source exposure')
    greys = [_as_grey(s, f'source {i}') for i, s in enumerate(sources)]
    fused_grey = _as_grey(fused, 'fused image')
    for i, g in enumerate(greys):
        if g.shape != fused_grey.shape:
            raise ValueError(f'source {i} is {g.shape[0]}x{g.shape[1]} but the fused image is '
                             f'{fused_grey.shape[0]}x{fused_grey.shape[1]}')
    if min(fused_grey.shape) / 2 ** (levels - 1) < WINDOW:
        raise ValueError(f'image {fused_grey.shape[0]}x{fused_grey.shape[1]} is too small for '
                         f'{levels} scale(s): its shorter side must be at least '
                         f'{WINDOW * 2 ** (levels - 1)} pixels')
    return greys, fused_grey


def gaussian_kernel_1d(size=WINDOW, sigma=GAUSSIAN_SIGMA):
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (float64, sums to 1)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


class _TileKernel:
    """The MEF-SSIM map of fixed-size tiles, computed in buffers allocated once.

    Every intermediate is written into a preallocated array (``out=``/``dst=``): allocating
    fresh temporaries costs a page fault per 4 KiB, which on virtual machines made a
    multiplication 25x slower than the arithmetic itself.

    k sources; a tile yields ``rows`` x ``cols`` map values from (rows+10) x (cols+10) inputs.
    The filter inputs are planes stacked in one array (sources, their pairwise products, the
    fused image, source x fused products, fused squared), filtered by one OpenCV call per
    filter: with each plane carrying its own 10-pixel margin, rows that mix neighbouring
    planes fall only in the discarded margins.
    """

    def __init__(self, k, rows, cols):
        self.k, self.rows, self.cols = k, rows, cols
        self.pairs = [(i, j) for i in range(k) for j in range(i, k)]
        n_pairs = len(self.pairs)
        self.i_fused = k + n_pairs
        self.gauss = gaussian_kernel_1d()
        full = (rows + WINDOW - 1, cols + WINDOW - 1)
        self.planes = np.empty((self.i_fused + k + 2,) + full)
        self.n_box = self.i_fused  # sources and their pairwise products
        self.box_out = np.empty((self.n_box,) + full)
        self.gauss_out = np.empty_like(self.planes)
        # Statistics keep the full plane width: row slices of C-ordered planes are contiguous,
        # and numpy runs 2-3x slower on column-cropped views than the 2% of extra columns
        # (fed by OpenCV's reflected borders, finite and discarded at the end) cost.
        b = WINDOW // 2
        self.box = self.box_out[:, b:b + rows]
        self.smooth = self.gauss_out[:, b:b + rows]
        self.crop = np.s_[:, b:b + cols]

        def buffers(n):
            return np.empty((n, rows, full[1]))
        self.box_mean, self.cov_xf = buffers(k), buffers(k)
        self.norm, self.contrast, self.coef = buffers(k), buffers(k), buffers(k)
        # symmetric matrices, one plane per pair (i, j), i <= j, off-diagonal planes doubled
        self.scatter, self.cov_xx = buffers(n_pairs), buffers(n_pairs)
        (self.var_f, self.exponent, self.cos, self.numerator, self.denominator, self.tmp,
         self.row, self.var_r, self.cov_rf, self.q) = buffers(10)
        self.ones = np.ones((rows, full[1]))

    def _filter(self):
        width = self.planes.shape[2]
        cv2.boxFilter(self.planes[:self.n_box].reshape(-1, width), cv2.CV_64F, (WINDOW, WINDOW),
                      dst=self.box_out.reshape(-1, width), normalize=False,
                      borderType=cv2.BORDER_REFLECT)
        cv2.sepFilter2D(self.planes.reshape(-1, width), cv2.CV_64F, self.gauss, self.gauss,
                        dst=self.gauss_out.reshape(-1, width), borderType=cv2.BORDER_REFLECT)

    def _covariance(self, product, mean_a, mean_b, out):
        """out = product - mean_a * mean_b."""
        np.multiply(mean_a, mean_b, out=self.tmp)
        np.subtract(product, self.tmp, out=out)

    def _quadratic_form(self, coeffs, matrix, out):
        """out = sum_ij c_i c_j M_ij over the (i <= j, off-diagonal doubled) ``matrix``."""
        out.fill(0.0)
        for i in range(self.k):
            np.multiply(matrix[self.pairs.index((i, i))], coeffs[i], out=self.row)
            for j in range(i + 1, self.k):
                np.multiply(matrix[self.pairs.index((i, j))], coeffs[j], out=self.tmp)
                self.row += self.tmp
            self.row *= coeffs[i]
            out += self.row

    def _moments(self):
        """Box-window scatter and Gaussian-window (co)variances of the sources and fused image."""
        k, box, smooth = self.k, self.box, self.smooth
        x, f = self.planes[:k], self.planes[self.i_fused]
        for p, (i, j) in enumerate(self.pairs):
            np.multiply(x[i], x[j], out=self.planes[k + p])
        for i in range(k):
            np.multiply(x[i], f, out=self.planes[self.i_fused + 1 + i])
        np.multiply(f, f, out=self.planes[-1])
        self._filter()

        np.multiply(box[:k], 1.0 / (WINDOW * WINDOW), out=self.box_mean)
        g_f = smooth[self.i_fused]
        for p, (i, j) in enumerate(self.pairs):
            self._covariance(box[k + p], box[i], self.box_mean[j], self.scatter[p])
            self._covariance(smooth[k + p], smooth[i], smooth[j], self.cov_xx[p])
            if i != j:
                self.scatter[p] *= 2.0
                self.cov_xx[p] *= 2.0
        for i in range(k):
            self._covariance(smooth[self.i_fused + 1 + i], smooth[i], g_f, self.cov_xf[i])
        self._covariance(smooth[-1], g_f, g_f, self.var_f)

    def _structure_coefficients(self):
        """self.coef[k] = a_k, the weight of source k in the desired patch r (Ma et al. 2015).

        The reference normalises the weights w_k to sum 1 before rescaling r to norm
        max_k c_k; that rescaling makes the normalisation cancel, so it is skipped.
        """
        for i in range(self.k):
            np.maximum(self.scatter[self.pairs.index((i, i))], 0.0, out=self.norm[i])
        np.sqrt(self.norm, out=self.norm)
        np.add(self.norm, CONTRAST_EPS, out=self.contrast)

        # ||sum_k d_k||^2 is the sum of all scatter entries (off-diagonals stored doubled)
        consistency = self.numerator
        np.sum(self.scatter, axis=0, out=consistency)
        np.maximum(consistency, 0.0, out=consistency)
        np.sqrt(consistency, out=consistency)
        consistency += _EPS
        np.sum(self.norm, axis=0, out=self.denominator)
        self.denominator += _EPS
        consistency /= self.denominator
        np.minimum(consistency, _CONSISTENCY_CAP, out=consistency)
        consistency *= math.pi / 2
        # an explicit unit magnitude: with none, OpenCV takes a float32-accurate path (6e-7)
        cv2.polarToCart(self.ones, consistency, x=self.cos, y=self.exponent)
        self.exponent /= self.cos
        np.minimum(self.exponent, MAX_EXPONENT, out=self.exponent)

        for i in range(self.k):
            np.multiply(self.contrast[i], 1.0 / WINDOW, out=self.tmp)
            cv2.log(self.tmp, dst=self.tmp)
            self.tmp *= self.exponent
            cv2.exp(self.tmp, dst=self.coef[i])
            self.coef[i] += _EPS
        self.coef /= self.contrast

        norm_r = self.numerator
        self._quadratic_form(self.coef, self.scatter, norm_r)
        np.maximum(norm_r, 0.0, out=norm_r)
        np.sqrt(norm_r, out=norm_r)
        # The reference rescales r only where it is non-zero; a zero r (all patches flat) stays.
        scale = self.tmp
        scale.fill(1.0)
        np.max(self.contrast, axis=0, out=self.denominator)
        np.divide(self.denominator, norm_r, out=scale, where=norm_r > 0)
        self.coef *= scale

    def quality(self, sources, fused, top, left):
        """Map values for the tile whose first output is (top, left); a view of a buffer.

        sources: list of k HxW arrays (uint8 or float64 codes), fused: HxW, same kind.
        """
        window = np.s_[top:top + self.rows + WINDOW - 1, left:left + self.cols + WINDOW - 1]
        for i, src in enumerate(sources):
            np.subtract(src[window], _CENTRE, out=self.planes[i])
        np.subtract(fused[window], _CENTRE, out=self.planes[self.i_fused])
        self._moments()
        self._structure_coefficients()
        c = (K_CONTRAST * 255.0) ** 2
        self._quadratic_form(self.coef, self.cov_xx, self.var_r)
        np.multiply(self.coef[0], self.cov_xf[0], out=self.cov_rf)
        for i in range(1, self.k):
            np.multiply(self.coef[i], self.cov_xf[i], out=self.tmp)
            self.cov_rf += self.tmp
        np.multiply(self.cov_rf, 2.0, out=self.q)
        self.q += c
        self.var_r += self.var_f
        self.var_r += c
        self.q /= self.var_r
        return self.q[self.crop]


def _tile_starts(size, tile):
    """Tile origins covering 0..size-1; the last tile is moved back to end exactly at size."""
    starts = list(range(0, size - tile + 1, tile))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def _worker_count():
    return max(1, min(_MAX_WORKERS, os.cpu_count() or 1))


def _quality_map(sources, fused):
    """Single-scale MEF-SSIM map: k HxW arrays (uint8 or float64 codes) -> (H-10)x(W-10).

    Tiles run on a thread pool (numpy and OpenCV release the GIL), one buffer set per thread.
    """
    rows, cols = (n - WINDOW + 1 for n in fused.shape)
    tile_rows, tile_cols = min(_TILE[0], rows), min(_TILE[1], cols)
    qmap = np.empty((rows, cols))
    local = threading.local()

    def run(origin):
        if not hasattr(local, 'kernel'):
            local.kernel = _TileKernel(len(sources), tile_rows, tile_cols)
        top, left = origin
        # tiles moved back at the edges overlap their neighbours; they write identical values
        qmap[top:top + tile_rows, left:left + tile_cols] = local.kernel.quality(
            sources, fused, top, left)

    origins = [(top, left) for top in _tile_starts(rows, tile_rows)
               for left in _tile_starts(cols, tile_cols)]
    workers = min(_worker_count(), len(origins))
    if workers == 1:
        for origin in origins:
            run(origin)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(run, origins):
                pass
    return qmap


def downsample2(img):
    """2x2 mean then every second sample, as MATLAB imfilter(ones(2)/4, 'symmetric', 'same').

    img: HxW uint8 or float64 codes -> ceil(H/2) x ceil(W/2) float64 (exact: multiples of
    1/4 of the inputs). An odd last row/column is mirrored, i.e. averaged with itself.
    """
    img = np.asarray(img)
    h, w = img.shape
    if h % 2 or w % 2:
        img = np.pad(img, ((0, h % 2), (0, w % 2)), mode='symmetric')
    # four uint8 codes sum exactly in uint16, at a quarter of float64's memory traffic
    total = img[0::2, 0::2].astype(np.uint16 if img.dtype == np.uint8 else np.float64)
    total += img[1::2, 0::2]
    total += img[0::2, 1::2]
    total += img[1::2, 1::2]
    return total * 0.25


def mef_ssim_map(sources, fused):
    """Single-scale MEF-SSIM quality map.

    sources: list of K uint8 grey HxW or RGB HxWx3 arrays (the exposures); fused: same size.
    Returns float64 (H-10)x(W-10), values at most 1; its mean is the single-scale score.
    """
    greys, fused_grey = _prepare(sources, fused, 1)
    return _quality_map(greys, fused_grey)


def mef_ssim_scales(sources, fused, levels=3):
    """Per-scale MEF-SSIM scores, finest first: list of ``levels`` floats.

    Same inputs as ``mef_ssim``; the shorter image side must be at least 11 * 2^(levels-1).
    """
    greys, fused_grey = _prepare(sources, fused, levels)
    scores = []
    for level in range(levels):
        if level:
            greys, fused_grey = [downsample2(g) for g in greys], downsample2(fused_grey)
        scores.append(float(_quality_map(greys, fused_grey).mean()))
    return scores


def mef_ssim(sources, fused, multiscale=True):
    """MEF-SSIM score (Ma, Zeng, Wang, TIP 2015) of ``fused`` against the source ``sources``.

    sources: list of K >= 1 uint8 arrays, grey HxW or RGB HxWx3, any exposure order;
    fused: uint8 grey or RGB array of the same HxW. RGB is converted like MATLAB rgb2gray.
    multiscale=True: product over 3 scales of Q_l^beta_l (betas 0.0448, 0.2856, 0.3001,
    normalised); needs min(H, W) >= 44. A negative Q_l (structure anti-correlated with the
    sources on average) counts as 0 there: the reference raises it to a fractional power and
    returns a complex number. multiscale=False: the finest-scale mean, which may be negative
    (min side 11). Returns a float, at most 1 (1 = the desired local structure everywhere).
    """
    if not multiscale:
        return mef_ssim_scales(sources, fused, levels=1)[0]
    scores = mef_ssim_scales(sources, fused, levels=len(SCALE_WEIGHTS))
    betas = np.asarray(SCALE_WEIGHTS) / sum(SCALE_WEIGHTS)
    return float(np.prod(np.maximum(scores, 0.0) ** betas))
