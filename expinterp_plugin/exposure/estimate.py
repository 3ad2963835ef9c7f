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
from typing import NamedTuple

import numpy as np

from expinterp_plugin.exposure.crf import CRF, strictly_increasing
from expinterp_plugin.exposure.crf_prior import inverse_to_crf, load_prior
from expinterp_plugin.exposure.imf import cumulative_histogram_pairs

ESTIMATORS = ('emor', 'polynomial', 'debevec')
# The measured best: the DoRF prior for a pair (benchmarks/eval_real.py, eval_synthetic.py), the
# polynomial for three or more frames (leave-one-frame-out, benchmarks/eval_calibrate.py).
DEFAULT_ESTIMATOR = 'emor'
DEFAULT_BRACKET_ESTIMATOR = 'polynomial'


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


def estimate_crf(images, times, method=None, **options):
    """CRF of the camera that took ``images`` (any order) with exposure ``times`` (seconds).

    Args:
        images: two or more RGB uint8/uint16 (H, W, 3) arrays of one static scene.
        times: exposure time of each image.
        method: 'emor' (the DoRF prior, ``fit_emor_crf``), 'polynomial' or 'debevec';
            default ``DEFAULT_ESTIMATOR`` for two images, ``DEFAULT_BRACKET_ESTIMATOR`` for more.
        options: passed to the estimator (see ``fit_emor_crf``, ``fit_polynomial_crf``,
            ``debevec_crf``).
    Returns:
        CRF with levels matching the images' bit depth, channels in the images' order.
    """
    images, times = _check_stack(list(images), list(times))
    if method is None:
        method = DEFAULT_ESTIMATOR if len(images) == 2 else DEFAULT_BRACKET_ESTIMATOR
    if method == 'emor':
        return fit_emor_crf(images, times, **options)
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
    (0..1) of the shorter and the longer exposure at equal quantiles (``pair_correspondences``),
    and t_long / t_short, kept where both codes lie in [low, high] (outside, clipping and the
    noise floor break the order correspondence).
    """
    per_channel = [([], [], []) for _ in range(3)]
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            ratio = times[j] / times[i]
            for c, (m_short, m_long) in enumerate(pair_correspondences(images[i], images[j],
                                                                       low, high)):
                per_channel[c][0].append(m_short)
                per_channel[c][1].append(m_long)
                per_channel[c][2].append(np.full(m_short.size, ratio))
    return [tuple(np.concatenate(parts) for parts in ch) for ch in per_channel]


def pair_correspondences(dark, bright, low, high):
    """Per channel (m_dark, m_bright): histogram code correspondences (normalised 0..1) kept
    where both lie in [low, high] and the bright code is the larger."""
    levels = np.iinfo(dark.dtype).max + 1
    z_dark, z_bright = cumulative_histogram_pairs(dark, bright, levels)
    m_dark, m_bright = z_dark / (levels - 1), z_bright / (levels - 1)
    out = []
    for c in range(3):
        keep = (m_dark[:, c] >= low) & (m_bright[:, c] <= high) & (m_bright[:, c] > m_dark[:, c])
        out.append((m_dark[keep, c], m_bright[keep, c]))
    return out


def _black_levels(black_max):
    """The black levels searched: 0, 1/255, ..., ``black_max`` of full scale."""
    if not 0.0 <= black_max < 0.5:
        raise ValueError(f'black_max must lie in [0, 0.5), got {black_max}')
    return np.arange(int(round(black_max * 255)) + 1) / 255.0


def _best_black(solve, correspondences, black_max):
    """(cost, black, per-channel coefficients) of the black level on ``_black_levels`` whose
    fits ``solve(correspondence, black) -> (coefficients, cost)`` cost least over the channels."""
    best = None
    for black in _black_levels(black_max):
        fits = [solve(corr, black) for corr in correspondences]
        cost = sum(c for _, c in fits)
        if best is None or cost < best[0]:
            best = (cost, black, [coef for coef, _ in fits])
    return best


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
    levels = np.iinfo(images[0].dtype).max + 1
    correspondences = exposure_correspondences(images, times, low, high)
    _, black, coefs = _best_black(
        lambda corr, black: _solve_polynomial(*corr, degree, prior_weight, prior_gamma, black),
        correspondences, black_max)
    x = np.clip((np.arange(levels, dtype=np.float64) / (levels - 1) - black) / (1.0 - black),
                0.0, None)
    inverse = np.stack([_powers(x, degree) @ coef for coef in coefs], axis=1)
    return inverse_to_crf(inverse, black, name='polynomial')


def estimate_exposure_ratio(dark, bright, crf):
    """t_bright / t_dark of a pair from its histogram correspondences under a known CRF.

    The median over all usable correspondences (codes in [0.03, 0.95] of full scale) and
    channels of exp(g(z_bright) - g(z_dark)), with g interpolated at the continuous matched
    codes. Without a known CRF the ratio and the response are not separable (Grossberg &
    Nayar's exponential ambiguity): ``estimate_pair_exposure`` fits both under a prior.
    """
    correspondences = pair_correspondences(dark, bright, 0.03, 0.95)
    if sum(m.size for m, _ in correspondences) == 0:
        raise ValueError('cannot estimate the exposure ratio: no well-exposed correspondences')
    return float(2.0**np.median(_log2_ratios(correspondences, crf)))


def _log2_ratios(correspondences, crf):
    """log2 exposure ratio voted by every correspondence (all channels) under ``crf``."""
    codes = np.arange(crf.levels, dtype=np.float64) / crf.max_code
    return np.concatenate([np.interp(m_bright, codes, crf.g[:, c]) -
                           np.interp(m_dark, codes, crf.g[:, c])
                           for c, (m_dark, m_bright) in enumerate(correspondences)]) / np.log(2.0)


# Prior strengths (code-domain error scale, normalised codes), chosen on synthetic pairs from
# the DoRF *training* curves (benchmarks/eval_synthetic.py --curves train): one for the CRF at a
# known ratio, a stronger one for locating the ratio along the exponential ambiguity.
EMOR_PRIOR_WEIGHT = 0.01
RATIO_PRIOR_WEIGHT = 0.03


def _solve_prior(prior, m_short, m_long, ratio, black, prior_weight, components, iterations=3):
    """Coefficients (components,) of the prior's inverse response and the fit's cost.

    Minimises mean_i r_i^2 + prior_weight^2 * c^T Sigma^-1 c, where r_i is the code-domain
    error of correspondence i: (g(x_long) - R g(x_short)) / g'(x_long), the first-order
    difference between the observed long code and F(R F^-1(short)). Measuring the error in
    codes, where the noise is, makes the data term invariant under Grossberg & Nayar's
    exponential ambiguity (g -> g^gamma, R -> R^gamma), so the prior over real cameras alone
    decides along it. g' comes from the previous iterate (the prior mean first).
    """
    def lit(m):
        return np.clip((m - black) / (1.0 - black), 0.0, 1.0)

    mean_l, basis_l = prior.design(lit(m_long))
    mean_s, basis_s = prior.design(lit(m_short))
    slope_mean, slope_basis = prior.slope_design(lit(m_long))
    basis_l, basis_s, slope_basis = (b[:, :components] for b in (basis_l, basis_s, slope_basis))
    rows = basis_l - ratio[:, None] * basis_s
    target = ratio * mean_s - mean_l
    precision = prior.precision_of(components) * prior_weight**2
    coef = np.zeros(components)
    n = max(len(ratio), 1)
    for _ in range(iterations):
        slope = np.maximum(slope_mean + slope_basis @ coef, 0.05)
        weighted = rows / slope[:, None]
        lhs = weighted.T @ weighted / n + precision
        coef = np.linalg.solve(lhs, weighted.T @ (target / slope) / n)
    residual = (rows @ coef - target) / slope
    return coef, float(np.mean(residual**2) + coef @ precision @ coef) if len(ratio) else 0.0


def fit_emor_crf(images, times, components=5, prior_weight=EMOR_PRIOR_WEIGHT, low=0.02,
                 high=0.97, black_max=0.1):
    """Inverse response from the DoRF-trained prior (``crf_prior``), fitted per channel to the
    histogram correspondences of every pair of exposures (Grossberg & Nayar, CVPR 2003: a
    mean and a few principal components of real responses with a Gaussian prior on the
    coefficients, here in the inverse form that makes the known-ratio fit linear).

    A black level shared by the channels is searched on 0..``black_max`` of full scale as in
    ``fit_polynomial_crf`` (film fog, lifted JPEG blacks).

    Args:
        images, times: stack sorted by time (see ``estimate_crf``), uint8 or uint16.
        components: principal components used (<= 8).
        prior_weight: strength of the coefficients' Gaussian prior (code-domain error scale).
        low, high: usable normalised code range.
        black_max: largest black level searched (0: none).
    Returns:
        CRF (levels of the images' bit depth), named 'emor'.
    """
    levels = np.iinfo(images[0].dtype).max + 1
    correspondences = exposure_correspondences(images, times, low, high)
    return _prior_crf(correspondences, levels, components, prior_weight, black_max)[0]


def _prior_crf(correspondences, levels, components, prior_weight, black_max):
    """(CRF, cost) of the prior fit with the best black level (see ``fit_emor_crf``)."""
    prior = load_prior()
    cost, black, coefs = _best_black(
        lambda corr, black: _solve_prior(prior, *corr, black, prior_weight, components),
        correspondences, black_max)
    x = np.clip((np.arange(levels) / (levels - 1) - black) / (1.0 - black), 0.0, 1.0)
    inverse = np.stack([prior.inverse(coef, x) for coef in coefs], axis=1)
    return inverse_to_crf(inverse, black, name='emor'), cost


# Ratios the joint estimate may return, in EV: a pair is never one exposure (ratio 1 would
# make the IMFs identities) and 12 EV is beyond any bracket a camera takes.
RATIO_RANGE_EV = (0.25, 12.0)
DEFAULT_RATIO_EV = 4.0
# Prior (mean, std) over a pair's spacing in EV when its times are unknown: the method's
# operating point, pairs about 4 EV apart (auto-exposure bracketing at -2/+2 EV), 3-5 EV within
# two standard deviations; taken from that specification, not fitted (README: sensitivity).
RATIO_PRIOR_EV = (DEFAULT_RATIO_EV, 0.5)
# Fewer usable correspondences (over the three channels) than this and a fit is not trusted.
MIN_CORRESPONDENCES = 30
FALLBACK_ORDER = ('joint-prior', 'joint-prior-wide', 'mean-brightness', 'default-4ev')
# The steps whose CRF is fitted with the ratio (the others carry the prior's mean camera).
JOINT_METHODS = FALLBACK_ORDER[:2]


class PairExposure(NamedTuple):
    """What ``estimate_pair_exposure`` found: ``crf`` (CRF), ``ratio`` = t_bright / t_dark
    (> 1), ``confidence`` (probability, under the fit, that the ratio is within 0.5 EV of the
    estimate; 0 for the last fallbacks), ``std_ev`` (spread of that estimate in EV),
    ``data_std_ev`` (the spread the pair alone leaves, without the ratio prior: how much of the
    estimate the images decided) and ``method`` (the step of ``FALLBACK_ORDER`` that produced
    it, or 'known-crf')."""
    crf: CRF
    ratio: float
    confidence: float
    std_ev: float
    data_std_ev: float
    method: str


def _clip_ratio_ev(ev):
    return float(np.clip(ev, *RATIO_RANGE_EV))


def ratio_basis(found):
    """What decided a ``PairExposure``'s ratio: 'measured' or 'prior-dominated'.

    'measured' when the images weigh more than the spacing prior in it: the spread they alone
    leave (``data_std_ev``) is below the prior's width (``RATIO_PRIOR_EV[1]``, 0.5 EV), i.e.
    their share of the Gaussian posterior mean, prior_var / (prior_var + data_var), is above
    one half; and always under a known CRF ('known-crf': no spacing prior is used).
    'prior-dominated' otherwise, the fallbacks without a spread included: the reported ratio is
    then mostly the 4-EV operating point (with the default pair estimator y0 and the fused image
    do not depend on it: ``joint_ratio_fit``, ``Pair.crf``).
    """
    if found.method == 'known-crf':
        return 'measured'
    measured = np.isfinite(found.data_std_ev) and found.data_std_ev < RATIO_PRIOR_EV[1]
    return 'measured' if measured else 'prior-dominated'


def _normal_mass(std_ev, half_width=0.5):
    """P(|error| < half_width) for a zero-mean normal error of std ``std_ev`` (EV)."""
    from math import erf, sqrt
    return float(erf(half_width / (max(std_ev, 1e-9) * sqrt(2.0))))


def joint_ratio_fit(correspondences, levels, components=5, prior_weight=RATIO_PRIOR_WEIGHT,
                    black_max=0.1, step_ev=0.25, ratio_prior=RATIO_PRIOR_EV):
    """Ratio and inverse response of a pair at once, from priors over real responses and ratios.

    Grossberg & Nayar (PAMI 2003) show that a pair's correspondences alone fix the response
    only up to g -> gamma g with log R -> gamma log R (g = ln F^-1); the code-domain cost of
    ``_solve_prior`` is flat along that family up to what the few components can represent, so
    priors decide. The response is fitted where the DoRF prior over responses puts the ratio
    (the best fit of the pair's intensity mapping). That prior alone leaves the ratio uncertain
    by about 1 EV (``data_std_ev``) and, on real digital cameras, biased low; the reported
    ratio therefore also carries ``ratio_prior`` (mean, std) in EV, a Gaussian over the bracket
    spacing (None: the response prior only), and the response is moved along the ambiguity to
    it by scaling g by the two log ratios' quotient. That move is exact, so the interpolated
    frame (its intensity mapping functions) does not depend on ``ratio_prior`` at all.

    The black level is chosen first at the prior's mean ratio (film fog and lifted blacks
    otherwise read as a much smaller ratio); the negative log posterior
    cost / (2 prior_weight^2) (+ (ev - mean)^2 / (2 std^2)) is evaluated on a grid of
    ``step_ev`` over ``RATIO_RANGE_EV`` and its best point refined by a bounded scalar search
    within one step. Spreads: of the grid posterior about the estimate, and of the posterior
    without the ratio prior about its own mean (what the pair alone pins).

    Returns (CRF, ratio, confidence, std_ev, data_std_ev).
    """
    prior = load_prior()
    centre = ratio_prior[0] if ratio_prior else DEFAULT_RATIO_EV

    def data_nll(ev, black):
        ratio = 2.0**ev
        return sum(_solve_prior(prior, m_dark, m_bright, np.full(m_dark.size, ratio), black,
                                prior_weight, components)[1]
                   for m_dark, m_bright in correspondences) / (2.0 * prior_weight**2)

    def ratio_nll(ev):
        return 0.5 * ((ev - ratio_prior[0]) / ratio_prior[1])**2 if ratio_prior else 0.0 * ev

    black = min(_black_levels(black_max), key=lambda b: data_nll(centre, b))
    grid = np.arange(RATIO_RANGE_EV[0], RATIO_RANGE_EV[1] + 1e-9, step_ev)
    data = np.array([data_nll(ev, black) for ev in grid])
    total = data + ratio_nll(grid)
    fitted_ev = _grid_minimum(grid, data, lambda ev: data_nll(ev, black))
    ev = _grid_minimum(grid, total, lambda ev: data_nll(ev, black) + ratio_nll(ev))
    std_ev, data_std_ev = _grid_spread(grid, total, ev), _grid_spread(grid, data)
    stack = [(m_dark, m_bright, np.full(m_dark.size, 2.0**fitted_ev))
             for m_dark, m_bright in correspondences]
    crf, _ = _prior_crf(stack, levels, components, EMOR_PRIOR_WEIGHT, black_max)
    if ev != fitted_ev:
        crf = CRF(crf.g * (ev / fitted_ev), name=crf.name)
    return crf, 2.0**ev, _normal_mass(std_ev), std_ev, data_std_ev


def _grid_minimum(grid, values, function):
    """Minimiser of ``function`` (sampled as ``values`` on ``grid``): the best grid point,
    refined by a bounded scalar search within one step of it, clipped to RATIO_RANGE_EV."""
    from scipy.optimize import minimize_scalar
    best = int(np.argmin(values))
    refined = minimize_scalar(function, bounds=(grid[max(best - 1, 0)],
                                                grid[min(best + 1, grid.size - 1)]),
                              method='bounded', options={'xatol': 0.01})
    return _clip_ratio_ev(refined.x if refined.fun < values[best] else grid[best])


def _grid_spread(grid, nll, centre=None):
    """RMS distance from ``centre`` (default: its mean) under the grid posterior exp(-nll)."""
    weights = np.exp(-(nll - nll.min()))
    weights /= weights.sum()
    centre = weights @ grid if centre is None else centre
    return float(np.sqrt(weights @ (grid - centre)**2))


def mean_brightness_ratio(dark, bright, crf):
    """Ratio of the pair's mean linear exposures under ``crf`` (clipping biases it low): the
    fallback when the histograms give too few usable correspondences."""
    channels = np.arange(3)
    linear = [np.exp(crf.g[img.reshape(-1, 3), channels]).mean() for img in (dark, bright)]
    return float(linear[1] / linear[0])


def estimate_pair_exposure(dark, bright, crf=None, low=0.02, high=0.97, **options):
    """Exposure ratio t_bright / t_dark (and the CRF) of a pair whose times are unknown.

    With ``crf`` given (a CRF), the ratio is the median log ratio of the histogram
    correspondences under it ('known-crf'). Otherwise the ratio and the response are fitted
    together under the DoRF prior (``joint_ratio_fit``). Fallback order (``FALLBACK_ORDER``),
    each step taken when the previous has fewer than ``MIN_CORRESPONDENCES`` usable
    correspondences: 'joint-prior' on codes in [low, high]; 'joint-prior-wide' on codes in
    [0.005, 0.995]; 'mean-brightness', the ratio of mean linear exposures under the prior mean
    response (or ``crf``); 'default-4ev' (ratio 16, confidence 0) when even that shows no
    difference between the frames. The ratio always lies in 2^RATIO_RANGE_EV, so it is > 1.

    Args:
        dark, bright: RGB uint8/uint16 (H, W, 3), the same scene, dark the shorter exposure.
        crf: a known CRF, or None to estimate it.
        options: ``joint_ratio_fit`` settings (components, prior_weight, black_max,
            ratio_prior: (mean, std) EV of the spacing, None for the response prior alone).
    Returns:
        PairExposure.
    """
    levels = np.iinfo(dark.dtype).max + 1
    for method, (lo, hi) in (('joint-prior', (low, high)), ('joint-prior-wide', (0.005, 0.995))):
        corr = pair_correspondences(dark, bright, lo, hi)
        if sum(m.size for m, _ in corr) < MIN_CORRESPONDENCES:
            continue
        if crf is not None:
            return _known_crf_ratio(corr, crf)
        return PairExposure(*joint_ratio_fit(corr, levels, **options), method=method)
    if crf is None:
        prior = load_prior()
        x = np.arange(levels) / (levels - 1)
        mean = prior.inverse(np.zeros(0), x)
        crf = inverse_to_crf(np.repeat(mean[:, None], 3, axis=1), name='emor')
    ratio = mean_brightness_ratio(dark, bright, crf)
    if np.isfinite(ratio) and ratio > 1.0:
        return PairExposure(crf, 2.0**_clip_ratio_ev(np.log2(ratio)), 0.0, float('inf'),
                            float('inf'), 'mean-brightness')
    return PairExposure(crf, 2.0**DEFAULT_RATIO_EV, 0.0, float('inf'), float('inf'),
                        'default-4ev')


def _known_crf_ratio(correspondences, crf):
    """PairExposure of the median log ratio of correspondences under a known CRF; the spread
    is the robust (MAD) spread of the individual votes."""
    logs = _log2_ratios(correspondences, crf)
    ev = float(np.median(logs))
    std_ev = 1.4826 * float(np.median(np.abs(logs - ev)))
    return PairExposure(crf, 2.0**_clip_ratio_ev(ev), _normal_mass(std_ev), std_ev, std_ev,
                        'known-crf')


# Candidates of the bracket self-check, with their settings: OpenCV Debevec as the common
# baseline is run with 400 samples and lambda 10.
CALIBRATION_CANDIDATES = {'emor': {}, 'polynomial': {},
                          'debevec': {'samples': 400, 'smoothness': 10.0}}


def leave_one_out_psnr(images, times, method, **options):
    """Mean PSNR (dB) of predicting every interior frame of a bracket from its neighbours.

    Frame j (sorted by time, 0 < j < n - 1) is predicted as y0 from frames j - 1 and j + 1
    at its own time, with the CRF estimated by ``method`` from every frame except j; the
    prediction is rounded to the frames' codes. This is the self-check of
    ``calibrate_bracket``; it needs three or more frames.
    """
    images, times = _check_stack(list(images), list(times))
    if len(images) < 3:
        raise ValueError('the leave-one-frame-out check needs three or more exposures')
    return float(np.mean([_left_out_psnr(images, times, j, method, options)
                          for j in range(1, len(images) - 1)]))


def _left_out_psnr(images, times, j, method, options):
    """PSNR (dB) of interior frame j predicted from its neighbours with the CRF ``method``
    fits on every other frame (one step of ``leave_one_out_psnr``)."""
    from expinterp_plugin.exposure.y0 import Y0Mapper
    peak = np.iinfo(images[0].dtype).max
    rest = [n for n in range(len(images)) if n != j]
    crf = estimate_crf([images[n] for n in rest], [times[n] for n in rest], method, **options)
    y0 = Y0Mapper(crf, times[j - 1], times[j + 1], times[j])(images[j - 1], images[j + 1])
    error = (np.rint(y0.astype(np.float64) * peak) - images[j]) / peak
    return 10 * np.log10(1.0 / max(float(np.mean(error**2)), 1e-12))


def calibrate_bracket(images, times, methods=None, progress=None):
    """CRF of a whole bracket, by the estimator that predicts its frames best.

    Every candidate of ``CALIBRATION_CANDIDATES`` (or of ``methods``; Debevec only for
    8-bit) is scored by ``leave_one_out_psnr`` and the best is fitted on every frame. With
    one method or two frames there is nothing to choose: that method (default:
    ``DEFAULT_ESTIMATOR``) is fitted without the check.

    ``progress`` wraps the iteration over the fits (e.g. tqdm; called as progress(it,
    total=N)): one step per left-out frame and estimator, then the final fit; each step is
    taken when the previous fit is done, so a bar moves through minutes of work.

    Returns:
        (CRF, method, {method: leave-one-out PSNR, empty without the check}).
    """
    images, times = _check_stack(list(images), list(times))
    methods = list(methods or CALIBRATION_CANDIDATES)
    if images[0].dtype != np.uint8 and 'debevec' in methods and len(methods) > 1:
        methods.remove('debevec')
    checked = len(methods) > 1 and len(images) >= 3
    # (method, left-out frame) steps of the check, then (None, None): the final fit.
    steps = [(m, j) for m in methods for j in range(1, len(images) - 1)] if checked else []
    steps.append((None, None))
    psnrs = {m: [] for m in methods} if checked else {}
    for method, j in (progress or (lambda it, total: it))(steps, total=len(steps)):
        if method is not None:
            psnrs[method].append(_left_out_psnr(images, times, j, method,
                                                CALIBRATION_CANDIDATES.get(method, {})))
            continue
        scores = {m: float(np.mean(v)) for m, v in psnrs.items()}
        if checked:
            best = max(scores, key=scores.get)
        else:
            best = methods[0] if len(methods) == 1 else DEFAULT_ESTIMATOR
        crf = estimate_crf(images, times, best, **CALIBRATION_CANDIDATES.get(best, {}))
    return crf, best, scores
