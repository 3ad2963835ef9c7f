"""Mertens exposure fusion through OpenCV: channel order, weights, dtypes and validation."""
import numpy as np
import pytest

from expinterp_plugin.exposure.fusion import mertens_fuse, mertens_fuse_float
from expinterp_plugin.exposure.io import to_dtype


def textured_pair():
    """Two images with the same texture: in channel 0 (R) of one, channel 2 (B) of the other.

    Saturation and well-exposedness are symmetric in the channels, so only the contrast
    measure (Laplacian of grey = 0.299 R + 0.587 G + 0.114 B) tells them apart.
    """
    texture = np.random.default_rng(0).integers(0, 120, (64, 64)).astype(np.uint8)
    in_r = np.full((64, 64, 3), 128, np.uint8)
    in_b = in_r.copy()
    in_r[..., 0] = 68 + texture
    in_b[..., 2] = 68 + texture
    return in_r, in_b


def test_channel_0_is_treated_as_red():
    """Fed RGB as it is, the red-textured image wins (grey weight 0.299 vs 0.114 for blue)."""
    fused = mertens_fuse(list(textured_pair())).astype(float)
    assert fused[..., 0].std() > 2 * fused[..., 2].std()
    # a wrapper that flipped RGB to BGR for OpenCV (and back) would favour blue instead
    as_bgr = mertens_fuse_float([img[..., ::-1] for img in textured_pair()])[..., ::-1]
    assert as_bgr[..., 0].std() < as_bgr[..., 2].std() / 2


def test_identical_exposures_fuse_to_themselves():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    assert np.abs(mertens_fuse([img, img, img]).astype(int) - img).max() <= 1
    img16 = rng.integers(0, 65536, (40, 56, 3), dtype=np.uint16)
    assert np.abs(mertens_fuse([img16, img16]).astype(int) - img16).max() <= 1


def test_exposure_weight_favours_the_well_exposed_image():
    """Same texture and colour spread at mean 0.5 and at mean 0.8: with the paper's
    well-exposedness weight (OpenCV's default is 0) the fused mean stays near 0.5."""
    rng = np.random.default_rng(2)
    detail = rng.integers(-25, 26, (64, 64, 3))
    mid, bright = (np.clip(level + detail, 0, 255).astype(np.uint8) for level in (128, 204))
    fused = mertens_fuse([mid, bright]).astype(float)
    assert abs(fused.mean() - 128) < 12 < abs(fused.mean() - 166)


def test_uint16_input_is_read_on_its_own_scale():
    rng = np.random.default_rng(3)
    images8 = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(3)]
    images16 = [img.astype(np.uint16) * 257 for img in images8]
    fused8, fused16 = mertens_fuse(images8), mertens_fuse(images16)
    assert fused16.dtype == np.uint16 and fused8.dtype == np.uint8
    assert np.abs(fused16 / 257.0 - fused8).max() <= 1.0


def test_overshoot_is_clipped_and_rounded_to_the_input_dtype():
    edge = np.zeros((64, 64, 3), np.uint8)
    edge[:, 32:] = 255
    stripes = np.full((64, 64, 3), 128, np.uint8)
    stripes[:, :32] = 0
    stripes[::2] = 255
    raw = mertens_fuse_float([edge, stripes])
    assert raw.min() < 0  # the Laplacian-pyramid blend undershoots here
    fused = mertens_fuse([edge, stripes])
    np.testing.assert_array_equal(fused, to_dtype(np.clip(raw, 0, 1), np.uint8))


@pytest.mark.parametrize('images, message', [
    ([np.zeros((8, 8, 3), np.uint8)], 'at least 2 images'),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)], 'image 1 has shape'),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint16)], 'image 1 has dtype'),
    ([np.zeros((8, 8, 3), np.float32)] * 2, 'not supported'),
    ([np.zeros((8, 8), np.uint8)] * 2, 'RGB HxWx3'),
])
def test_bad_input_is_rejected_with_a_clear_message(images, message):
    with pytest.raises(ValueError, match=message):
        mertens_fuse(images)
