"""Intensity mapping functions (IMF): code at one exposure -> code at another.

``L(z) = F(k * F^-1(z))`` with exposure ratio ``k = t_target / t_source`` (Zheng, Li, Wu,
"Exposure interpolation by combining model-driven and data-driven methods", eq. 4). Every IMF
here is a lookup table of shape (levels, 3), float64 codes in [0, levels - 1], non-decreasing.
"""
import warnings

import cv2
import numpy as np

IMF_METHODS = ('linear', 'sigmoid')


def imf_table(crf, ratio, method='linear'):
    """IMF table for exposure ratio ``ratio`` (target time / source time).

    ``method='linear'`` (the proposed method, paper Sec. II-B) evaluates F between the table's
    known points by linear interpolation in log irradiance, clamped at the ends (the convention of
    the authors' follow-up code, ``g^-1(g(z) + ln k)``). ``method='sigmoid'`` is the older baseline:
    a double-sigmoid fit of F (paper eq. 5) evaluated at ``k E``.
    """
    if not ratio > 0:
        raise ValueError(f'exposure ratio must be positive, got {ratio}')
    return imf_tables(crf, [ratio], method)[0]


def imf_tables(crf, ratios, method='linear'):
    """IMF tables for several ratios (one double-sigmoid fit serves them all)."""
    if any(not r > 0 for r in ratios):
        raise ValueError(f'exposure ratios must be positive, got {list(ratios)}')
    if method == 'linear':
        return [linear_imf_table(crf, r) for r in ratios]
    if method == 'sigmoid':
        return sigmoid_imf_tables(crf, ratios)
    raise ValueError(f'unknown IMF method {method!r}; choose from {", ".join(IMF_METHODS)}')


def linear_imf_table(crf, ratio):
    codes = np.arange(crf.levels, dtype=np.float64)
    shift = np.log(ratio)
    return np.stack([np.interp(crf.g[:, c] + shift, crf.g[:, c], codes) for c in range(3)], axis=1)


def double_sigmoid(e, k1, k2, k3, k4, k5, k6):
    """z = k1 / (1 + exp(k2 + k3 E)) + k4 / (1 + exp(k5 + k6 E))  (paper eq. 5)."""
    return k1 / (1 + np.exp(np.clip(k2 + k3 * e, -60, 60))) + \
        k4 / (1 + np.exp(np.clip(k5 + k6 * e, -60, 60)))


class SigmoidFitError(RuntimeError):
    """The double-sigmoid CRF model could not be fitted to a CRF table."""


def fit_double_sigmoid(e, z):
    """Least-squares double-sigmoid fit of codes ``z`` (0..1) against irradiance ``e`` (0..1).

    The fit is non-convex, so it starts from several placements of the two sigmoids' centres
    at irradiances where the response reaches given code fractions (scale-free initialisation)
    and keeps the best converged fit. Raises SigmoidFitError when none converges.
    """
    # scipy.optimize costs 0.3 s to import: only the sigmoid baseline needs it here.
    from scipy.optimize import OptimizeWarning, curve_fit
    best, best_err = None, np.inf
    for z_lo, z_hi, steep in [(0.2, 0.7, 4.0), (0.1, 0.5, 3.0), (0.3, 0.85, 6.0), (0.15, 0.6, 2.0)]:
        e_lo, e_hi = np.interp([z_lo, z_hi], z, e)
        p0 = [0.5, steep, -steep / e_lo, 0.5, steep, -steep / e_hi]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', OptimizeWarning)
                params, _ = curve_fit(double_sigmoid, e, z, p0=p0, maxfev=4000)
        except RuntimeError:
            continue
        err = np.mean((double_sigmoid(e, *params) - z)**2)
        if np.isfinite(err) and err < best_err:
            best, best_err = params, err
    if best is None:
        raise SigmoidFitError('double-sigmoid CRF fit did not converge from any initialisation')
    return best


def sigmoid_imf_tables(crf, ratios):
    """Double-sigmoid IMF tables for several ratios from one fit per channel."""
    codes = np.arange(crf.levels, dtype=np.float64)
    scale = crf.max_code
    tables = [np.empty((crf.levels, 3)) for _ in ratios]
    for c in range(3):
        e = np.exp(crf.g[:, c] - crf.g[-1, c])
        params = fit_double_sigmoid(e, codes / scale)
        for table, ratio in zip(tables, ratios):
            mapped = double_sigmoid(e * ratio, *params) * scale
            table[:, c] = np.maximum.accumulate(np.clip(mapped, 0, scale))
    return tables


def cumulative_histogram_pairs(src, ref, levels=256, quantiles=None):
    """Code correspondences between two exposures of one scene by histogram matching.

    Following Grossberg & Nayar ("Determining the camera response from images: what is
    knowable?", PAMI 2003), the IMF between two registered exposures preserves the order of
    pixel values, so equal quantiles of the two per-channel histograms correspond. This uses all
    pixels and needs no alignment beyond a static scene.

    Args:
        src, ref: (H, W, 3) integer arrays (same scene, two exposures).
        quantiles: fractions in (0, 1) to sample; default 1023 evenly spaced.
    Returns:
        (z_src, z_ref): float64 arrays (Q, 3) of corresponding codes (continuous, interpolated
        inside each bin so that the steps of 8-bit data do not quantise the correspondence).
    """
    if quantiles is None:
        quantiles = (np.arange(1023) + 0.5) / 1023
    counts_src, counts_ref = channel_counts(src, levels), channel_counts(ref, levels)
    z_src = np.stack([_quantile_codes(counts_src[:, c], quantiles) for c in range(3)], axis=1)
    z_ref = np.stack([_quantile_codes(counts_ref[:, c], quantiles) for c in range(3)], axis=1)
    return z_src, z_ref


def channel_counts(img, levels):
    """Per-channel histograms of an (H, W, 3) integer array over codes 0..levels-1.

    Returns float64 (levels, 3). uint8/uint16 images go through OpenCV's calcHist, which counts
    in one pass; np.bincount first copies every sample to int64 (about 6x slower on 24 MP).
    """
    if img.dtype in (np.uint8, np.uint16) and levels == np.iinfo(img.dtype).max + 1:
        img = np.ascontiguousarray(img)
        hists = [cv2.calcHist([img], [c], None, [levels], [0, levels]).ravel() for c in range(3)]
    else:
        hists = [np.bincount(img[..., c].ravel(), minlength=levels) for c in range(3)]
    return np.stack(hists, axis=1).astype(np.float64)


def _quantile_codes(counts, quantiles):
    """Continuous code at each quantile of a histogram ``counts`` (levels,): the pixels of code
    z are spread uniformly over [z - 0.5, z + 0.5]."""
    cdf = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
    edges = np.arange(len(counts) + 1, dtype=np.float64) - 0.5
    return np.interp(quantiles, cdf, edges)


def histogram_imf_table(src, ref, levels=256):
    """IMF table from ``src``'s exposure to ``ref``'s by cumulative histogram matching.

    For each code of ``src`` (at the centre of its histogram bin), the continuous code of
    ``ref`` at the same quantile; returns (levels, 3) float64, non-decreasing.
    """
    table = np.empty((levels, 3))
    counts_src, counts_ref = channel_counts(src, levels), channel_counts(ref, levels)
    for c in range(3):
        counts = counts_src[:, c]
        cdf = np.cumsum(counts) / counts.sum()
        centre = cdf - counts / (2 * counts.sum())
        table[:, c] = _quantile_codes(counts_ref[:, c], np.clip(centre, 0, 1))
    return np.maximum.accumulate(np.clip(table, 0, levels - 1), axis=0)
