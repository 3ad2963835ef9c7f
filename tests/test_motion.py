"""Moving-subject mask and deghosted y0 (exposure/motion.py; issue 18).

Synthetic scenes go through the gamma-2.2 preset response, so the IMFs are exact; the real-data
tests move one block of the bright frame of a real bracket by 1/6 of the width and score y0
against the real middle frame (``shared_data``, tests/conftest.py: $EXPINTERP_DATA or
../shared/data, else skipped).
"""
import json
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays

from expinterp_plugin.exposure.brackets import bracket_exposures
from expinterp_plugin.exposure.crf import preset_crf
from expinterp_plugin.exposure.estimate import estimate_crf
from expinterp_plugin.exposure.io import read_image, to_dtype
from expinterp_plugin.exposure.imf import imf_tables
from expinterp_plugin.exposure.motion import MotionMask, motion_mask, substitute
from expinterp_plugin.exposure.prepare import resize_max_side
from expinterp_plugin.exposure.y0 import Y0Mapper

# Registered tripod triplets (folder, dark, mid, bright) where a moved block shows as a ghost.
TRIPLETS = [('canon_s45_exposures', 7, 9, 12), ('debevec_memorial', 11, 13, 15)]


def radiance_scene(seed, shape=(240, 320)):
    """Smooth random radiance (float64 (H, W), about 0..1 with a few highlights)."""
    rng = np.random.default_rng(seed)
    scene = sum(cv2.GaussianBlur(rng.standard_normal(shape), (0, 0), s) * s ** 0.5
                for s in (2, 6, 18))
    radiance = np.exp(scene / scene.std())
    return radiance / np.percentile(radiance, 99)


def expose(radiance, gain, dtype=np.uint8):
    """RGB codes through the gamma-2.2 response (``preset_crf('gamma2.2')``), clipped."""
    peak = np.iinfo(dtype).max
    codes = np.rint(peak * np.clip(radiance * gain, 0, 1) ** (1 / 2.2))
    return np.repeat(codes.astype(dtype)[..., None], 3, axis=2)


def synthetic(dtype=np.uint8, seed=0):
    """(dark, bright, mapper) 4 EV apart, times 1/16 s and 1 s, exact CRF."""
    radiance = radiance_scene(seed)
    mapper = Y0Mapper(preset_crf('gamma2.2', np.iinfo(dtype).max + 1), 1 / 16, 1.0)
    return expose(radiance, 1 / 16, dtype), expose(radiance, 1.0, dtype), mapper


def move_block(img, rng, fraction=1 / 6):
    """A copy of ``img`` with a quarter-size block moved right by ``fraction`` of the width;
    returns (copy, bool mask of the block's new place)."""
    h, w = img.shape[:2]
    bh, bw, shift = h // 4, w // 4, int(w * fraction)
    top, left = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw - shift))
    moved, place = img.copy(), np.zeros((h, w), bool)
    moved[top:top + bh, left + shift:left + shift + bw] = img[top:top + bh, left:left + bw]
    place[top:top + bh, left + shift:left + shift + bw] = True
    return moved, place


# --- synthetic ------------------------------------------------------------------------------

@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
def test_static_pair_has_no_motion(dtype):
    dark, bright, mapper = synthetic(dtype)
    result = motion_mask(dark, bright, mapper)
    assert result.fraction == 0.0 and result.regions == 0
    assert result.mask.shape == dark.shape[:2] and result.mask.dtype == np.float32


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
def test_moved_block_is_found(dtype):
    dark, bright, mapper = synthetic(dtype)
    # A dark object (a twentieth of the radiance) that arrived in front of the scene.
    intruder = expose(radiance_scene(0) / 20, 1.0, dtype)
    h, w = dark.shape[:2]
    place = np.zeros((h, w), bool)
    place[60:140, 100:200] = True
    bright = np.where(place[..., None], intruder, bright)
    result = motion_mask(dark, bright, mapper)
    assert result.regions >= 1
    # Where the dark frame is in its toe it only bounds the scene from above: 77 % measured.
    assert result.mask[place].mean() > 0.7
    assert result.mask[~cv2.dilate(place.astype(np.uint8), np.ones((25, 25))).astype(bool)].max() \
        < 0.05
    assert 0 <= result.reference_clipped_fraction <= 1


def test_invalid_border_is_not_motion():
    dark, bright, mapper = synthetic()
    bright = bright.copy()
    bright[:, :20] = 255  # what a warp's repeated border may hold
    valid = np.ones(dark.shape[:2], bool)
    valid[:, :20] = False
    assert motion_mask(dark, bright, mapper, valid=valid).fraction == 0.0


def test_record_is_json():
    dark, bright, mapper = synthetic()
    record = json.loads(json.dumps(motion_mask(dark, bright, mapper, reference='bright')
                                   .to_record()))
    assert record == {'fraction': 0.0, 'reference': 'bright', 'reference_clipped_fraction': 0.0,
                      'regions': 0, 'misfit': 0.0, 'searched': True}
    with pytest.raises(ValueError, match='reference frame'):
        motion_mask(dark, bright, mapper, reference='middle')
    assert MotionMask.__dataclass_fields__.keys() >= {'mask', 'fraction'}


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, (5, 6, 3)), arrays(np.uint8, (5, 6, 3)), arrays(np.uint8, (5, 6)))
def test_substitute_blends_towards_the_reference_mapping(other, reference, weight):
    table = imf_tables(preset_crf('srgb'), [16.0])[0]
    w = weight[..., None] / 255.0
    expected = np.rint(np.clip((1 - w) * other + w * table[reference, np.arange(3)], 0, 255))
    out = substitute(other.copy(), reference, table, weight)
    assert out.dtype == np.uint8
    np.testing.assert_allclose(out, expected, atol=1)
    np.testing.assert_array_equal(out[weight == 0], other[weight == 0])


def deghosted_frame(dark, moved, mapper, mask):
    """The bright frame with its moving regions replaced by the dark frame mapped to its
    exposure, as the ``Pair`` does (``substitute``)."""
    table = imf_tables(mapper.crf, [mapper.t_bright / mapper.t_dark])[0]
    return substitute(moved.copy(), dark, table, np.rint(mask * 255).astype(np.uint8))


# --- real brackets, one moved block ---------------------------------------------------------

def psnr(pred01, gt):
    """PSNR (dB, 8-bit scale) of a [0, 1] prediction rounded to ``gt``'s codes."""
    scale = 257.0 if gt.dtype == np.uint16 else 1.0
    error = to_dtype(pred01, gt.dtype) / scale - gt / scale
    return 10 * np.log10(255.0 ** 2 / np.mean(error ** 2))


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
@pytest.mark.parametrize('folder, i, j, k', TRIPLETS)
def test_deghosted_block_costs_at_most_one_db(shared_data, folder, i, j, k, dtype):
    frames = bracket_exposures(shared_data('real-brackets') / folder)
    images = [resize_max_side(read_image(frames[n][0]), 512) for n in (i, j, k)]
    if dtype == np.uint16:
        images = [img.astype(np.uint16) * 257 for img in images]
    dark, mid, bright = images
    times = [frames[n][1] for n in (i, j, k)]
    mapper = Y0Mapper(estimate_crf([dark, bright], [times[0], times[2]]), times[0], times[2],
                      times[1])
    unmoved = psnr(mapper(dark, bright), mid)
    assert motion_mask(dark, bright, mapper).fraction < 0.01  # a static pair stays static
    rng = np.random.default_rng([11, i, k])
    for _ in range(2):
        moved, place = move_block(bright, rng)
        result = motion_mask(dark, moved, mapper)
        ghosted = psnr(mapper(dark, moved), mid)
        deghosted = psnr(mapper(dark, deghosted_frame(dark, moved, mapper, result.mask)), mid)
        assert ghosted < unmoved - 1.0  # the block made a ghost
        assert deghosted >= unmoved - 1.0, (result.to_record(), unmoved, ghosted, deghosted)


def test_a_response_that_does_not_explain_the_pair_searches_nothing():
    """Frames 4 EV apart under a mapper that claims 1 EV: most of the scene disagrees beyond the
    predicted band, so nothing is called motion (substituting through that response would paint
    its error in); a moved block under the right mapper is still found."""
    dark, bright, right = synthetic()
    wrong = Y0Mapper(preset_crf('gamma2.2'), 1 / 2, 1.0)
    result = motion_mask(dark, bright, wrong)
    assert not result.searched and result.misfit > 1.0
    assert result.fraction == 0.0 and not result.mask.any()
    assert result.to_record()['searched'] is False
    moved, _ = move_block(bright, np.random.default_rng(0))
    found = motion_mask(dark, moved, right)
    assert found.searched and found.misfit < 0.5 and found.fraction > 0
