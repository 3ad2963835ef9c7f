"""A dark/bright pair, checked once, with its exposure times, CRF and y0 mapper (docs/design.md,
"Pair pipeline").

Every way into the method starts here: the commands (`expinterp y0`, `interpolate`, `fuse`),
evaluation and ``Interpolator`` all build a ``Pair``, and everything below it (the CRF, the
``Y0Mapper``, the network, the fusion) trusts what the pair checked:

- the images: RGB uint8/uint16 (H, W, 3), one size and bit depth, dark not brighter than
  bright (``exposure.y0.check_pair``, two full-image means: once per pair);
- the exposure times, with where they came from (``ExposureTimes.source``): the caller's
  arguments, the files' EXIF, a ``FILENAME SECONDS`` list file, else t_dark = 1 s and the ratio
  estimated from the images (``exposure.estimate.estimate_pair_exposure``, which never fails
  and never gives a ratio <= 1; ``ExposureTimes.estimate`` keeps what it found);
- the target time, default sqrt(t_dark t_bright);
- the CRF, resolved from its spec.

The images are checked when the pair is made; times and CRF are found once, on first use, so
that plain fusion of the pair (``fuse()`` without a middle frame) needs neither.

numpy + OpenCV only, no torch. Images that leave a ``Pair`` are RGB; y0 is float32 [0, 1].
"""
from dataclasses import dataclass
from pathlib import Path

import math

import numpy as np

from expinterp_plugin.exposure.crf import resolve_crf
from expinterp_plugin.exposure.estimate import (DEFAULT_ESTIMATOR, JOINT_METHODS, PairExposure,
                                                estimate_pair_exposure)
from expinterp_plugin.exposure.io import exif_exposure_time, read_image, read_table, to_dtype
from expinterp_plugin.exposure.y0 import (DEFAULT_PAIR_CRF, Y0Mapper, check_pair, is_pair_spec,
                                          resolve_pair_crf, validate_times)

#: Where a pair's exposure times came from, in the order they are looked for.


@dataclass
class Interpolation:
    """One middle frame of a pair: ``output`` and ``y0`` float32 (H, W, 3) RGB in [0, 1] (``y0``
    None where it was not computed, e.g. a direct-mode network), ``mapper`` the Y0Mapper used
    (its CRF, IMF tables and target time; None when y0 was not computed)."""
    output: np.ndarray
    y0: np.ndarray = None
    mapper: Y0Mapper = None


@dataclass(frozen=True)
class ExposureTimes:
    """Exposure times in seconds and their ``source`` ('arguments', 'exif', 'exposures file' or
    'estimated ratio'); ``estimate``
    the ``PairExposure`` behind an estimated ratio (None for recorded times)."""
    t_dark: float
    t_bright: float
    source: str = 'arguments'
    estimate: PairExposure = None

    def estimate_record(self):
        """The ratio estimate as JSON fields {'ratio', 'ev', 'confidence', 'std_ev',
        'data_std_ev' (the spread the images alone leave; both None when unknown), 'method'
        (the fallback step)}; None for recorded times."""
        found = self.estimate
        if found is None:
            return None
        return {'ratio': round(found.ratio, 4), 'ev': round(math.log2(found.ratio), 3),
                'confidence': round(found.confidence, 3),
                'std_ev': round(found.std_ev, 3) if math.isfinite(found.std_ev) else None,
                'data_std_ev': (round(found.data_std_ev, 3) if math.isfinite(found.data_std_ev)
                                else None),
                'method': found.method}


def recorded_times(dark_path, bright_path, exposures=None):
    """The times the files record: both EXIF ExposureTimes, else the ``exposures`` list file
    (``FILENAME SECONDS`` lines, matched by file name); None when neither has them.

    ValueError naming the list file when it lacks one of the two names.
    """
    exif = [exif_exposure_time(p) for p in (dark_path, bright_path)]
    if all(exif):
        return ExposureTimes(exif[0], exif[1], 'exif')
    if exposures:
        table = read_table(exposures, 1)
        names = [Path(p).name for p in (dark_path, bright_path)]
        missing = [n for n in names if n not in table]
        if missing:
            raise ValueError(f'{exposures}: no time for {", ".join(missing)}')
        return ExposureTimes(table[names[0]][0], table[names[1]][0], 'exposures file')
    return None


def estimated_times(dark, bright, crf=DEFAULT_PAIR_CRF):
    """t_dark = 1 s and t_bright the ratio estimated from the images (``estimate_pair_exposure``):
    under ``crf`` itself when it is known, jointly with the response under the DoRF and
    spacing priors when the CRF is to be estimated from the pair (the priors decide along the
    exponential ambiguity of an unknown response). ``Pair.crf`` then takes the joint fit's
    response for the default estimator, and fits other pair estimators at that ratio."""
    levels = 256 if dark.dtype.itemsize == 1 else 65536
    known = None if is_pair_spec(crf) else resolve_crf(crf, levels)
    found = estimate_pair_exposure(dark, bright, crf=known)
    return ExposureTimes(1.0, found.ratio, 'estimated ratio', found)


class Pair:
    """A checked dark/bright pair and what the method derives from it.

    Args:
        dark, bright: RGB uint8/uint16 (H, W, 3) arrays of one scene (any channel order works,
            the outputs keep it).
        times: ``ExposureTimes`` or (t_dark, t_bright) in seconds (source 'arguments'); None:
            ``recorded_times(*paths, exposures)`` when ``paths`` are given, else (or when they
            record none) the ratio is estimated (``estimated_times``).
        t_target: target time in [t_dark, t_bright]; default sqrt(t_dark t_bright).
        crf: CRF spec for ``resolve_pair_crf``: 'pair' / 'pair:METHOD' (estimated from these
            two images), a preset name, a table file path, a table or a ``CRF``.
        names: the two images' names in error messages (file paths when read from files).
        paths, exposures: the image files and a ``FILENAME SECONDS`` list file to look the
            times up in.
    ValueError (naming the images or the list file) for a pair or times the method cannot use.
    """

    def __init__(self, dark, bright, times=None, t_target=None, crf=DEFAULT_PAIR_CRF,
                 names=('dark', 'bright'), paths=None, exposures=None):
        check_pair(dark, bright, *names)
        self.dark, self.bright, self.names = dark, bright, tuple(names)
        if times is not None and not isinstance(times, ExposureTimes):
            times = ExposureTimes(*times)
        self._times, self._requested_target = times, t_target
        self._paths, self._exposures = paths, exposures
        self._t_target = None
        self.crf_spec = crf
        self._crf = None
        self._mappers = {}

    def __repr__(self):
        height, width = self.dark.shape[:2]
        return f'Pair({self.names[0]}, {self.names[1]}, {width}x{height} {self.dtype})'

    def _checked_times(self):
        """(ExposureTimes, target time): given, recorded by the files, else estimated; found
        and checked (``validate_times``) on the first call only."""
        if self._t_target is None:
            times = self._times
            if times is None and self._paths is not None:
                times = recorded_times(*self._paths, self._exposures)
            if times is None:
                times = estimated_times(self.dark, self.bright, self.crf_spec)
            self._t_target = validate_times(times.t_dark, times.t_bright, self._requested_target)
            self._times = times
        return self._times, self._t_target

    @property
    def times(self):
        """The ``ExposureTimes`` of the pair (where they came from in ``source``)."""
        return self._checked_times()[0]

    @property
    def t_target(self):
        """The target time in seconds."""
        return self._checked_times()[1]

    @property
    def t_dark(self):
        return float(self.times.t_dark)

    @property
    def t_bright(self):
        return float(self.times.t_bright)

    @property
    def dtype(self):
        """The inputs' sample type, np.uint8 or np.uint16: outputs are written in it."""
        return self.dark.dtype

    @property
    def crf(self):
        """The ``CRF`` of the spec, resolved (or estimated from the pair) on first use.

        When the ratio was estimated under a given CRF, that CRF is reused (resolved once); when
        it was estimated jointly with the response under the default estimator, that response
        is the CRF: it belongs to the reported ratio along the exponential
        ambiguity, so y0 does not depend on the prior over the spacing. A fit at the reported
        ratio would change y0 with that prior."""
        if self._crf is None:
            found = self.times.estimate
            if found is not None and (found.method == 'known-crf' or (
                    found.method in JOINT_METHODS
                    and self.crf_spec in (DEFAULT_PAIR_CRF, f'pair:{DEFAULT_ESTIMATOR}'))):
                self._crf = found.crf
            else:
                self._crf = resolve_pair_crf(self.crf_spec, self.dark, self.bright, self.t_dark,
                                             self.t_bright)
        return self._crf

    def mapper(self, xi_l=10, xi_u=250, imf='linear'):
        """The ``Y0Mapper`` of this pair's CRF and times (built once per setting; it checks
        xi_l and xi_u itself)."""
        key = (xi_l, xi_u, imf)
        if key not in self._mappers:
            self._mappers[key] = Y0Mapper(self.crf, self.t_dark, self.t_bright, self.t_target,
                                          xi_l, xi_u, imf)
        return self._mappers[key]

    def y0(self, xi_l=10, xi_u=250, imf='linear'):
        """The model-driven medium exposure, float32 (H, W, 3) in [0, 1]."""
        return self.mapper(xi_l, xi_u, imf)(self.dark, self.bright)

    def model_driven(self, xi_l=10, xi_u=250, imf='linear'):
        """y0 as this pair's ``Interpolation`` (output = y0): the middle frame without a
        network, in the form ``Interpolator.interpolate_pair`` returns."""
        mapper = self.mapper(xi_l, xi_u, imf)
        y0 = mapper(self.dark, self.bright)
        return Interpolation(y0, y0, mapper)

    def codes(self, img01):
        """A float [0, 1] image as codes of the pair's dtype (rounded), as a file stores it."""
        return to_dtype(img01, self.dtype)


def read_pair(dark_path, bright_path, times=None, exposures=None, t_target=None,
              crf=DEFAULT_PAIR_CRF):
    """The ``Pair`` of two image files; errors name the files.

    times: (t_dark, t_bright) from the caller; otherwise the files' EXIF, then the
    ``exposures`` list file, else the ratio is estimated (``Pair.times.source`` says which).
    """
    dark, bright = read_image(dark_path), read_image(bright_path)
    return Pair(dark, bright, times, t_target, crf, names=(str(dark_path), str(bright_path)),
                paths=(dark_path, bright_path), exposures=exposures)
