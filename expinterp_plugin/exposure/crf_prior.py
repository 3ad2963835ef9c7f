"""A prior over real camera responses, learned from DoRF (Grossberg & Nayar, CVPR 2003).

Grossberg & Nayar ("What is the space of camera response functions?", CVPR 2003) measured 201
responses of films, digital and video cameras (DoRF) and showed that their mean and a few
principal components (EMoR) describe every one of them closely. This module holds the same kind
of model for *inverse* responses (normalised code 0..1 -> normalised irradiance 0..1), because
histogram correspondences constrain the inverse response linearly (``g(m_long) = R g(m_short)``):

    g(x) = mean(x) + sum_k c_k basis_k(x),   c ~ N(0, covariance)

sampled at ``SAMPLES`` points of x in [0, 1]. It is built from a fixed two-thirds of the DoRF
curves only (``dorf_split``): the other third is held out from every fit in the project, so
that synthetic pairs rendered from it measure cameras the estimator has never seen.

The model ships as package data (``data/crf_prior.npz``, float32, about 40 KB), made from the
DoRF file by ``python benchmarks/make_crf_prior.py DORF_MAT``; nothing is read from the DoRF
file at run time except for ``--crf dorf:INDEX`` (path from the ``EXPINTERP_DORF`` environment
variable or an explicit argument).
"""
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from expinterp_plugin.exposure.crf import _ZERO_CODE_FRACTION, CRF, strictly_increasing

DORF_CURVES = 201
# Every third DoRF curve (indices 2, 5, 8, ..., 200: 67 curves) is held out from the prior and
# from any tuning; the remaining 134 build the prior. Other parts of the project (e.g. the
# simulator for a learned refiner) evaluate on HELD_OUT_DORF so that numbers stay comparable.
DORF_SHA256 = '45d7b6467f147b6dd99875652bef2d36f0a6ef5cebbd5b8ed33759ee6a4c1fc1'
DORF_ENV = 'EXPINTERP_DORF'
SAMPLES = 1024
COMPONENTS = 8
PRIOR_FILE = Path(__file__).resolve().parent / 'data' / 'crf_prior.npz'


def dorf_split(count=DORF_CURVES):
    """(train, held_out): tuples of DoRF curve indices (0-based) of ``count`` curves; held_out =
    every third curve starting at index 2 (the prior and the refiner's simulator share it)."""
    held_out = tuple(range(2, count, 3))
    return tuple(i for i in range(count) if i % 3 != 2), held_out


TRAIN_DORF, HELD_OUT_DORF = dorf_split()


def load_dorf(path, curves=DORF_CURVES):
    """(irradiance, brightness): float64 (201, 1024) arrays of DoRF's ``I`` and ``B``.

    ``path``: the DoRF .mat file (variables ``I``, ``B``: curve k maps I[k] to B[k], both 0..1);
    ``curves``: the number of rows required (None: any, for DoRF-shaped test files).
    Raises FileNotFoundError / ValueError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: DoRF file not found (the 201-curve .mat of Grossberg & '
                                f'Nayar; set {DORF_ENV} or pass its path)')
    from scipy.io import loadmat
    try:
        content = loadmat(path)
    except (OSError, ValueError) as err:
        raise ValueError(f'{path}: cannot read the DoRF .mat file ({err})') from err
    if 'I' not in content or 'B' not in content:
        raise ValueError(f'{path}: no variables "I" and "B" (not the DoRF file?)')
    irradiance, brightness = (np.asarray(content[k], dtype=np.float64) for k in ('I', 'B'))
    rows = irradiance.shape[0] if curves is None else curves
    if irradiance.shape != brightness.shape or irradiance.ndim != 2 or \
            irradiance.shape[0] != rows:
        raise ValueError(f'{path}: expected two {rows}-row tables, got I '
                         f'{irradiance.shape} and B {brightness.shape}')
    return irradiance, brightness


def dorf_path(path=None):
    """The DoRF file: ``path`` if given, else ``$EXPINTERP_DORF``; ValueError when neither."""
    path = path or os.environ.get(DORF_ENV)
    if not path:
        raise ValueError(f'--crf dorf:INDEX needs the DoRF .mat file: set {DORF_ENV}=FILE '
                         '(dorf_201_crf.mat)')
    return Path(path)


def inverse_curve(irradiance, brightness, samples=SAMPLES):
    """Inverse response on ``samples`` evenly spaced codes 0..1 of one forward curve (float64).

    DoRF curves have a few flat steps; a tiny ramp makes brightness strictly increasing so that
    the inverse is a function.
    """
    b = np.maximum.accumulate(brightness) + 1e-9 * np.arange(brightness.size)
    return np.interp(np.linspace(0.0, 1.0, samples), (b - b[0]) / (b[-1] - b[0]), irradiance)


def build_prior(irradiance, brightness, indices, samples=SAMPLES, components=COMPONENTS):
    """PCA model of the inverse responses of the DoRF curves ``indices``.

    Returns a dict of float32 arrays: ``mean`` (samples,), ``basis`` (components, samples)
    (orthonormal rows; every row is 0 at both ends because every inverse curve runs from 0 to
    1), ``covariance`` (components, components) of the curves' coefficients, and ``indices``.
    """
    curves = np.stack([inverse_curve(irradiance[k], brightness[k], samples) for k in indices])
    mean = curves.mean(axis=0)
    _, _, vt = np.linalg.svd(curves - mean, full_matrices=False)
    basis = vt[:components]
    coefficients = (curves - mean) @ basis.T
    covariance = np.cov(coefficients, rowvar=False)
    return {'mean': mean.astype(np.float32), 'basis': basis.astype(np.float32),
            'covariance': covariance.astype(np.float32),
            'indices': np.asarray(indices, dtype=np.int16)}


class ResponsePrior:
    """The packaged inverse-response model: ``mean`` (S,), ``basis`` (K, S), ``covariance``
    (K, K), all float64, on S evenly spaced normalised codes."""

    def __init__(self, mean, basis, covariance):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.basis = np.asarray(basis, dtype=np.float64)
        self.covariance = np.asarray(covariance, dtype=np.float64)
        self.grid = np.linspace(0.0, 1.0, self.mean.size)
        step = 1.0 / (self.mean.size - 1)
        self.mean_slope = np.gradient(self.mean, step)
        self.basis_slope = np.gradient(self.basis, step, axis=1)

    @property
    def components(self):
        return self.basis.shape[0]

    def design(self, x):
        """(mean(x), basis(x)): float64 (N,) and (N, K) at normalised codes x (clipped to [0, 1]),
        linear interpolation between samples."""
        return _interpolate_rows(np.vstack([self.mean, self.basis]), x)

    def slope_design(self, x):
        """(mean'(x), basis'(x)): the derivatives d/dx of ``design``'s columns."""
        return _interpolate_rows(np.vstack([self.mean_slope, self.basis_slope]), x)

    def precision_of(self, components):
        """Inverse covariance of the first ``components`` coefficients (K' x K')."""
        return np.linalg.inv(self.covariance[:components, :components])

    def inverse(self, coefficients, x):
        """Inverse response (normalised irradiance) at codes x for ``coefficients`` (K,) or
        fewer (the rest 0)."""
        mean, basis = self.design(x)
        c = np.zeros(self.components)
        c[:len(coefficients)] = coefficients
        return mean + basis @ c


def _interpolate_rows(table, x):
    """Rows of ``table`` (1 + K, S) linearly interpolated at x in [0, 1]: (N,) and (N, K)."""
    pos = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) * (table.shape[1] - 1)
    lo = np.minimum(pos.astype(np.intp), table.shape[1] - 2)
    frac = pos - lo
    values = table[:, lo] * (1.0 - frac) + table[:, lo + 1] * frac
    return values[0], values[1:].T


@lru_cache(maxsize=1)
def load_prior(path=PRIOR_FILE):
    """The packaged ``ResponsePrior`` (raises FileNotFoundError naming the file if it is gone)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: packaged CRF prior missing (reinstall expinterp, or '
                                'rebuild it with benchmarks/make_crf_prior.py)')
    with np.load(path, allow_pickle=False) as content:
        return ResponsePrior(content['mean'], content['basis'], content['covariance'])


def inverse_to_crf(inverse, black=0.0, name='prior'):
    """CRF from inverse-response values at every code (levels, 3) of normalised irradiance.

    Codes at or below the black level ``black`` (fraction of full scale) record no light; the
    table continues below the first lit code by a factor 4 per 8-bit code step, so that an IMF
    maps them to about the black level instead of clamping them to 0. Dips (a fit's noise) are
    removed by a running maximum, so the table is strictly increasing.
    """
    inverse = np.asarray(inverse, dtype=np.float64)
    levels = inverse.shape[0]
    first_lit = int(np.floor(black * (levels - 1))) + 1
    lit = inverse[first_lit:]
    below = np.arange(first_lit, 0, -1)[:, None] * (np.log(4.0) * 255 / (levels - 1))
    g = np.empty_like(inverse)
    for c in range(inverse.shape[1]):
        floor = _ZERO_CODE_FRACTION * lit[0, c] if lit[0, c] > 0 else 1e-6
        logs = np.log(np.maximum.accumulate(np.maximum(lit[:, c], floor)))
        g[:, c] = np.concatenate([logs[0] - below[:, 0], logs])
    return CRF(strictly_increasing(g), name=name)


def emor_crf(coefficients, levels=256):
    """CRF of the packaged model with ``coefficients`` (up to K floats; all 0 = the mean curve
    of the training cameras), the same in every channel."""
    prior = load_prior()
    if len(coefficients) > prior.components:
        raise ValueError(f'emor: at most {prior.components} coefficients, got {len(coefficients)}')
    x = np.arange(levels, dtype=np.float64) / (levels - 1)
    inverse = prior.inverse(np.asarray(coefficients, dtype=np.float64), x)
    if not np.all(np.diff(inverse[1:]) > 0):
        raise ValueError(f'emor:{",".join(f"{c:g}" for c in coefficients)} is not an increasing '
                         'response (coefficients too large)')
    name = 'emor:' + ','.join(f'{c:g}' for c in coefficients)
    return inverse_to_crf(np.repeat(inverse[:, None], 3, axis=1), name=name)


def dorf_crf(index, path=None, levels=256):
    """CRF of DoRF curve ``index`` (0..200), the same in every channel; ``path`` or
    ``$EXPINTERP_DORF`` names the DoRF .mat file."""
    if not 0 <= index < DORF_CURVES:
        raise ValueError(f'dorf: curve index must lie in 0..{DORF_CURVES - 1}, got {index}')
    return curve_crf(*load_dorf(dorf_path(path)), index, levels)


def curve_crf(irradiance, brightness, index, levels=256):
    """CRF 'dorf:INDEX' of curve ``index`` of loaded DoRF tables (see ``load_dorf``)."""
    inverse = inverse_curve(irradiance[index], brightness[index], levels)
    return inverse_to_crf(np.repeat(inverse[:, None], 3, axis=1), name=f'dorf:{index}')


def dorf_forward(exposure, irradiance, brightness):
    """Brightness 0..1 (float64) of one DoRF curve (its ``irradiance``/``brightness`` rows) at
    normalised ``exposure`` (any shape, clipped to [0, 1]): the camera that renders simulated
    frames and synthetic pairs."""
    return np.interp(np.clip(exposure, 0.0, 1.0), irradiance, brightness)
