"""Estimating a CRF from differently exposed images of one static scene.

Two estimators:

- ``'polynomial'`` (default): per channel, code correspondences between every pair of
  exposures from cumulative histograms (Grossberg & Nayar, PAMI 2003: every pixel votes, no
  sampling, robust to noise and small misalignment), fitted with the polynomial inverse response
  of Mitsunaga & Nayar ("Radiometric self calibration", CVPR 1999): F^-1(M) = sum_n c_n M^n on
  normalised codes M, with the known exposure ratios fixing the scale ambiguity. A low-order
  polynomial pins the curve's shape outside the range both frames expose well, where a plain
  smoothness prior does not.
- ``'debevec'``: OpenCV's Debevec & Malik (SIGGRAPH 1997) least squares on sampled pixels
  (8-bit only), the common baseline.
"""
import numpy as np

from expinterp_plugin.exposure.crf import CRF, strictly_increasing
from expinterp_plugin.exposure.imf import cumulative_histogram_pairs

ESTIMATORS = ('polynomial', 'debevec')


def _check_stack(images, times):
    if len(images) < 2 or len(images) != len(times):
        raise ValueError(f'need two or more images with one exposure time each, got '
                         f'{len(images)} images and {len(times)} times')
    shape, dtype = images[0].shape, images[0].dtype
    for img in images:
        if img.shape != shape or img.dtype != dtype:
            raise ValueError('all images of a CRF estimate must share shape and dtype, got '
                             f'{shape} {dtype} and {img.shape} {img.dtype}')
    if dtype not in (np.uint8, np.uint16) or len(shape) != 3 or shape[2] != 3:
        raise ValueError(f'images must be uint8/uint16 (H, W, 3), got {shape} {dtype}')
    if any(not t > 0 for t in times):
        raise ValueError(f'exposure times must be positive, got {list(times)}')
    if len(set(float(t) for t in times)) != len(times):
        raise ValueError(f'exposure times must differ, got {list(times)}')
    order = np.argsort(times)
    return [images[i] for i in order], [float(times[i]) for i in order]


def estimate_crf(images, times, method='polynomial', **options):
    """CRF of the camera that took ``images`` (any order) with exposure ``times`` (seconds).

    Args:
        images: two or more RGB uint8/uint16 (H, W, 3) arrays of one static scene.
        times: exposure time of each image.
        method: 'polynomial' (default) or 'debevec'.
        options: passed to the estimator (see ``fit_polynomial_crf`` / ``debevec_crf``).
    Returns:
        CRF with levels matching the images' bit depth, channels in the images' order.
    """
    images, times = _check_stack(list(images), list(times))
    if method == 'polynomial':
        return fit_polynomial_crf(images, times, **options)
    if method == 'debevec':
        return debevec_crf(images, times, **options)
    raise ValueError(f'unknown CRF estimator {method!r}; choose from {", ".join(ESTIMATORS)}')


def debevec_crf(images, times, samples=70, smoothness=10.0):
    """OpenCV Debevec-Malik calibration (deterministic grid sampling), 8-bit only."""
    import cv2
    if images[0].dtype != np.uint8:
        raise ValueError('the Debevec estimator supports 8-bit images only')
    calibrate = cv2.createCalibrateDebevec(samples=samples, lambda_=smoothness, random=False)
    response = calibrate.process([np.ascontiguousarray(i) for i in images],
                                 np.asarray(times, dtype=np.float32))
    g = np.log(np.maximum(response.reshape(256, 3).astype(np.float64), 1e-12))
    return CRF(strictly_increasing(g), name='debevec')


def exposure_correspondences(images, times, low=0.02, high=0.97):
    """Histogram code correspondences of every pair of exposures, per channel.

    Returns a list over channels of (m_short, m_long, ratio) float64 arrays: normalised codes
    (0..1) of the shorter and the longer exposure at equal quantiles, and t_long / t_short, kept
    where both codes lie in [low, high] (outside, clipping and the noise floor break the order
    correspondence).
    """
    levels = np.iinfo(images[0].dtype).max + 1
    per_channel = [([], [], []) for _ in range(3)]
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            z_short, z_long = cumulative_histogram_pairs(images[i], images[j], levels)
            m_short, m_long = z_short / (levels - 1), z_long / (levels - 1)
            ratio = times[j] / times[i]
            for c in range(3):
                keep = (m_short[:, c] >= low) & (m_long[:, c] <= high) & \
                    (m_long[:, c] > m_short[:, c])
                per_channel[c][0].append(m_short[keep, c])
                per_channel[c][1].append(m_long[keep, c])
                per_channel[c][2].append(np.full(keep.sum(), ratio))
    return [tuple(np.concatenate(parts) for parts in ch) for ch in per_channel]


def _powers(m, degree):
    """(..., degree) matrix of m^1 .. m^degree."""
    return np.stack([m**n for n in range(1, degree + 1)], axis=-1)


def _solve_polynomial(m_short, m_long, ratio, degree, prior_weight, prior_gamma, black=0.0):
    """Coefficients c_1..c_N of f and the fit's residual, with f(1) = 1 (Mitsunaga & Nayar 1999).

    The inverse response is f((M - black) / (1 - black)) = sum c_n x^n on codes above the black
    level (x clipped at 0 below it). Minimises mean_i (w_i (f(m_long_i) - R_i f(m_short_i)))^2
    with w_i = 1 / (R_i m_short_i), so that dark and bright correspondences count by relative
    error, plus ``prior_weight^2 * sum_grid (f(x) - x^prior_gamma)^2`` on 257 grid points: a
    weak pull towards a gamma curve that decides the shape where the pair carries no
    information (very dark or heavily clipped pairs) and is negligible elsewhere. f(1) = 1 is
    imposed exactly by substituting c_N = 1 - sum_{n<N} c_n. The weights do not depend on
    ``black``, so residuals for different black levels compare the same correspondences.
    """
    def above_black(m):
        return np.clip((m - black) / (1.0 - black), 0.0, None)

    rows = _powers(above_black(m_long), degree) - ratio[:, None] * _powers(above_black(m_short),
                                                                           degree)
    rows *= (1.0 / (ratio * np.maximum(m_short, 1e-3)))[:, None] / np.sqrt(max(len(ratio), 1))
    grid = np.linspace(0.0, 1.0, 257)
    rows = np.vstack([rows, prior_weight * _powers(grid, degree)])
    targets = np.concatenate([np.zeros(len(ratio)), prior_weight * grid**prior_gamma])
    lhs = rows[:, :-1] - rows[:, -1:]
    rhs = targets - rows[:, -1]
    coef, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    coef = np.append(coef, 1.0 - coef.sum())
    return coef, float(np.sum((rows @ coef - targets)**2))


def fit_polynomial_crf(images, times, degree=3, prior_weight=0.1, prior_gamma=2.2, low=0.03,
                       high=0.95, black_max=0.1):
    """Polynomial inverse response with a black level, fitted to histogram correspondences.

    Codes at or below the black level ``b`` record no light: F^-1(z) = 0 there, and F maps
    zero irradiance to ``b`` rather than to code 0. Film fog (the Debevec memorial scans sit at
    codes 13-17 where the scene is black) and lifted JPEG blacks need it; without it the
    polynomial, pinned at F^-1(0) = 0, maps fog to black and a dark pair's interpolated frame
    loses the fog level the real frame keeps. One ``b`` serves all channels: it is the value on
    the grid 0, 1/255, ..., ``black_max`` minimising the summed least-squares residual of the
    three channels' fits (digital cameras come out at 0).

    Defaults were chosen on the 23 four-EV triplets of the shared real brackets (pair only,
    images <= 1024 px; README table): degree 3 without a constant term, prior 0.1 towards
    gamma 2.2, codes used in [0.03, 0.95] of full scale, black level searched up to 0.1.

    Args:
        images, times: stack sorted by time (see ``estimate_crf``), uint8 or uint16.
        degree: polynomial order N.
        prior_weight, prior_gamma: strength and exponent of the gamma-curve prior.
        low, high: usable normalised code range (noise floor, clipping).
        black_max: largest black level searched, as a fraction of full scale (0: none).
    Returns:
        CRF (levels of the images' bit depth). Where the polynomial is not increasing (it can
        dip near black) the table is made strictly increasing by a running maximum; codes at
        or below the black level continue the table downwards by a factor 4 per 8-bit code
        step, so that an IMF maps them to about the black level instead of clamping them to 0.
    """
    if not 0.0 <= black_max < 0.5:
        raise ValueError(f'black_max must lie in [0, 0.5), got {black_max}')
    levels = np.iinfo(images[0].dtype).max + 1
    correspondences = exposure_correspondences(images, times, low, high)
    best = None
    for black in np.arange(int(round(black_max * 255)) + 1) / 255.0:
        fits = [_solve_polynomial(*corr, degree, prior_weight, prior_gamma, black)
                for corr in correspondences]
        residual = sum(r for _, r in fits)
        if best is None or residual < best[0]:
            best = (residual, black, [coef for coef, _ in fits])
    _, black, coefs = best
    first_lit = int(np.floor(black * (levels - 1))) + 1
    x = np.clip((np.arange(levels, dtype=np.float64) / (levels - 1) - black) / (1.0 - black),
                0.0, None)[first_lit:]
    below = np.arange(first_lit, 0, -1) * (np.log(4.0) * 255 / (levels - 1))
    g = np.empty((levels, 3))
    for c, coef in enumerate(coefs):
        inverse = _powers(x, degree) @ coef
        floor = 0.25 * inverse[0] if inverse[0] > 0 else 1e-6
        lit = np.log(np.maximum.accumulate(np.maximum(inverse, floor)))
        g[:, c] = np.concatenate([lit[0] - below, lit])
    return CRF(strictly_increasing(g), name='polynomial')


def estimate_exposure_ratio(dark, bright, crf):
    """t_bright / t_dark of a pair from its histogram correspondences under a known CRF.

    The median over all usable correspondences and channels of exp(g(z_bright) - g(z_dark)),
    with g interpolated at the continuous matched codes. Without a known CRF the ratio and the
    response are not separable (Grossberg & Nayar's exponential ambiguity), so callers pass a
    preset when they know neither.
    """
    levels = crf.levels
    z_dark, z_bright = cumulative_histogram_pairs(dark, bright, levels)
    codes = np.arange(levels, dtype=np.float64)
    logs = []
    for c in range(3):
        keep = (z_dark[:, c] >= 0.03 * levels) & (z_bright[:, c] <= 0.95 * levels)
        g = crf.g[:, c]
        logs.append(np.interp(z_bright[keep, c], codes, g) - np.interp(z_dark[keep, c], codes, g))
    logs = np.concatenate(logs)
    if logs.size == 0:
        raise ValueError('cannot estimate the exposure ratio: no well-exposed correspondences')
    return float(np.exp(np.median(logs)))
