"""Numeric core: smooth-step weights and the model-driven medium exposure y0."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from expinterp_plugin.exposure.crf import CRF, preset_crf
from expinterp_plugin.exposure.imf import imf_table
from expinterp_plugin.exposure.weights import (bright_weight, dark_weight, smooth_falloff,
                                               validate_thresholds)
from expinterp_plugin.exposure.y0 import (Y0Mapper, blend, check_pair, interpolate_exposure,
                                          validate_times)

CODES = np.arange(256, dtype=np.float64)
XI_L = st.floats(0, 55)
XI_U = st.floats(200, 255)
PRESET = st.sampled_from(['srgb', 'gamma2.2', 'linear'])
CRFS = {name: preset_crf(name) for name in ('srgb', 'gamma2.2', 'linear')}
CRFS16 = {name: preset_crf(name, 65536) for name in ('srgb', 'gamma2.2', 'linear')}


@st.composite
def exposure_times(draw):
    """(t_dark, t_bright, t_target): t_bright / t_dark up to 1000, target None (geometric mean),
    either end or in between."""
    t_dark = draw(st.floats(1e-4, 10))
    t_bright = t_dark * draw(st.floats(1.001, 1000))
    fraction = draw(st.floats(0, 1))
    t_target = draw(st.one_of(st.none(), st.just(t_dark), st.just(t_bright),
                              st.just(t_dark * (t_bright / t_dark)**fraction)))
    if t_target is not None:
        t_target = min(max(t_target, t_dark), t_bright)
    return t_dark, t_bright, t_target


def images(dtype, shape=(7, 9, 3)):
    return arrays(dtype, shape, elements=st.integers(0, np.iinfo(dtype).max))


def grid_pair():
    """Every (dark, bright) code pair once: dark varies along rows, bright along columns."""
    dark = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[:, None], 256, axis=1)[..., None],
                     3, axis=2)
    return dark, np.ascontiguousarray(dark.transpose(1, 0, 2))


# --- weights ------------------------------------------------------------------------------------

def test_smooth_falloff_values():
    np.testing.assert_allclose(smooth_falloff(np.array([-1.0, 0.0, 0.5, 1.0, 2.0])),
                               [1.0, 1.0, 0.5, 0.0, 0.0])
    h = np.linspace(0, 1, 101)
    assert np.all(np.diff(smooth_falloff(h)) <= 0)
    # Symmetric about its midpoint: s(h) + s(1 - h) = 1.
    np.testing.assert_allclose(smooth_falloff(h) + smooth_falloff(1 - h), 1.0, atol=1e-12)


@given(XI_U)
def test_bright_weight_is_one_below_200_and_zero_from_xi_u_on(xi_u):
    w = bright_weight(CODES, xi_u)
    assert np.all(w[CODES < 200] == 1) and np.all(w[CODES >= xi_u] == 0)
    assert np.all((w >= 0) & (w <= 1)) and np.all(np.diff(w) <= 0)
    if xi_u - 200 > 1e-6:
        mid = (200 + xi_u) / 2
        assert bright_weight(mid, xi_u) == pytest.approx(0.5)


@given(XI_L)
def test_dark_weight_is_zero_below_xi_l_and_one_from_55_on(xi_l):
    w = dark_weight(CODES, xi_l)
    assert np.all(w[CODES < xi_l] == 0) and np.all(w[CODES >= 55] == 1)
    assert np.all((w >= 0) & (w <= 1)) and np.all(np.diff(w) >= 0)
    if 55 - xi_l > 1e-6:
        assert dark_weight((55 + xi_l) / 2, xi_l) == pytest.approx(0.5)


@given(XI_L, XI_U, st.sampled_from([1.0, 257.0]))
def test_weights_are_continuous_at_their_knees(xi_l, xi_u, scale):
    eps = 1e-7 * scale
    if xi_u - 200 > 1e-3:
        for knee, value in ((200, 1.0), (xi_u, 0.0)):
            z = np.array([knee * scale - eps, knee * scale, knee * scale + eps])
            np.testing.assert_allclose(bright_weight(z, xi_u, scale), value, atol=1e-6)
    if 55 - xi_l > 1e-3:
        for knee, value in ((xi_l, 0.0), (55, 1.0)):
            z = np.array([knee * scale - eps, knee * scale, knee * scale + eps])
            np.testing.assert_allclose(dark_weight(z, xi_l, scale), value, atol=1e-6)


def test_weights_scale_to_sixteen_bit_codes():
    codes = np.arange(256) * 257.0
    np.testing.assert_array_equal(bright_weight(codes, 230, 257.0), bright_weight(CODES, 230))
    np.testing.assert_array_equal(dark_weight(codes, 20, 257.0), dark_weight(CODES, 20))


def test_degenerate_thresholds_give_step_weights():
    assert list(bright_weight(np.array([199.0, 200.0]), 200)) == [1.0, 0.0]
    assert list(dark_weight(np.array([54.0, 55.0]), 55)) == [0.0, 1.0]


@pytest.mark.parametrize('xi_l, xi_u, problem', [(-1, 250, 'xi_L'), (56, 250, 'xi_L'),
                                                 (10, 199, 'xi_U'), (10, 256, 'xi_U')])
def test_thresholds_outside_their_ranges_are_refused(xi_l, xi_u, problem):
    with pytest.raises(ValueError, match=problem):
        validate_thresholds(xi_l, xi_u)
    with pytest.raises(ValueError, match=problem):
        Y0Mapper(CRFS['srgb'], 1.0, 16.0, xi_l=xi_l, xi_u=xi_u)


# --- y0: range and table ------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(images(np.uint8), images(np.uint8), PRESET, exposure_times(), XI_L, XI_U)
def test_y0_of_any_8_bit_pair_is_finite_float32_in_0_1(dark, bright, name, times, xi_l, xi_u):
    y0 = Y0Mapper(CRFS[name], *times, xi_l=xi_l, xi_u=xi_u)(dark, bright)
    assert y0.dtype == np.float32 and y0.shape == dark.shape
    assert np.all(np.isfinite(y0)) and y0.min() >= 0 and y0.max() <= 1


@settings(max_examples=5, deadline=None)
@given(images(np.uint8), images(np.uint8), exposure_times(), XI_L, XI_U)
def test_y0_with_the_sigmoid_imf_is_finite_in_0_1(dark, bright, times, xi_l, xi_u):
    y0 = Y0Mapper(CRFS['srgb'], *times, xi_l=xi_l, xi_u=xi_u, imf='sigmoid')(dark, bright)
    assert np.all(np.isfinite(y0)) and y0.min() >= 0 and y0.max() <= 1


@settings(max_examples=25, deadline=None)
@given(images(np.uint16), images(np.uint16), PRESET, exposure_times(), XI_L, XI_U)
def test_y0_of_any_16_bit_pair_is_finite_float32_in_0_1(dark, bright, name, times, xi_l, xi_u):
    y0 = Y0Mapper(CRFS16[name], *times, xi_l=xi_l, xi_u=xi_u)(dark, bright)
    assert y0.dtype == np.float32 and y0.shape == dark.shape
    assert np.all(np.isfinite(y0)) and y0.min() >= 0 and y0.max() <= 1


@settings(max_examples=30, deadline=None)
@given(images(np.uint8, (16, 24, 3)), images(np.uint8, (16, 24, 3)), PRESET, exposure_times(),
       XI_L, XI_U)
def test_8_bit_table_gather_equals_the_direct_formula(dark, bright, name, times, xi_l, xi_u):
    mapper = Y0Mapper(CRFS[name], *times, xi_l=xi_l, xi_u=xi_u)
    channels = np.arange(3)
    direct = blend(bright.astype(np.float64), dark.astype(np.float64),
                   mapper.lut_bright[bright, channels], mapper.lut_dark[dark, channels],
                   xi_l, xi_u, 1.0, 255.0) / 255.0
    np.testing.assert_allclose(mapper(dark, bright), direct, rtol=0, atol=1e-6)


def test_gather_handles_images_wider_than_one_block_and_non_contiguous_views():
    rng = np.random.default_rng(3)
    dark = rng.integers(0, 256, (5, 40000, 3), dtype=np.uint8)
    bright = rng.integers(0, 256, (5, 40000, 3), dtype=np.uint8)
    mapper = Y0Mapper(CRFS['srgb'], 1.0, 16.0)
    reference = mapper(dark.copy(), bright.copy())
    tall = mapper(dark.reshape(200, 1000, 3), bright.reshape(200, 1000, 3))
    np.testing.assert_array_equal(tall.reshape(dark.shape), reference)
    flipped = mapper(dark[::-1, ::-2], bright[::-1, ::-2])
    np.testing.assert_array_equal(flipped, reference[::-1, ::-2])


def test_16_bit_y0_of_codes_times_257_matches_the_8_bit_y0():
    dark8, bright8 = grid_pair()
    y8 = Y0Mapper(CRFS['srgb'], 1 / 64, 1 / 4, xi_l=20, xi_u=230)(dark8, bright8)
    to16 = np.uint16(257)
    y16 = Y0Mapper(CRFS16['srgb'], 1 / 64, 1 / 4, xi_l=20, xi_u=230)(dark8 * to16, bright8 * to16)
    # Same weights (thresholds scaled by 257); the IMFs differ only by table resolution.
    assert np.abs(y16 - y8).max() < 1.5 / 255


# --- y0: behaviour ------------------------------------------------------------------------------

def grid_y0(name, times, xi_l, xi_u):
    """y0 over every (dark, bright) code pair, (256 dark, 256 bright, 3) on the 8-bit scale."""
    return 255.0 * Y0Mapper(CRFS[name], *times, xi_l=xi_l, xi_u=xi_u)(*grid_pair())


@settings(max_examples=30, deadline=None)
@given(PRESET, exposure_times(), XI_L, XI_U)
def test_y0_rises_with_the_bright_input_where_the_dark_weight_is_zero(name, times, xi_l, xi_u):
    y0 = grid_y0(name, times, xi_l, xi_u)
    dark_ignored = dark_weight(CODES, xi_l) == 0
    bright_used = bright_weight(CODES, xi_u) > 0
    rows = y0[dark_ignored][:, bright_used]
    assert np.all(np.diff(rows, axis=1) >= -1e-4)


@settings(max_examples=30, deadline=None)
@given(PRESET, exposure_times(), XI_L, XI_U)
def test_y0_rises_with_the_dark_input_where_the_bright_weight_is_zero(name, times, xi_l, xi_u):
    y0 = grid_y0(name, times, xi_l, xi_u)
    bright_ignored = bright_weight(CODES, xi_u) == 0
    dark_used = dark_weight(CODES, xi_l) > 0
    columns = y0[dark_used][:, bright_ignored]
    assert np.all(np.diff(columns, axis=0) >= -1e-4)


@settings(max_examples=40, deadline=None)
@given(PRESET, exposure_times(), XI_L, XI_U)
def test_y0_rises_along_consistent_pairs(name, times, xi_l, xi_u):
    """bright = IMF(dark) under the same CRF: a scene brightening at both exposures."""
    t_dark, t_bright, t_target = times
    crf = CRFS[name]
    bright_codes = np.rint(imf_table(crf, t_bright / t_dark)).astype(np.uint8)
    dark = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    y0 = Y0Mapper(crf, *times, xi_l=xi_l, xi_u=xi_u)(dark, bright_codes[None])
    assert np.all(np.diff(y0[0], axis=0) >= -1e-6)


@settings(max_examples=30, deadline=None)
@given(PRESET, exposure_times(), XI_L, XI_U)
def test_where_both_weights_vanish_y0_maps_the_input_nearer_mid_grey(name, times, xi_l, xi_u):
    mapper = Y0Mapper(CRFS[name], *times, xi_l=xi_l, xi_u=xi_u)
    y0 = 255.0 * mapper(*grid_pair())
    dead = (dark_weight(CODES, xi_l)[:, None] == 0) & (bright_weight(CODES, xi_u)[None, :] == 0)
    assert dead.any()  # the bright input's top code always has weight 0
    dark_codes, bright_codes = np.nonzero(dead)
    bright_nearer = np.abs(bright_codes - 127.5) <= np.abs(dark_codes - 127.5)
    expected = np.where(bright_nearer[:, None], mapper.lut_bright[bright_codes],
                        mapper.lut_dark[dark_codes])
    assert np.all(np.isfinite(y0))
    np.testing.assert_allclose(y0[dark_codes, bright_codes], expected, atol=1e-4)


def test_y0_uses_only_the_reliable_input_away_from_the_blend_zones():
    mapper = Y0Mapper(CRFS['srgb'], 1 / 64, 1 / 4)
    y0 = 255.0 * mapper(*grid_pair())
    # Bright at most 199 and dark below xi_L: the bright input's mapping alone.
    np.testing.assert_allclose(y0[5, 150], mapper.lut_bright[150], atol=1e-4)
    # Bright saturated and dark from 55 up: the dark input's mapping alone.
    np.testing.assert_allclose(y0[80, 255], mapper.lut_dark[80], atol=1e-4)
    # Both fully reliable: the plain mean of the two mappings.
    np.testing.assert_allclose(y0[60, 190], (mapper.lut_bright[190] + mapper.lut_dark[60]) / 2,
                               atol=1e-4)


def test_y0_at_the_dark_time_keeps_well_exposed_dark_codes():
    """Target = t_dark: the dark IMF is the identity, and it alone is used where the bright
    input saturates."""
    dark, bright = grid_pair()
    y0 = 255.0 * Y0Mapper(CRFS['gamma2.2'], 1.0, 16.0, t_target=1.0)(dark, bright)
    np.testing.assert_allclose(y0[55:, 255], np.repeat(CODES[55:, None], 3, axis=1), atol=1e-4)


def test_interpolate_exposure_recovers_the_middle_of_a_noise_free_gamma_bracket():
    rng = np.random.default_rng(0)
    light = np.exp(rng.uniform(np.log(1e-3), 0, (48, 64, 3)))  # about 10 stops
    t = (1 / 64, 1 / 16, 1 / 4)
    dark, mid, bright = (np.rint(255 * np.clip(light * ti * 4, 0, 1)**(1 / 2.2)).astype(np.uint8)
                         for ti in t)
    y0 = interpolate_exposure(dark, bright, t[0], t[2], crf='gamma2.2')
    assert y0.dtype == np.float32 and y0.shape == dark.shape
    psnr = -10 * math.log10(np.mean((y0 - mid / 255.0)**2))
    # Measured 45.5 dB: only quantisation of the inputs and of the mid frame remains.
    assert psnr > 42
    estimated = interpolate_exposure(dark, bright, t[0], t[2])
    assert -10 * math.log10(np.mean((estimated - mid / 255.0)**2)) > 36


# --- y0: bad input ------------------------------------------------------------------------------

def test_times_are_validated_with_clear_messages():
    assert validate_times(1.0, 16.0) == pytest.approx(4.0)
    assert validate_times(1.0, 16.0, 2.0) == 2.0
    # Times straight from numpy arrays (integer or float32) are numbers like any other.
    assert validate_times(np.int64(1), np.int64(16)) == pytest.approx(4.0)
    assert validate_times(np.float32(0.25), np.float32(4.0)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match='swapped'):
        validate_times(16.0, 1.0)
    with pytest.raises(ValueError, match='swapped'):
        validate_times(2.0, 2.0)
    for bad in (0.0, -1.0, float('nan'), float('inf'), '1'):
        with pytest.raises(ValueError, match='dark input must be positive'):
            validate_times(bad, 16.0)
        with pytest.raises(ValueError, match='bright input must be positive'):
            validate_times(1.0, bad)
    for target in (0.5, 17.0):
        with pytest.raises(ValueError, match=rf'target time {target} outside \[1.0, 16.0\]'):
            validate_times(1.0, 16.0, target)


def test_mapper_refuses_mismatched_images():
    mapper = Y0Mapper(CRFS['srgb'], 1.0, 16.0)
    a = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match='same shape and dtype'):
        mapper(a, np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match='256-level CRF needs uint8'):
        mapper(a.astype(np.uint16), a.astype(np.uint16))


def u8(shape, value=0):
    return np.full(shape, value, np.uint8)


@pytest.mark.parametrize('dark, bright, problem', [
    (u8((4, 4, 3)), u8((4, 6, 3), 1), r'low\.png is 4x4 but high\.png is 6x4'),
    (u8((4, 4)), u8((4, 4, 3), 1), r'low\.png: need an \(H, W, 3\)'),
    (u8((4, 4, 3)), u8((4, 4, 4), 1), r'high\.png: need an \(H, W, 3\)'),
    (u8((4, 4, 3)), np.ones((4, 4, 3), np.uint16), 'mixed bit depths'),
    (np.zeros((4, 4, 3), np.float32), np.ones((4, 4, 3), np.float32), '8- or 16-bit'),
    (u8((4, 4, 3), 200), u8((4, 4, 3), 20), r'low\.png \(mean 200\.0\) is brighter than high\.png'),
])
def test_pair_check_names_the_files_and_the_problem(dark, bright, problem):
    with pytest.raises(ValueError, match=problem):
        check_pair(dark, bright, 'low.png', 'high.png')


def test_interpolate_exposure_refuses_bad_pairs_times_and_crfs():
    dark, bright = np.full((4, 4, 3), 20, np.uint8), np.full((4, 4, 3), 200, np.uint8)
    with pytest.raises(ValueError, match='swapped'):
        interpolate_exposure(bright, dark, 1.0, 16.0, crf='srgb')
    with pytest.raises(ValueError, match='swapped'):
        interpolate_exposure(dark, bright, 16.0, 1.0, crf='srgb')
    with pytest.raises(ValueError, match='outside'):
        interpolate_exposure(dark, bright, 1.0, 16.0, crf='srgb', t_target=32.0)
    with pytest.raises(ValueError, match='65536 levels but the images are uint8'):
        interpolate_exposure(dark, bright, 1.0, 16.0, crf=CRFS16['srgb'])
    with pytest.raises(ValueError, match='linear, sigmoid'):
        interpolate_exposure(dark, bright, 1.0, 16.0, crf='srgb', imf='spline')


def test_crf_channel_order_is_kept():
    """A CRF whose channels differ maps each image channel with its own column."""
    g = np.stack([preset_crf(n).g[:, 0] for n in ('srgb', 'gamma2.2', 'linear')], axis=1)
    crf = CRF(g, 'mixed')
    dark, bright = grid_pair()
    y0 = Y0Mapper(crf, 1.0, 16.0)(dark, bright)
    for c, name in enumerate(('srgb', 'gamma2.2', 'linear')):
        single = Y0Mapper(CRFS[name], 1.0, 16.0)(dark, bright)
        np.testing.assert_array_equal(y0[..., c], single[..., c])
