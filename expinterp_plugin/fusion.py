"""Exposure fusion of a pair with its interpolated middle frame (docs/design.md, "Pair pipeline").

``fuse_pair`` is what `expinterp fuse` runs: it asks the given middle-frame source for the
pair's ``Interpolation`` (``Pair.model_driven`` for y0, ``Interpolator.interpolate_pair`` for a
trained network), rounds it to the pair's codes and Mertens-fuses (bright, middle, dark) with
``exposure.fusion.mertens_fuse``. It imports no torch: the network arrives as a callable.
"""
from dataclasses import dataclass

import numpy as np

from expinterp_plugin.exposure.fusion import mertens_fuse
from expinterp_plugin.exposure.y0 import Y0Mapper


@dataclass
class Fusion:
    """A fused pair, every image codes of the pair's dtype (H, W, 3) RGB: ``fused``; the
    ``middle`` frame that went into it (None for the pair alone); ``y0`` (only when kept);
    ``mapper`` the Y0Mapper of the middle frame (None without one)."""
    fused: np.ndarray
    middle: np.ndarray = None
    y0: np.ndarray = None
    mapper: Y0Mapper = None


def fuse_pair(pair, interpolate=None, keep_y0=False):
    """The ``Fusion`` of a ``Pair``: Mertens of (bright, middle, dark), the middle frame being
    ``interpolate(pair)`` (an ``Interpolation``), or of (bright, dark) alone when
    ``interpolate`` is None.

    Float frames are rounded to the pair's codes and dropped before the fusion: only integer
    frames stay alive through it, the memory peak of a large pair. ``keep_y0`` keeps y0 (codes).
    """
    if interpolate is None:
        return Fusion(mertens_fuse([pair.bright, pair.dark]))
    interpolation = interpolate(pair)
    middle = pair.codes(interpolation.output)
    y0 = pair.codes(interpolation.y0) if keep_y0 and interpolation.y0 is not None else None
    mapper = interpolation.mapper
    del interpolation
    return Fusion(mertens_fuse([pair.bright, middle, pair.dark]), middle, y0, mapper)
