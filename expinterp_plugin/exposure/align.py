"""Global, exposure-invariant alignment of one frame of a pair onto the other (issue 18).

A handheld pair differs by camera motion as well as by ~4 EV of exposure. The motion is
estimated on grey copies of at most ``max_side`` pixels that are made comparable first: the
darker frame is mapped onto the brighter one's tones by cumulative histogram matching (the
order-preserving IMF of Grossberg & Nayar 2003, which needs no CRF and hardly notices the motion),
and both are clamped to the band of tones that both frames record, so that a region clipped in
one frame is flat in both. On these:

1. a coarse integer translation from median threshold bitmaps (Ward 2003, OpenCV's
   ``AlignMTB``), which ignore exposure altogether;
2. refinement by ECC maximisation (Evangelidis & Psarakis 2008, ``cv2.findTransformECC``, itself
   invariant to gain and offset) from coarse to fine on an image pyramid, for the translation,
   then the euclidean (rotation + translation), then the homography model; ``model='auto'``
   keeps the simplest of them that the data support.

Only the final warp runs at full resolution. Matrices map reference pixel coordinates
(x, y, 1), full resolution, pixel centres at integers, to the moving frame's; warping samples the
moving frame there (``cv2.WARP_INVERSE_MAP``).
"""
import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Motion models from the simplest; ``auto`` picks among them.
MODELS = ('translation', 'euclidean', 'homography')
ALIGN_CHOICES = ('auto',) + MODELS
#: What callers offer as --align: 'off' (frames as given) and the choices above.
ALIGN_OPTIONS = ('off',) + ALIGN_CHOICES
_PARAMETERS = {'translation': 2, 'euclidean': 3, 'homography': 8}
_ECC_MOTION = {'translation': cv2.MOTION_TRANSLATION, 'euclidean': cv2.MOTION_EUCLIDEAN,
               'homography': cv2.MOTION_HOMOGRAPHY}
#: Band of 8-bit-scale codes both frames must record to count as signal: the reliability
#: thresholds of y0's weights (docs/design.md, "Reliability weights and y0").
_SIGNAL_LOW, _SIGNAL_HIGH = 10, 250
#: Coarsest pyramid level of the ECC refinement (long side, pixels).
_COARSEST_SIDE = 160
#: ECC iterations and convergence threshold per pyramid level.
_ECC_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-5)
#: MTB search: 2**6 = 64 px either way at the estimation size (6 % of 1024 px).
#: Share of the unmoved frames' uncorrelated part that an 'auto' motion must remove: static
#: 40 x 56 test pairs gain 4-6 %, static real brackets 0-15 %, a 0.5 px shift at 1024 px 30-50 %.
STATIC_GAIN = 0.1
_MTB_BITS = 6


@dataclass(frozen=True)
class Alignment:
    """The estimated motion of the moving frame relative to the reference frame.

    Attributes:
        model: 'none' (no measurable motion: use the moving frame as it is), 'translation',
            'euclidean' or 'homography'.
        matrix: float64 (3, 3); maps reference pixel coordinates (x, y, 1) at full resolution
            to the moving frame's (identity for 'none').
        displacement_px: largest displacement of the four image corners under ``matrix``
            (full-resolution pixels), the measured motion.
        correlation: ECC correlation coefficient of the exposure-normalised grey copies at the
            estimate (-1..1; 1 = identical up to gain and offset).
        overlap: fraction of the reference frame that the moving frame covers after warping.
        width, height: full-resolution size of both frames.
    """
    model: str
    matrix: np.ndarray
    displacement_px: float
    correlation: float
    overlap: float
    width: int
    height: int

    @property
    def moved(self):
        """True when the moving frame has to be warped."""
        return self.model != 'none'

    def to_record(self):
        """JSON-ready dict: model, matrix (reference -> moving, 3x3 rows), displacement, ..."""
        return {'model': self.model, 'direction': 'reference->moving',
                'matrix': [[round(float(v), 8) for v in row] for row in self.matrix],
                'displacement_px': round(self.displacement_px, 3),
                'correlation': round(self.correlation, 4), 'overlap': round(self.overlap, 4)}


def estimate_alignment(reference, moving, model='auto', max_side=1024, static_px=0.25,
                       min_correlation=0.6, min_overlap=0.5):
    """Estimate the motion of ``moving`` onto ``reference``.

    Args:
        reference, moving: RGB uint8/uint16 (H, W, 3) frames of one scene, same shape and dtype,
            any exposures (either may be the darker one).
        model: 'auto' (the simplest model the data support) or one of ``MODELS``.
        max_side: the estimate works on copies reduced by an integer factor to a long side of
            at most this.
        static_px: motion below this many full-resolution pixels, or below 0.1 pixel of the
            estimation copy (what the estimate resolves), counts as none; so does, for
            ``model='auto'``, a motion that removes less than ``STATIC_GAIN`` of the
            uncorrelated part 1 - correlation of the unmoved frames (sub-pixel misfits of
            small or heavily clipped static frames).
        min_correlation: ECC correlation below which the frames are taken for different scenes.
        min_overlap: smallest fraction of the reference the moved frame must still cover.
    Returns:
        ``Alignment``.
    Raises:
        ValueError (one line naming the problem) when the pair cannot be aligned.
    """
    if model not in ALIGN_CHOICES:
        raise ValueError(f'alignment model {model!r}: choose one of {", ".join(ALIGN_CHOICES)}')
    if reference.shape != moving.shape or reference.dtype != moving.dtype:
        raise ValueError(f'cannot align frames of shapes {reference.shape} {reference.dtype} and '
                         f'{moving.shape} {moving.dtype}')
    height, width = reference.shape[:2]
    ref_grey, mov_grey = grey_copy(reference, max_side), grey_copy(moving, max_side)
    # Candidate starts: no motion, and two coarse estimates that fail in different ways (MTB
    # on nearly black frames, phase correlation on repetitive texture).
    starts = {(0.0, 0.0), mtb_shift(ref_grey, mov_grey)}
    ref_grey, mov_grey = normalised_greys(ref_grey, mov_grey)
    starts.add(phase_shift(ref_grey, mov_grey))
    to_full = estimation_to_full(ref_grey.shape, (height, width))
    chosen, matrix, correlation = refine_models(ref_grey, mov_grey, model, sorted(starts))
    if correlation < min_correlation:
        raise ValueError(f'the frames do not match (ECC correlation {correlation:.2f} < '
                         f'{min_correlation}): different scenes, or too much motion or blur')
    full = to_full @ matrix @ np.linalg.inv(to_full)
    full /= full[2, 2]
    displacement = corner_displacement(full, width, height)
    resolvable = 0.1 * max(width / ref_grey.shape[1], height / ref_grey.shape[0])
    if displacement < max(static_px, resolvable):
        return Alignment('none', np.eye(3), displacement, correlation, 1.0, width, height)
    if model == 'auto':
        unmoved, moved = common_correlation(ref_grey, mov_grey, [np.eye(3), matrix])
        if moved - unmoved < STATIC_GAIN * (1.0 - unmoved):
            return Alignment('none', np.eye(3), displacement, unmoved, 1.0, width, height)
    overlap = overlap_fraction(full, width, height)
    if overlap < min_overlap:
        raise ValueError(f'the frames overlap by {overlap:.0%} only after alignment '
                         f'(need {min_overlap:.0%})')
    return Alignment(chosen, full, displacement, correlation, overlap, width, height)


def unmoved_correlation(reference, moving, max_side=512):
    """Rank correlation (Spearman) of the two frames' greys as taken (no motion): near 1 for
    one scene shot from about one place, low for different scenes, whatever the exposures (a
    camera response keeps the order of tones). Pixels at either frame's darkest or brightest
    tone are left out; NaN when fewer than 100 remain (flat frames: nothing to align by). What
    a caller checks when the motion estimate itself fails, e.g. on a frame too dark for
    ``normalised_greys`` to keep any tone."""
    ref, mov = grey_copy(reference, max_side), grey_copy(moving, max_side)
    usable = (ref > ref.min()) & (ref < ref.max()) & (mov > mov.min()) & (mov < mov.max())
    if usable.sum() < 100:
        return math.nan
    ranks = [np.argsort(np.argsort(grey[usable])).astype(np.float64) for grey in (ref, mov)]
    return float(np.corrcoef(*ranks)[0, 1])


def common_area(valid, max_side=512):
    """(top, left, height, width) of an axis-aligned rectangle in which ``valid`` (bool (H, W),
    True where every frame has data) is all True; the whole frame when it is.

    Found by trimming, one at a time, the border row or column with the largest share of
    missing pixels: the data area of frames moved by a similarity or a mild homography is a
    convex quadrilateral near the frame's own rectangle, and this cuts its thin missing wedges
    (not guaranteed the largest rectangle). Larger masks are trimmed on a copy reduced by an
    integer factor to at most ``max_side``, where a cell counts only when all its pixels have
    data, and the result is pulled in by one cell. ValueError when nothing remains.
    """
    height, width = valid.shape
    if valid.all():
        return 0, 0, height, width
    factor = max(1, -(-max(height, width) // max_side))
    inside = valid
    if factor > 1:
        size = (-(-width // factor), -(-height // factor))
        inside = cv2.resize(np.asarray(valid, np.uint8) * np.uint8(255), size,
                            interpolation=cv2.INTER_AREA) == 255
    top, left, bottom, right = 0, 0, inside.shape[0], inside.shape[1]
    while top < bottom and left < right and not inside[top:bottom, left:right].all():
        box = inside[top:bottom, left:right]
        missing = [1.0 - box[0].mean(), 1.0 - box[-1].mean(), 1.0 - box[:, 0].mean(),
                   1.0 - box[:, -1].mean()]
        edge = int(np.argmax(missing))
        top, bottom = top + (edge == 0), bottom - (edge == 1)
        left, right = left + (edge == 2), right - (edge == 3)
    margin = 1 if factor > 1 else 0
    top, left = (top + margin) * factor, (left + margin) * factor
    bottom = min(height, (bottom - margin) * factor)
    right = min(width, (right - margin) * factor)
    if top >= bottom or left >= right:
        raise ValueError('the aligned frames share no area')
    return top, left, bottom - top, right - left


#: Share of a frame's pixels in the band both frames record (8-bit codes 10..250, the
#: thresholds of y0's weights) below which it has too little signal to be aligned.
MIN_SIGNAL_SHARE = 0.2
#: With model 'auto', a pair whose motion estimate fails is still used unaligned when its
#: frames as taken correlate at least this well (one scene from about one place: ECC may fail
#: to converge on flat or heavily clipped tripod pairs, four of MEFB's 100 among them, whose
#: rank correlations are 0.57-0.95; two different scenes gave -0.05).
STATIC_MATCH = 0.4


def unaligned_reason(reference, moving):
    """Why a pair whose motion estimate failed may be used as taken ('' for flat frames, which
    have nothing to align by and nothing to warn of), or None when it must be refused (the
    frames look like different scenes)."""
    if signal_share(reference, moving) < MIN_SIGNAL_SHARE:
        return 'too little signal to align (a frame nearly black or white)'
    correlation = unmoved_correlation(reference, moving)
    if math.isnan(correlation):
        return ''
    if correlation >= STATIC_MATCH:
        return (f'the motion could not be estimated, but the frames match as taken '
                f'(correlation {correlation:.2f})')
    return None


def signal_share(reference, moving):
    """The smaller of the two frames' shares of grey pixels (on copies of at most 256 px) in
    the band both frames record, 8-bit codes 10..250: what alignment has to go on."""
    shares = []
    for frame in (reference, moving):
        grey = grey_copy(frame, 256) * 255.0
        shares.append(float(np.mean((grey >= 10) & (grey <= 250))))
    return min(shares)


def reduced_valid(alignment, level, shape):
    """bool (h, w): where the moved frame has data in the copy of a pair after ``level``
    pyramid halvings (shape (h, w, 3)): the full-size ``alignment`` rescaled, the data area
    warped at that size."""
    scale = pixel_scaling(0.5 ** level)
    matrix = scale @ alignment.matrix @ np.linalg.inv(scale)
    small = Alignment(alignment.model, matrix, alignment.displacement_px, alignment.correlation,
                      alignment.overlap, shape[1], shape[0])
    return warp_to_reference(np.zeros(shape[:2], np.uint8), small)[1]


def warp_to_reference(moving, alignment):
    """``moving`` resampled into the reference frame's geometry, and where it has data.

    Args:
        moving: RGB uint8/uint16 (H, W, 3), the frame ``alignment`` was estimated for.
        alignment: ``Alignment``.
    Returns:
        (warped, valid): warped has ``moving``'s shape and dtype (bilinear; outside the moving
        frame its border is repeated, so the values stay plausible); valid is bool (H, W), True
        where every bilinear tap lies inside the moving frame. For model 'none' warped is
        ``moving`` itself (the same object, bit-identical) and valid a read-only all-True view.
    """
    height, width = moving.shape[:2]
    if not alignment.moved:
        return moving, np.broadcast_to(np.True_, (height, width))
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    if alignment.model == 'homography':
        warp = lambda img, border: cv2.warpPerspective(  # noqa: E731
            img, alignment.matrix, (width, height), flags=flags, borderMode=border)
    else:
        warp = lambda img, border: cv2.warpAffine(  # noqa: E731
            img, alignment.matrix[:2], (width, height), flags=flags, borderMode=border)
    warped = warp(np.ascontiguousarray(moving), cv2.BORDER_REPLICATE)
    # A bilinear sample mixes in the constant 0 border as soon as one tap falls outside.
    valid = warp(np.full((height, width), 255, np.uint8), cv2.BORDER_CONSTANT) == 255
    return warped, valid


def align_pair(reference, moving, model='auto', **options):
    """``estimate_alignment`` then ``warp_to_reference``: (alignment, warped, valid)."""
    alignment = estimate_alignment(reference, moving, model, **options)
    warped, valid = warp_to_reference(moving, alignment)
    return alignment, warped, valid


# --- exposure-normalised grey copies --------------------------------------------------------

def grey_copy(img, max_side):
    """RGB uint8/uint16 (H, W, 3) -> float32 grey in [0, 1], area-averaged by the smallest
    integer factor that brings the long side to at most ``max_side`` (OpenCV's fast path)."""
    h, w = img.shape[:2]
    factor = -(-max(h, w) // max_side)
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA) if factor > 1 else img
    grey = cv2.cvtColor(small.astype(np.float32), cv2.COLOR_RGB2GRAY)
    return grey / np.float32(np.iinfo(img.dtype).max)


def tone_table(src, ref, bins=1024):
    """Cumulative histogram matching of grey ``src`` onto ``ref`` (float32 [0, 1]): (edges,
    table), float64 (bins + 1,); ``np.interp(v, edges, table)`` is the value of ``ref`` at the
    quantile of ``src`` where ``v`` lies (monotone)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    cdf_src = np.concatenate([[0.0], np.cumsum(np.histogram(src, bins, (0, 1))[0])]) / src.size
    cdf_ref = np.concatenate([[0.0], np.cumsum(np.histogram(ref, bins, (0, 1))[0])]) / ref.size
    return edges, np.interp(cdf_src, cdf_ref, edges)


def normalised_greys(ref, mov):
    """Grey copies (float32 [0, 1], ``grey_copy``) of both frames brought to one exposure.

    The darker frame is histogram-matched onto the brighter one (which resolves the shadows the
    darker one crushes); then both are clamped to the tones that both frames record: above the
    darker frame's near-black threshold (mapped) and below the brighter one's clip threshold.
    """
    ref_is_dark = ref.mean() <= mov.mean()
    dark, bright = (ref, mov) if ref_is_dark else (mov, ref)
    edges, table = tone_table(dark, bright)
    dark = np.interp(dark, edges, table).astype(np.float32)
    low = float(np.interp(_SIGNAL_LOW / 255.0, edges, table))
    high = _SIGNAL_HIGH / 255.0
    dark, bright = np.clip(dark, low, high), np.clip(bright, low, high)
    return (dark, bright) if ref_is_dark else (bright, dark)


# --- ECC from coarse to fine ----------------------------------------------------------------

def pyramid(img):
    """[img, img / 2, ...] (cv2.pyrDown) down to a long side of about ``_COARSEST_SIDE``,
    coarsest first."""
    levels = [img]
    while max(levels[-1].shape) > 2 * _COARSEST_SIDE:
        levels.append(cv2.pyrDown(levels[-1]))
    return levels[::-1]


def mtb_shift(ref, mov):
    """Integer translation (dx, dy) of ``mov`` relative to ``ref`` (grey float32 [0, 1], any
    exposures) from median threshold bitmaps (Ward 2003): mov(x + dx, y + dy) ~ ref(x, y)."""
    to_u8 = lambda g: np.clip(np.rint(g * 255), 0, 255).astype(np.uint8)  # noqa: E731
    # AlignMTB halves the image once per bit and fails on a level under a few pixels.
    bits = max(0, min(_MTB_BITS, int(np.log2(min(ref.shape))) - 4))
    if bits == 0:
        return 0.0, 0.0
    shift = cv2.createAlignMTB(bits, 4, False).calculateShift(to_u8(ref), to_u8(mov))
    # calculateShift answers how to move ``mov`` onto ``ref``: the opposite displacement.
    return -float(shift[0]), -float(shift[1])


def phase_shift(ref, mov):
    """Sub-pixel translation (dx, dy) of ``mov`` relative to ``ref`` (grey float32 at one
    exposure) by phase correlation of their gradient magnitudes (edges, not tones)."""
    def edges(g):
        return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    window = cv2.createHanningWindow(ref.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(edges(ref), edges(mov), window)
    return float(dx), float(dy)


def coarse_translation(ref_levels, mov_levels, starts):
    """The best translation (3x3, estimation-size coordinates) that ECC reaches on the
    coarsest pyramid level from any of the candidate shifts ``starts`` [(dx, dy), ...] at
    estimation size. Raises ValueError when ECC converges from none of them."""
    best, best_score, failure = None, -np.inf, None
    for dx, dy in starts:
        start = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
        try:
            matrix, score = ecc_on_pyramid(ref_levels, mov_levels, 'translation', start,
                                           last_level=0)
        except ValueError as err:
            failure = err
            continue
        if score > best_score:
            best, best_score = matrix, score
    if best is None:
        raise failure
    return best


def ecc_on_pyramid(ref_levels, mov_levels, model, matrix, first_level=0, last_level=None):
    """Refine ``matrix`` (3x3, estimation-size coordinates) by ECC for ``model`` on pyramid
    levels ``first_level`` to ``last_level`` (default the finest); returns (matrix,
    correlation).

    Raises ValueError when ECC does not converge (uncorrelated or non-overlapping images).
    """
    correlation = -1.0
    n = len(ref_levels)
    for level in range(first_level, n if last_level is None else last_level + 1):
        factor = 2.0 ** (n - 1 - level)
        to_level = pixel_scaling(1.0 / factor)
        warp = to_level @ matrix @ np.linalg.inv(to_level)
        warp = warp / warp[2, 2]
        initial = (warp if model == 'homography' else warp[:2]).astype(np.float32)
        try:
            correlation, found = cv2.findTransformECC(ref_levels[level], mov_levels[level],
                                                      initial, _ECC_MOTION[model],
                                                      _ECC_CRITERIA, None, 3)
        except cv2.error as err:
            raise ValueError(f'the frames could not be aligned ({model} ECC did not converge: '
                             f'{str(err.err).strip()})') from None
        found = np.vstack([found, [0, 0, 1]]) if found.shape[0] == 2 else found
        matrix = np.linalg.inv(to_level) @ found.astype(np.float64) @ to_level
    return matrix / matrix[2, 2], float(correlation)


def refine_models(ref, mov, model, starts):
    """(model name, matrix, correlation) at estimation size for ``model`` from the grey
    copies ``ref``, ``mov`` at one exposure and candidate shifts ``starts``; for 'auto' each
    richer model replaces the simpler one only when the data support it (``supported``).

    Models are compared by ``common_correlation``, not by the correlations ECC reports, which
    each cover a different set of pixels (those that the model's own warp keeps inside)."""
    ref_levels, mov_levels = pyramid(ref), pyramid(mov)
    matrix = coarse_translation(ref_levels, mov_levels, starts)
    matrix, _ = ecc_on_pyramid(ref_levels, mov_levels, 'translation', matrix, first_level=1)
    chosen = 'translation'
    for richer in MODELS[1:MODELS.index(model) + 1 if model != 'auto' else len(MODELS)]:
        try:
            # The translation is already accurate: only the finest level adds the rest.
            candidate, _ = ecc_on_pyramid(ref_levels, mov_levels, richer, matrix,
                                          first_level=len(ref_levels) - 1)
        except ValueError:
            if model != 'auto':
                raise
            break
        if model == 'auto' and not supported(ref, mov, matrix, candidate,
                                             _PARAMETERS[richer] - _PARAMETERS[chosen]):
            break
        chosen, matrix = richer, candidate
    return chosen, matrix, common_correlation(ref, mov, [matrix])[0]


def supported(ref, mov, simpler, richer, extra):
    """Whether a richer model's estimate ``richer`` (3x3), with ``extra`` more parameters,
    explains the grey pair ``ref``, ``mov`` better than the estimate ``simpler``.

    It must move some corner by more than 0.15 px (else the simpler model is as good), remove
    at least 1 % of the uncorrelated part 1 - correlation per extra parameter (else the extra
    parameters fit noise or a moving subject such as drifting clouds: 1 % for the euclidean
    model's rotation, 5 % for the homography's five more), and stay within 2 % of the long side
    of the simpler model (camera shake does not bend a frame further).
    """
    height, width = ref.shape
    change = corner_displacement(np.linalg.solve(simpler, richer), width, height)
    if not 0.15 < change < 0.02 * max(width, height):
        return False
    simpler_score, richer_score = common_correlation(ref, mov, [simpler, richer])
    return richer_score - simpler_score >= 0.01 * extra * (1.0 - simpler_score)


def common_correlation(ref, mov, matrices):
    """Zero-mean normalised correlation of ``ref`` with ``mov`` warped by each of
    ``matrices`` (3x3, ref -> mov), all over the one set of pixels that every warp covers
    (the ECC criterion of Evangelidis & Psarakis 2008, made comparable across models)."""
    warped, covered = [], np.ones(ref.shape, bool)
    for matrix in matrices:
        image, valid = warp_grey(mov, matrix)
        warped.append(image)
        covered &= valid
    if covered.sum() < 2:
        return [-1.0] * len(matrices)
    target = ref[covered] - ref[covered].mean()
    scores = []
    for image in warped:
        sample = image[covered] - image[covered].mean()
        norm = np.sqrt(float(target @ target) * float(sample @ sample))
        scores.append(float(target @ sample) / norm if norm > 0 else -1.0)
    return scores


def warp_grey(img, matrix):
    """A grey float32 image sampled at ``matrix`` (3x3) x each pixel: (warped, bool valid)."""
    size = img.shape[::-1]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(img, matrix, size, flags=flags)
    valid = cv2.warpPerspective(np.ones_like(img), matrix, size, flags=flags) >= 1.0 - 1e-6
    return warped, valid


# --- geometry -------------------------------------------------------------------------------

def pixel_scaling(factor):
    """3x3 map from pixel coordinates of an image to those of its copy resized by ``factor``
    (pixel centres at integers: x' = factor (x + 0.5) - 0.5)."""
    return np.array([[factor, 0.0, 0.5 * factor - 0.5], [0.0, factor, 0.5 * factor - 0.5],
                     [0.0, 0.0, 1.0]])


def estimation_to_full(small_shape, full_shape):
    """3x3 map from pixel coordinates of the estimation copy (h, w) to full resolution."""
    sy, sx = full_shape[0] / small_shape[0], full_shape[1] / small_shape[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def apply_matrix(matrix, points):
    """(N, 2) float64 points mapped by a 3x3 ``matrix`` (projective division)."""
    mapped = np.c_[points, np.ones(len(points))] @ matrix.T
    return mapped[:, :2] / mapped[:, 2:]


def corner_displacement(matrix, width, height):
    """Largest displacement (pixels) of the four corners of a ``width`` x ``height`` image."""
    corners = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]], float)
    return float(np.max(np.hypot(*(apply_matrix(matrix, corners) - corners).T)))


def overlap_fraction(matrix, width, height, samples=64):
    """Fraction of the reference frame whose image under ``matrix`` lies inside the moving
    frame (checked on a ``samples`` x ``samples`` grid)."""
    xs, ys = np.meshgrid(np.linspace(0, width - 1, samples), np.linspace(0, height - 1, samples))
    mapped = apply_matrix(matrix, np.c_[xs.ravel(), ys.ravel()])
    inside = (mapped[:, 0] >= 0) & (mapped[:, 0] <= width - 1) & \
        (mapped[:, 1] >= 0) & (mapped[:, 1] <= height - 1)
    return float(inside.mean())
