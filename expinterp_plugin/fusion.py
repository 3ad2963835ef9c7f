"""Exposure fusion of a pair with its interpolated middle frame (docs/design.md, "Pair pipeline"
and "Coarse-middle fusion").

``fuse_pair`` is what `expinterp fuse` runs. It asks the given middle-frame source for a pair's
``Interpolation`` (``Pair.model_driven`` for y0, ``Interpolator.interpolate_pair`` for a trained
network) and fuses by one of ``FUSION_METHODS``:

- ``coarse-middle`` (default): Mertens' blend of the pair at fine scales and of (bright,
  middle, dark) at coarse scales (``exposure.pyramid_fusion``); the middle frame only feeds
  coarse scales, so it is computed on a reduced copy of the pair (``Pair.reduced``). When the
  middle frame cannot be made (its times or CRF do not fit the pair) the pair alone is fused
  and ``Fusion.fallback`` says why;
- ``three-frame``: the paper's Mertens of (bright, middle, dark), the middle frame at full size;
- ``pair``: Mertens of (bright, dark) alone, no middle frame.

Every method fuses the pair as ``Pair`` delivers it, aligned and without ghosts: its moving
subjects are looked for first (``Pair.remove_ghosts``) on the reduced copy that ``coarse-middle``
makes its middle frame on (and the pair's plain fusion uses as well), on the full pair for
``three-frame``, whose middle frame is made at full size.

It imports no torch: the network arrives as a callable.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from expinterp_plugin.exposure import pyramid_fusion
from expinterp_plugin.exposure.fusion import mertens_fuse
from expinterp_plugin.exposure.imf import SigmoidFitError
from expinterp_plugin.exposure.y0 import Y0Mapper
from expinterp_plugin.pair import ExposureTimes

FUSION_METHODS = ('coarse-middle', 'three-frame', 'pair')
DEFAULT_FUSION = 'coarse-middle'


@dataclass
class Fusion:
    """A fused pair, every image codes of the pair's dtype (H, W, 3) RGB: ``fused``; the
    ``middle`` frame that went into it (None for the pair alone; at the reduced size for
    ``coarse-middle``); ``y0`` (only when kept, the middle frame's size); ``mapper`` the
    Y0Mapper of the middle frame (None without one); ``times`` the ExposureTimes it used (None
    without a middle frame); ``level`` the pyramid level the middle frame was made at (0: full
    size); ``fallback`` why the middle frame was left out (None when it was not)."""
    fused: np.ndarray
    middle: np.ndarray = None
    y0: np.ndarray = None
    mapper: Y0Mapper = None
    times: ExposureTimes = None
    level: int = 0
    fallback: str = None


def fuse_pair(pair, interpolate=None, keep_y0=False, method=DEFAULT_FUSION):
    """The ``Fusion`` of a ``Pair`` by ``method`` (``FUSION_METHODS``), the middle frame being
    ``interpolate(pair)`` (an ``Interpolation``); ``interpolate`` None or ``method`` 'pair'
    fuse (bright, dark) alone.

    Float frames are rounded to the pair's codes and dropped before the fusion: only integer
    frames stay alive through it, the memory peak of a large pair. ``keep_y0`` keeps y0 (codes).
    """
    if method not in FUSION_METHODS:
        raise ValueError(f'fusion {method!r}: choose one of {", ".join(FUSION_METHODS)}')
    pair.remove_ghosts(0 if method == 'three-frame' and interpolate is not None else
                       pyramid_fusion.reduced_level(pair.shape))
    if interpolate is None or method == 'pair':
        return Fusion(mertens_fuse([pair.bright, pair.dark]))
    if method == 'three-frame':
        middle, y0, mapper = _middle_codes(pair, interpolate, keep_y0)
        return Fusion(mertens_fuse([pair.bright, middle, pair.dark]), middle, y0, mapper,
                      pair.times)
    return _coarse_middle(pair, interpolate, keep_y0)


def _middle_codes(pair, interpolate, keep_y0):
    """(middle, y0 or None, mapper) of ``interpolate(pair)``, frames as the pair's codes."""
    interpolation = interpolate(pair)
    middle = pair.codes(interpolation.output)
    y0 = pair.codes(interpolation.y0) if keep_y0 and interpolation.y0 is not None else None
    return middle, y0, interpolation.mapper


def _coarse_middle(pair, interpolate, keep_y0):
    """``coarse-middle`` fusion: the middle frame made on ``Pair.reduced`` at the level
    ``pyramid_fusion.reduced_level`` picks; the pair alone when it cannot be made."""
    level = pyramid_fusion.reduced_level(pair.shape)
    small = pair.reduced(level)
    try:
        middle, y0, mapper = _middle_codes(small, interpolate, keep_y0)
        times = small.times
    except (ValueError, SigmoidFitError, cv2.error) as err:
        return Fusion(pyramid_fusion.coarse_middle_fuse(pair.dark, pair.bright, dtype=pair.dtype),
                      fallback=str(err).splitlines()[0])
    fused = pyramid_fusion.coarse_middle_fuse(pair.dark, pair.bright,
                                              (level, small.dark, middle, small.bright),
                                              dtype=pair.dtype)
    return Fusion(fused, middle, y0, mapper, times, level)


def coarse_middle_codes(dark, middle, bright):
    """``coarse-middle`` fusion of three full-size frames (RGB codes (H, W, 3), one dtype) as
    codes of their dtype: what `expinterp fuse` makes of a pair whose middle frame is made at
    full size (short side < 1024 px)."""
    return pyramid_fusion.coarse_middle_fuse(dark, bright, (0, dark, middle, bright),
                                             dtype=dark.dtype)
