"""Model-driven medium exposure y0 from a dark and a bright exposure.

y0 = (W1(x1) L1(x1) + W2(x2) L2(x2)) / (W1(x1) + W2(x2)) per channel, with x1 the bright input
(time t1), x2 the dark input (time t2), L_i the IMF from t_i to the target time t3
(default sqrt(t1 t2)) and W_i the smooth-step weights (Zheng, Li, Wu, eqs. 6-8; weights attached
as in docs/design.md, "Reliability weights and y0").
"""
import math
import numbers

import numpy as np

from expinterp_plugin.exposure.imf import imf_tables
from expinterp_plugin.exposure.weights import bright_weight, dark_weight, validate_thresholds

# Pixels per block of the 8-bit gather: its int64 index (8 bytes a sample) fits in L2 cache.
_GATHER_BLOCK = 1 << 14


def validate_times(t_dark, t_bright, t_target=None):
    """Check exposure times and return the target time (default: geometric mean)."""
    for label, t in (('dark', t_dark), ('bright', t_bright)):
        if not (isinstance(t, numbers.Real) and math.isfinite(t) and t > 0):
            raise ValueError(f'exposure time of the {label} input must be positive, got {t!r}')
    if not t_dark < t_bright:
        raise ValueError(f'dark exposure time {t_dark} must be shorter than the bright one '
                         f'{t_bright} (inputs or times swapped?)')
    if t_target is None:
        return math.sqrt(t_dark) * math.sqrt(t_bright)  # the product underflows for tiny times
    if not t_dark <= t_target <= t_bright:
        raise ValueError(f'target time {t_target} outside [{t_dark}, {t_bright}]')
    return float(t_target)


def blend(x1, x2, l1, l2, xi_l, xi_u, code_scale, max_code):
    """Weighted blend of the two mapped codes; all arrays broadcast together, float64.

    Where both weights vanish (bright saturated and dark near black at once) the mapping of the
    input nearer to mid-grey is used, so the result is never NaN.
    """
    w1 = bright_weight(x1, xi_u, code_scale)
    w2 = dark_weight(x2, xi_l, code_scale)
    total = w1 + w2
    mixed = (w1 * l1 + w2 * l2) / np.where(total > 0, total, 1.0)
    mid = max_code / 2.0
    fallback = np.where(np.abs(x1 - mid) <= np.abs(x2 - mid), l1, l2)
    return np.where(total > 0, mixed, fallback)


class Y0Mapper:
    """y0 for one CRF and one pair of exposure times, reusable across images and crops.

    For 8-bit input the whole map (dark, bright) -> y0 is a (256, 256, 3) table built once;
    calling the mapper is then one gather per sample.

    Args:
        crf: a ``CRF`` (its channel order must match the images').
        t_dark, t_bright: exposure times (s), 0 < t_dark < t_bright.
        t_target: target time in [t_dark, t_bright]; default sqrt(t_dark * t_bright).
        xi_l, xi_u: weight thresholds on the 8-bit scale (defaults 10 and 250, docs/design.md).
        imf: 'linear' (proposed) or 'sigmoid' (baseline).
    """

    def __init__(self, crf, t_dark, t_bright, t_target=None, xi_l=10, xi_u=250, imf='linear'):
        validate_thresholds(xi_l, xi_u)
        self.crf = crf
        self.t_dark, self.t_bright = float(t_dark), float(t_bright)
        self.t_target = validate_times(self.t_dark, self.t_bright, t_target)
        self.xi_l, self.xi_u, self.imf = xi_l, xi_u, imf
        self.code_scale = crf.max_code / 255.0
        self.lut_bright, self.lut_dark = imf_tables(
            crf, [self.t_target / self.t_bright, self.t_target / self.t_dark], imf)
        self._table = self._build_table() if crf.levels == 256 else None

    def _build_table(self):
        """(3, 65536) float32 in [0, 1]: one table per channel, index dark * 256 + bright.

        Channel-major so that each gather reads one 256 KiB table that stays in cache.
        """
        codes = np.arange(256, dtype=np.float64)
        x2 = codes[:, None, None]
        x1 = codes[None, :, None]
        table = blend(x1, x2, self.lut_bright[None, :, :], self.lut_dark[:, None, :],
                      self.xi_l, self.xi_u, 1.0, 255.0)
        return np.ascontiguousarray((table / 255.0).astype(np.float32).reshape(65536, 3).T)

    def __call__(self, dark, bright):
        """y0 of RGB uint8/uint16 (H, W, 3) inputs -> float32 (H, W, 3) in [0, 1]."""
        if dark.shape != bright.shape or dark.dtype != bright.dtype:
            raise ValueError(f'dark {dark.shape} {dark.dtype} and bright {bright.shape} '
                             f'{bright.dtype} must have the same shape and dtype')
        expected = np.uint8 if self.crf.levels == 256 else np.uint16
        if dark.dtype != expected:
            raise ValueError(f'a {self.crf.levels}-level CRF needs {np.dtype(expected)} images, '
                             f'got {dark.dtype}')
        if self._table is not None:
            return self._gather(dark, bright)
        return self._direct(dark, bright)

    def _gather(self, dark, bright):
        """Table lookup in blocks of rows. The index dark * 256 + bright is the uint16 whose
        high byte is the dark code and low byte the bright one: the two codes are copied into
        an interleaved byte buffer and read as uint16, with no shift or or pass, and the
        block-sized int64 copy np.take makes of it stays in cache."""
        out = np.empty(dark.shape, np.float32)
        rows = max(1, _GATHER_BLOCK // max(dark.shape[1], 1))
        pairs = np.empty((rows, dark.shape[1], 2), np.uint8)
        low, high = (0, 1) if np.little_endian else (1, 0)
        for top in range(0, dark.shape[0], rows):
            block = slice(top, top + rows)
            codes = pairs[:len(out[block])]
            index = codes.view(np.uint16)[..., 0]
            for c in range(3):
                codes[..., low] = bright[block, :, c]
                codes[..., high] = dark[block, :, c]
                # Codes are 0..255, so every index is in range: 'clip' skips the bounds check.
                np.take(self._table[c], index, out=out[block, :, c], mode='clip')
        return out

    def _direct(self, dark, bright):
        channels = np.arange(3)
        l1 = self.lut_bright[bright, channels]
        l2 = self.lut_dark[dark, channels]
        y = blend(bright.astype(np.float64), dark.astype(np.float64), l1, l2, self.xi_l,
                  self.xi_u, self.code_scale, float(self.crf.max_code))
        return (y / self.crf.max_code).astype(np.float32)


def check_pair(dark, bright, dark_name='dark', bright_name='bright'):
    """Validate a (dark, bright) pair of RGB uint8/uint16 (H, W, 3) arrays; names go in errors."""
    for name, img in ((dark_name, dark), (bright_name, bright)):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'{name}: need an (H, W, 3) colour image, got shape {img.shape}')
        if img.dtype not in (np.uint8, np.uint16):
            raise ValueError(f'{name}: need 8- or 16-bit samples, got {img.dtype}')
    if dark.shape != bright.shape:
        raise ValueError(f'{dark_name} is {dark.shape[1]}x{dark.shape[0]} but {bright_name} is '
                         f'{bright.shape[1]}x{bright.shape[0]}: the pair must have one size')
    if dark.dtype != bright.dtype:
        raise ValueError(f'{dark_name} is {dark.dtype} but {bright_name} is {bright.dtype}: '
                         'mixed bit depths')
    # a sparse grid first: a real pair differs there, so the full comparison runs only for a
    # copy (which would otherwise pass as an invented ratio or as "swapped" EXIF times)
    if np.array_equal(dark[::16, ::16], bright[::16, ::16]) and np.array_equal(dark, bright):
        raise ValueError(f'{dark_name} and {bright_name} have identical pixels: give a dark and '
                         'a bright exposure of the scene')
    if dark.mean() > bright.mean():
        raise ValueError(f'{dark_name} (mean {dark.mean():.1f}) is brighter than {bright_name} '
                         f'(mean {bright.mean():.1f}): inputs swapped?')


#: The library's default CRF spec: estimated from the pair itself (``DEFAULT_ESTIMATOR``).
DEFAULT_PAIR_CRF = 'pair'


def is_pair_spec(crf):
    """True for the CRF specs estimated from the pair itself: 'pair' and 'pair:ESTIMATOR'."""
    return isinstance(crf, str) and (crf == 'pair' or crf.startswith('pair:'))


def resolve_pair_crf(crf, dark, bright, t_dark, t_bright):
    """A CRF spec -> CRF for this pair's bit depth.

    Specs: 'pair' or 'pair:ESTIMATOR' (estimate from these two images with the default 'emor'
    estimator, or 'pair:polynomial', 'pair:debevec'), a preset name, 'dorf:INDEX',
    'emor:C1,...', a file path, a table or a CRF.
    """
    from expinterp_plugin.exposure.crf import resolve_crf
    from expinterp_plugin.exposure.estimate import DEFAULT_ESTIMATOR, estimate_crf
    if is_pair_spec(crf):
        method = crf.partition(':')[2] or DEFAULT_ESTIMATOR
        return estimate_crf([dark, bright], [t_dark, t_bright], method=method)
    resolved = resolve_crf(crf, levels=np.iinfo(dark.dtype).max + 1)
    if resolved.levels != np.iinfo(dark.dtype).max + 1:
        raise ValueError(f'CRF {resolved.name} has {resolved.levels} levels but the images are '
                         f'{dark.dtype}')
    return resolved


def interpolate_exposure(dark, bright, t_dark, t_bright, crf='pair', t_target=None,
                         imf='linear', xi_l=10, xi_u=250):
    """Model-driven medium exposure y0 of a dark/bright pair.

    Args:
        dark, bright: (H, W, 3) uint8 or uint16 arrays of one scene, same size and dtype, in any
            channel order (RGB throughout this package); the output keeps that order.
        t_dark, t_bright: exposure times in seconds, t_dark < t_bright.
        crf: 'pair' (estimate from these two images), a preset name ('srgb', 'gamma2.2',
            'linear'), a CRF file path, a (levels, 3) table or a CRF.
        t_target: target time in [t_dark, t_bright]; default sqrt(t_dark * t_bright).
        imf: 'linear' (proposed) or 'sigmoid' (double-sigmoid baseline).
        xi_l, xi_u: weight thresholds (8-bit scale).
    Returns:
        float32 (H, W, 3) in [0, 1].
    """
    check_pair(dark, bright)
    validate_times(t_dark, t_bright, t_target)
    crf = resolve_pair_crf(crf, dark, bright, t_dark, t_bright)
    return Y0Mapper(crf, t_dark, t_bright, t_target, xi_l, xi_u, imf)(dark, bright)
