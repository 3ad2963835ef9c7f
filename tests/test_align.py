"""Exposure-invariant global alignment (exposure/align.py; issue 18).

Synthetic tests need nothing but numpy; the real-data tests (``shared_data``, tests/conftest.py:
$EXPINTERP_DATA or ../shared/data, else skipped) move frames of the real brackets by seeded
similarity warps, made at full resolution before the frames are reduced to 512 px as a camera
would see them, and score y0 against the real middle frame.
"""
import json
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expinterp_plugin.exposure.align import (ALIGN_CHOICES, Alignment, align_pair,
                                             estimate_alignment, overlap_fraction)
from expinterp_plugin.exposure.brackets import bracket_exposures
from expinterp_plugin.exposure.estimate import estimate_crf
from expinterp_plugin.exposure.io import read_image, to_dtype
from expinterp_plugin.exposure.prepare import resize_max_side
from expinterp_plugin.exposure.y0 import Y0Mapper

# Tripod triplets whose frames are registered (manifest: residual shift < 0.1-0.2 px), as
# (folder, dark, mid, bright) indices in increasing exposure time.
STATIC_TRIPLETS = [('canon_s45_exposures', 7, 9, 12), ('debevec_memorial', 8, 10, 12)]


def radiance_scene(seed, shape=(240, 320)):
    """Smooth random log radiance texture (float64, (H, W)), several octaves."""
    rng = np.random.default_rng(seed)
    scene = np.zeros(shape)
    for sigma in (2, 6, 18):
        scene += cv2.GaussianBlur(rng.standard_normal(shape), (0, 0), sigma) * sigma ** 0.5
    return np.exp(scene / scene.std())


def expose(radiance, gain, dtype=np.uint8):
    """RGB codes of ``radiance`` x ``gain`` through a gamma-2.2 response, clipped."""
    peak = np.iinfo(dtype).max
    codes = np.clip(np.rint(peak * np.clip(radiance * gain, 0, 1) ** (1 / 2.2)), 0, peak)
    return np.repeat(codes.astype(dtype)[..., None], 3, axis=2)


def shifted(radiance, dx, dy):
    """``radiance`` sampled at (x + dx, y + dy): the camera moved by (-dx, -dy)."""
    matrix = np.float64([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(radiance, matrix, radiance.shape[::-1],
                          flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def synthetic_pair(dx, dy, seed=0, dtype=np.uint8):
    """(dark, bright) 4 EV apart, the bright frame's content at (x + dx, y + dy)."""
    radiance = radiance_scene(seed)
    scale = 1 / np.percentile(radiance, 99.5)
    return expose(radiance, scale / 16, dtype), expose(shifted(radiance, dx, dy), scale, dtype)


# --- synthetic ------------------------------------------------------------------------------

@settings(max_examples=8, deadline=None)
@given(st.floats(-6, 6), st.floats(-6, 6), st.sampled_from([np.uint8, np.uint16]))
def test_subpixel_translation_is_recovered(dx, dy, dtype):
    dark, bright = synthetic_pair(dx, dy, dtype=dtype)
    alignment = estimate_alignment(dark, bright, 'translation', static_px=0.0)
    # The matrix maps reference (dark) pixels to the moving (bright) frame's: the bright frame
    # shows radiance(x + dx) at x, so reference pixel x is found at x - dx.
    np.testing.assert_allclose(alignment.matrix[:2, 2], [-dx, -dy], atol=0.1)
    np.testing.assert_allclose(alignment.matrix[:2, :2], np.eye(2))


def test_auto_keeps_a_translation_a_translation():
    alignment = estimate_alignment(*synthetic_pair(3.3, -1.7), 'auto')
    assert alignment.model == 'translation'
    np.testing.assert_allclose(alignment.matrix[:2, 2], [-3.3, 1.7], atol=0.1)


def test_static_pair_is_left_untouched():
    dark, bright = synthetic_pair(0.0, 0.0)
    alignment, warped, valid = align_pair(dark, bright)
    assert alignment.model == 'none' and not alignment.moved
    assert warped is bright
    assert valid.shape == dark.shape[:2] and valid.all()


def test_warp_keeps_dtype_and_marks_missing_border():
    dark, bright = synthetic_pair(4.0, 0.0, dtype=np.uint16)
    alignment, warped, valid = align_pair(dark, bright, 'translation')
    assert warped.dtype == np.uint16 and warped.shape == bright.shape
    assert valid.dtype == bool
    # Reference pixel x is found at x - 4 in the moving frame: the first 4 columns are missing.
    assert not valid[:, :4].any() and valid[:, 6:].all()


def test_different_scenes_are_refused():
    dark, _ = synthetic_pair(0, 0, seed=1)
    _, bright = synthetic_pair(0, 0, seed=2)
    with pytest.raises(ValueError, match='do not match|could not be aligned'):
        estimate_alignment(dark, bright)


def test_overlap_fraction():
    shift = np.array([[1.0, 0, 60], [0, 1, 0], [0, 0, 1]])
    assert overlap_fraction(np.eye(3), 200, 100) == 1.0
    assert abs(overlap_fraction(shift, 200, 100) - 0.7) < 0.03


def test_bad_arguments():
    dark, bright = synthetic_pair(0, 0)
    with pytest.raises(ValueError, match='alignment model'):
        estimate_alignment(dark, bright, 'affine')
    with pytest.raises(ValueError, match='cannot align'):
        estimate_alignment(dark, bright[:-1])
    assert ALIGN_CHOICES[0] == 'auto'


def test_record_is_json():
    alignment = estimate_alignment(*synthetic_pair(2.5, 1.0), 'translation')
    record = json.loads(json.dumps(alignment.to_record()))
    assert record['model'] == 'translation' and record['direction'] == 'reference->moving'
    assert abs(record['displacement_px'] - np.hypot(2.5, 1.0)) < 0.1
    assert isinstance(alignment, Alignment)


# --- real brackets, seeded camera motion ----------------------------------------------------

def similarity(width, height, rng):
    """Seeded similarity warp (3x3, output -> source pixels): shift <= 2 % of the width,
    rotation <= 1 degree about the centre."""
    dx, dy = rng.uniform(-0.02, 0.02, 2) * width
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2),
                                     rng.uniform(-1, 1), 1.0)
    matrix[:, 2] += (dx, dy)
    return np.vstack([matrix, [0, 0, 1]])


def load_triplet(brackets, folder, i, j, k, dtype):
    """Full-resolution (dark, mid, bright) in ``dtype`` and their exposure times."""
    frames = bracket_exposures(brackets / folder)
    images = [read_image(frames[n][0]) for n in (i, j, k)]
    if dtype == np.uint16:
        images = [img.astype(np.uint16) * 257 for img in images]
    return images, [frames[n][1] for n in (i, j, k)]


def psnr(pred01, gt, mask):
    """PSNR (dB, 8-bit scale) of a [0, 1] prediction rounded to ``gt``'s codes, over ``mask``."""
    scale = 257.0 if gt.dtype == np.uint16 else 1.0
    error = (to_dtype(pred01, gt.dtype) / scale - gt / scale)[mask]
    return 10 * np.log10(255.0 ** 2 / np.mean(error ** 2))


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
@pytest.mark.parametrize('folder, i, j, k', STATIC_TRIPLETS)
def test_aligned_y0_matches_the_unmoved_pair(shared_data, folder, i, j, k, dtype):
    (dark, mid, bright), (t_dark, t_mid, t_bright) = load_triplet(
        shared_data('real-brackets'), folder, i, j, k, dtype)
    height, width = dark.shape[:2]
    dark_s, mid_s, bright_s = (resize_max_side(img, 512) for img in (dark, mid, bright))
    mapper = Y0Mapper(estimate_crf([dark_s, bright_s], [t_dark, t_bright]), t_dark, t_bright,
                      t_mid)
    rng = np.random.default_rng([7, i, k, np.dtype(dtype).itemsize])
    for _ in range(2):
        moved = cv2.warpAffine(bright, similarity(width, height, rng)[:2], (width, height),
                               flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        moved_s = resize_max_side(moved, 512)
        alignment, warped, valid = align_pair(dark_s, moved_s)
        assert alignment.model in ('translation', 'euclidean', 'homography')
        # Scored where the moved frame has data (the common area that --crop keeps).
        common = cv2.erode(valid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        unmoved = psnr(mapper(dark_s, bright_s), mid_s, common)
        misaligned = psnr(mapper(dark_s, moved_s), mid_s, common)
        aligned = psnr(mapper(dark_s, warped), mid_s, common)
        assert aligned >= unmoved - 0.5, (alignment.to_record(), unmoved, aligned)
        assert misaligned < unmoved - 2.0  # the warp was a real test


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
@pytest.mark.parametrize('folder, i, j, k', STATIC_TRIPLETS)
def test_static_real_pair_is_bit_identical(shared_data, folder, i, j, k, dtype):
    (dark, _, bright), _ = load_triplet(shared_data('real-brackets'), folder, i, j, k, dtype)
    alignment, warped, _ = align_pair(dark, bright)
    assert alignment.model == 'none', alignment.to_record()
    assert warped is bright
