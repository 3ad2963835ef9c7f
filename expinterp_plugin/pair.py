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
- the CRF, resolved from its spec;
- the geometry (issue 18): the moved frame (the one that is not ``reference``) is aligned onto
  the reference frame once, when the pair is made (``exposure.align``; a static pair keeps its
  arrays, bit-identical), and ``valid`` says where it has data;
- the moving subjects: on first use of the frames (``remove_ghosts``), the motion mask
  (``exposure.motion``) under the pair's own times and CRF; in the masked region, and where
  the moved frame has no data, the moved frame is replaced by the reference frame mapped
  through the IMF to its exposure, feathered by the mask. y0, the network and every fusion
  then see one consistent pair that shows each moving subject once. (Scaling the moved frame's
  Mertens weight by 1 - mask instead leaves 30-45 % of the ghost in the coarse Laplacian
  levels.)

The images are checked when the pair is made; times and CRF are found once, on first use;
plain fusion of the pair needs them only to look for moving subjects (``deghost``).

numpy + OpenCV only, no torch. Images that leave a ``Pair`` are RGB; y0 is float32 [0, 1].
"""
from dataclasses import dataclass
from pathlib import Path

import math

import cv2
import numpy as np

from expinterp_plugin.exposure import align as align_core
from expinterp_plugin.exposure import motion as motion_core
from expinterp_plugin.exposure.crf import resolve_crf
from expinterp_plugin.exposure.estimate import (DEFAULT_ESTIMATOR, JOINT_METHODS, PairExposure,
                                                estimate_pair_exposure, ratio_basis)
from expinterp_plugin.exposure.io import read_image, read_table, to_dtype
from expinterp_plugin.exposure.metadata import equivalent_exposure_times
from expinterp_plugin.exposure.imf import SigmoidFitError, imf_tables
from expinterp_plugin.exposure.pyramid_fusion import reduce_codes
from expinterp_plugin.exposure.y0 import (DEFAULT_PAIR_CRF, Y0Mapper, check_pair, is_pair_spec,
                                          resolve_pair_crf, validate_times)

REFERENCES = motion_core.REFERENCES
#: Mask fraction above which the pair CRF is fitted again without the masked pixels.
REFIT_FRACTION = 0.01
#: Errors of a pair's times or CRF (the model the motion mask needs).
MODEL_ERRORS = (ValueError, SigmoidFitError, cv2.error)


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
        (the fallback step), 'basis' ('measured' or 'prior-dominated': ``ratio_basis``)}; None
        for recorded times."""
        found = self.estimate
        if found is None:
            return None
        return {'ratio': round(found.ratio, 4), 'ev': round(math.log2(found.ratio), 3),
                'confidence': round(found.confidence, 3),
                'std_ev': round(found.std_ev, 3) if math.isfinite(found.std_ev) else None,
                'data_std_ev': (round(found.data_std_ev, 3) if math.isfinite(found.data_std_ev)
                                else None),
                'method': found.method, 'basis': ratio_basis(found)}


def recorded_times(dark_path, bright_path, exposures=None):
    """The times the user's files give: the ``exposures`` list file (``FILENAME SECONDS`` lines,
    matched by file name) when one is named, else both EXIF exposures (ExposureTime at the dark
    frame's ISO and aperture, ``equivalent_exposure_times``); None when neither has them. A
    list the user names wins over EXIF: cameras write wrong ExposureTimes (the Canon 30D
    sequence of the handheld set records 0.05 s for all five frames).

    ValueError naming the list file when it lacks one of the two names.
    """
    if exposures:
        table = read_table(exposures, 1)
        names = [Path(p).name for p in (dark_path, bright_path)]
        missing = [n for n in names if n not in table]
        if missing:
            raise ValueError(f'{exposures}: no time for {", ".join(missing)}')
        return ExposureTimes(table[names[0]][0], table[names[1]][0], 'exposures file')
    exif = equivalent_exposure_times((dark_path, bright_path))
    if exif is not None:
        return ExposureTimes(exif[0], exif[1], 'exif')
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
        align: ``exposure.align.ALIGN_OPTIONS``: 'auto' (the simplest motion model the frames support; no
            motion leaves the arrays as they are), a model of ``exposure.align.MODELS``, or
            'off'. With 'auto' a frame with too little signal to align (nearly black) is left
            as it is, with a note in ``warnings``.
        reference: 'dark' or 'bright': the frame whose geometry the output has and which
            moving regions take alone.
        deghost: look for moving subjects (``remove_ghosts``) before the frames are used.
    ValueError (naming the images or the list file) for a pair or times the method cannot use,
    and for frames that cannot be aligned (different scenes, too little overlap).
    """

    def __init__(self, dark, bright, times=None, t_target=None, crf=DEFAULT_PAIR_CRF,
                 names=('dark', 'bright'), paths=None, exposures=None, align='auto',
                 reference='dark', deghost=True):
        check_pair(dark, bright, *names)
        if align not in align_core.ALIGN_OPTIONS:
            raise ValueError(f'alignment {align!r}: choose one of '
                             f'{", ".join(align_core.ALIGN_OPTIONS)}')
        if reference not in REFERENCES:
            raise ValueError(f'reference frame {reference!r}: choose dark or bright')
        self.names, self.reference, self.warnings = tuple(names), reference, []
        self.alignment, self._dark, self._bright, self.valid = self._aligned(dark, bright,
                                                                             align)
        self._all_valid = self.alignment is None or not self.alignment.moved
        # The caller's arrays are never changed: ghost removal copies a frame it still holds.
        self._inputs = (id(dark), id(bright))
        # The frames the times and CRF are fitted to; the second pass of ``remove_ghosts``
        # narrows them to the pixels outside the motion mask.
        self._fit_frames = (self._dark, self._bright)
        self._ghosts_pending = deghost
        #: The ``MotionMask`` found by ``remove_ghosts`` (at the size it was computed at), or
        #: None; ``motion_skipped`` says why the search did not run where it could not.
        self.motion, self.motion_skipped = None, None
        self._reduced = {}
        if times is not None and not isinstance(times, ExposureTimes):
            times = ExposureTimes(*times)
        self._times, self._requested_target = times, t_target
        self._paths, self._exposures = paths, exposures
        self._looked_up = False
        self._t_target = None
        self.crf_spec = crf
        self._crf = None
        self._mappers = {}

    def __repr__(self):
        height, width = self.shape[:2]
        return f'Pair({self.names[0]}, {self.names[1]}, {width}x{height} {self.dtype})'

    def known_times(self):
        """The ``ExposureTimes`` given or recorded by the files (EXIF, list file), found without
        estimating anything; None when the ratio is left to be estimated from the images."""
        if self._times is None and self._paths is not None and not self._looked_up:
            self._times = recorded_times(*self._paths, self._exposures)
            self._looked_up = True
        return self._times

    def _checked_times(self):
        """(ExposureTimes, target time): given, recorded by the files, else estimated; found
        and checked (``validate_times``) on the first call only."""
        if self._t_target is None:
            times = self.known_times()
            if times is None:
                times = estimated_times(*self._fit_frames, self.crf_spec)
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
        return self._dark.dtype

    @property
    def shape(self):
        """(H, W, 3) of both frames (the reference frame's size)."""
        return self._dark.shape

    @property
    def dark(self):
        """The dark frame, RGB uint8/uint16 (H, W, 3): aligned and without ghosts (moving
        subjects looked for at full size on first use unless ``remove_ghosts`` ran)."""
        self.remove_ghosts()
        return self._dark

    @property
    def bright(self):
        """The bright frame, as ``dark``."""
        self.remove_ghosts()
        return self._bright

    def _aligned(self, dark, bright, align):
        """(Alignment or None, dark, bright, valid bool (H, W)) with the moved frame warped onto
        the reference; an unmoved pair keeps its arrays and gets a read-only all-True valid."""
        everywhere = np.broadcast_to(np.True_, dark.shape[:2])
        if align == 'off':
            return None, dark, bright, everywhere
        reference, moving = (dark, bright) if self.reference == 'dark' else (bright, dark)
        try:
            alignment = align_core.estimate_alignment(reference, moving, align)
        except ValueError as err:
            reason = align_core.unaligned_reason(reference, moving) if align == 'auto' else None
            if reason is None:
                raise ValueError(f'{self.names[0]} + {self.names[1]}: cannot align: '
                                 f'{str(err).splitlines()[0]}') from None
            if reason:
                self.warnings.append(f'{self.names[0]} + {self.names[1]}: {reason}; used as '
                                     'taken')
            return None, dark, bright, everywhere
        warped, valid = align_core.warp_to_reference(moving, alignment)
        if self.reference == 'dark':
            return alignment, dark, warped, valid
        return alignment, warped, bright, valid

    def common_box(self):
        """(rows, cols) slices of the rectangle where both frames have data
        (``exposure.align.common_area``): the whole frame for an unmoved pair."""
        height, width = self.shape[:2]
        if self._all_valid:
            return slice(0, height), slice(0, width)
        top, left, rows, cols = align_core.common_area(np.asarray(self.valid))
        return slice(top, top + rows), slice(left, left + cols)

    def motion_record(self):
        """JSON fields of the geometry and the moving subjects: {'alignment': the estimated
        motion (None when alignment is off or was skipped), 'motion': the mask's record, or
        {'skipped': why} where it could not be computed, None when not looked for}."""
        motion = self.motion.to_record() if self.motion is not None else None
        if self.motion_skipped is not None:
            motion = {'skipped': self.motion_skipped}
        return {'alignment': None if self.alignment is None else self.alignment.to_record(),
                'motion': motion}

    def remove_ghosts(self, level=0):
        """Find the moving subjects and make the pair consistent, once (a no-op afterwards
        and for ``deghost=False``).

        The mask (``exposure.motion.motion_mask``) is computed on ``reduced(level)`` under its
        times and CRF (the copy a coarse-middle fusion makes its middle frame on: nothing is
        estimated twice) and enlarged once. When it covers more than ``REFIT_FRACTION`` of the
        frame and the CRF is estimated from the pair, the times (if estimated) and the CRF are
        fitted again without the masked pixels. Then, in the mask (feathered) and where the
        moved frame has no data (``valid`` False), the frame that is not the reference becomes
        the reference mapped through the IMF to its exposure, at every size the pair holds.
        A pair whose times or CRF cannot be found is left as aligned (``motion_skipped``).
        """
        if not self._ghosts_pending:
            return
        self._ghosts_pending = False
        model = self.reduced(level)
        try:
            mapper = model.mapper()
            mask = motion_core.motion_mask(model._dark, model._bright, mapper,
                                           None if model._all_valid else model.valid,
                                           self.reference)
            if mask.fraction > REFIT_FRACTION and is_pair_spec(model.crf_spec):
                mapper = model._refit(mask.mask)
        except MODEL_ERRORS as err:
            self.motion_skipped = str(err).splitlines()[0]
            return
        self.motion = mask
        if not mask.searched:
            self.warnings.append(
                f'{self.names[0]} + {self.names[1]}: moving subjects not searched: the camera '
                f'response does not explain this pair (its median pixel disagrees {mask.misfit:.1f}'
                'x beyond the predicted noise; a phone\'s local tone mapping or wrong exposure '
                'times); check the times, or --deghost off to silence this')
        other_table = imf_tables(mapper.crf, [self._other_ratio(mapper)])[0]
        for pair in {id(p): p for p in (model, self, *self._reduced.values())}.values():
            pair._substitute(mask.mask, other_table)

    def _other_ratio(self, mapper):
        """t_other / t_reference of ``mapper``'s times."""
        ratio = mapper.t_bright / mapper.t_dark
        return ratio if self.reference == 'dark' else 1.0 / ratio

    def _refit(self, mask):
        """Fit this pair's times (when estimated) and CRF again on the pixels outside
        ``mask`` (float32 (H, W)) where both frames have data; returns the new default mapper.
        The estimators work on histograms, so the kept pixels go in as one (1, N, 3) row."""
        keep = mask == 0
        if not self._all_valid:
            keep &= self.valid
        self._fit_frames = (self._dark[keep][None], self._bright[keep][None])
        if self._times is not None and self._times.source == 'estimated ratio':
            self._times = None
        self._t_target, self._crf, self._mappers = None, None, {}
        return self.mapper()

    def _substitute(self, mask, other_table):
        """Replace the moved frame by the reference frame's IMF mapping (``other_table``,
        (levels, 3) codes) with weight max(mask, not valid); ``mask`` float32 [0, 1] at any
        size, enlarged (as 8-bit weights, a quarter of float32's memory) to this pair's."""
        height, width = self.shape[:2]
        weight = np.rint(mask * np.float32(255)).astype(np.uint8)
        if weight.shape != (height, width):
            weight = cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR)
        if not self._all_valid:
            weight[~self.valid] = 255
        if not weight.any():
            return
        other, reference = ((self._bright, self._dark) if self.reference == 'dark' else
                            (self._dark, self._bright))
        if id(other) in self._inputs:
            other = other.copy()
        motion_core.substitute(other, reference, other_table, weight)
        if self.reference == 'dark':
            self._bright = other
        else:
            self._dark = other

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
                self._crf = resolve_pair_crf(self.crf_spec, *self._fit_frames, self.t_dark,
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

    def reduced(self, level):
        """This pair after ``level`` pyramid halvings (``pyramid_fusion.reduce_codes``), for a
        middle frame that only coarse scales use: the same target time and CRF spec (the CRF
        itself once resolved), and the times given or recorded by the files; unknown times are
        estimated from the small copy, which is where the work is saved. Level 0 is the pair
        itself. The copy is made once per level from the aligned frames (it is not aligned
        again; its ``valid`` is the moved frame's data area at its size) and shares the
        pair's ghost removal (``remove_ghosts``)."""
        if level == 0:
            return self
        if level not in self._reduced:
            small = Pair(reduce_codes(self._dark, level), reduce_codes(self._bright, level),
                         self.known_times(), self._requested_target,
                         self.crf_spec if self._crf is None else self._crf, self.names,
                         align='off', reference=self.reference, deghost=False)
            if not self._all_valid:
                small.valid = align_core.reduced_valid(self.alignment, level, small.shape)
                small._all_valid = False
            self._reduced[level] = small
        return self._reduced[level]

    def codes(self, img01):
        """A float [0, 1] image as codes of the pair's dtype (rounded), as a file stores it."""
        return to_dtype(img01, self.dtype)


def read_pair(dark_path, bright_path, times=None, exposures=None, t_target=None,
              crf=DEFAULT_PAIR_CRF, align='auto', reference='dark', deghost=True):
    """The ``Pair`` of two image files; errors name the files.

    times: (t_dark, t_bright) from the caller; otherwise the ``exposures`` list file when
    named, then the files' EXIF, else the ratio is estimated (``Pair.times.source`` says which).
    align, reference, deghost: as ``Pair``.
    """
    dark, bright = read_image(dark_path), read_image(bright_path)
    return Pair(dark, bright, times, t_target, crf, names=(str(dark_path), str(bright_path)),
                paths=(dark_path, bright_path), exposures=exposures, align=align,
                reference=reference, deghost=deghost)
